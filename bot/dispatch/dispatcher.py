"""One dispatcher: event in, the right handler run, immediate replies out.

Order of work for every event: refuse oversized text; drop chatter — a message not
addressed to the bot (no DM, no mention, so no command) that no message handler wants, as
each handler's ``when`` test decides from the message and its channel's group alone —
without opening the database; drop a platform retry of an event already handled
(``seen_events``, shared by every worker); find the person; pick the handler; run it in
one transaction. Given the event's inbox row (``inbox_row``), that transaction also keeps
the immediate replies there (:func:`bot.inbox.keep_replies`): a restart before they have
gone sends them, rather than losing them. A platform without the inbox, whose events come
back from its history after a restart (Discord), keeps them with the event's
``seen_events`` row instead (:meth:`Dispatcher.handle_keeping`). A handler raising :class:`~bot.errors.BadInput` (or
anything else) rolls the whole transaction back — nothing changes — and the sender gets
a polite private explanation.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, null, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.base import conflict_insert, rows_affected, session_dialect
from bot.dispatch.context import Context
from bot.dispatch.registry import NOT_HANDLED, HandlerSpec
from bot.errors import BadInput, NotFound
from bot.events import AnyEvent, ButtonPressed, CommandInvoked, MemberJoined, MessagePosted
from bot.inbox import EVENT_ID_CHARS, keep_replies
from bot.models.messaging import SeenEvent
from bot.models.network import Person
from bot.network import store
from bot.replies import Message, Outgoing, Respond, replies_from_json, replies_to_json
from knowledge.ingest import files_read_ahead

if TYPE_CHECKING:
    from bot.app import PeerBot

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 4000


def split_command(text: str) -> tuple[str, str]:
    """``"strengths  Oak Primary"`` → ``("strengths", "Oak Primary")``."""
    stripped = text.strip()
    if stripped.startswith(("/", "!")):
        stripped = stripped[1:]
    head, _, rest = stripped.partition(" ")
    return head.strip().lower().rstrip("?:,."), rest.strip()


def _private(text: str) -> list[Outgoing]:
    return [Outgoing(Respond(private=True), Message(text=text))]


@dataclass(frozen=True, slots=True)
class Handled:
    """What handling an event came to (see :meth:`Dispatcher.handle_keeping`)."""

    replies: list[Outgoing]
    # A repeat of an event handled before: ``replies`` are those its handling kept, which
    # may have gone already (the process may have died before or after sending them).
    again: bool = False


class Dispatcher:
    def __init__(self, bot: PeerBot) -> None:
        self.bot = bot

    @property
    def registry(self) -> Any:
        return self.bot.registry

    async def handle(self, event: AnyEvent, *, inbox_row: int | None = None) -> list[Outgoing]:
        return (await self._handle(event, inbox_row=inbox_row, keep=False)).replies

    async def handle_keeping(self, event: AnyEvent) -> Handled:
        """:meth:`handle`, keeping the immediate replies with the event's ``seen_events`` row,
        in the handling's transaction, until :func:`replies_gone` lets go of them. A repeat
        of the event (read back from history after a restart) returns the replies still
        kept, marked ``again``: the adapter sends each one it cannot find already sent."""
        return await self._handle(event, inbox_row=None, keep=True)

    async def _handle(self, event: AnyEvent, *, inbox_row: int | None, keep: bool) -> Handled:
        text = getattr(event, "text", "")
        if log.isEnabledFor(logging.DEBUG):
            # Message text only when the network has explicitly asked for it ([privacy] log_message_text).
            shown = f": {text[:200]!r}" if text and self.bot.config.settings.privacy.log_message_text else ""
            log.debug("%s from %s%s", type(event).__name__, event.sender.platform, shown)
        if len(text) > MAX_TEXT_CHARS:
            return Handled(
                _private(
                    f"That message is too long for me ({len(text):,} characters). "
                    f"Please send something shorter (up to {MAX_TEXT_CHARS:,} characters) — nothing was saved."
                )
            )
        group = self.bot.config.channel_groups(event.place.platform).get(event.place.channel_id)
        wanting: list[HandlerSpec] = []
        ctx: Context | None = None
        try:
            if isinstance(event, MessagePosted):
                wanting = self.registry.wanting(event, group)
                if not wanting and not _addressed(event):
                    return Handled([])  # chatter: nobody wants it, and nothing was opened for it
            # An event's files are read before its transaction opens, in a worker thread.
            files = [(f.name, f.data) for f in getattr(event, "files", ())]
            max_bytes = self.bot.config.settings.knowledge.max_file_bytes
            async with files_read_ahead(files, max_bytes=max_bytes), self.bot.db.session() as session:
                if not await self._first_delivery(session, event):
                    log.info("dropped a repeat of %s %s", event.sender.platform, event.event_id)
                    return Handled(await _kept(session, event) if keep else [], again=True)
                person = await store.person_by_platform_id(
                    session, self.bot.network_id, event.sender.platform, event.sender.user_id
                )
                if person is None:
                    told = await self._stranger(session, event, group)
                    await _keep(session, event, told, inbox_row=inbox_row, keep=keep)
                    return Handled(told)
                ctx = Context(bot=self.bot, event=event, session=session, person=person, group=group)
                await self._route(ctx, wanting)
                await _keep(session, event, ctx.replies, inbox_row=inbox_row, keep=keep)
        except NotFound as exc:
            return Handled(_private(_sentence(str(exc))))
        except BadInput as exc:
            return Handled(_private(_sentence(str(exc)) + " Nothing was changed."))
        except Exception:
            log.exception("handler failed for a %s from %s", type(event).__name__, event.sender.platform)
            return Handled(
                _private(
                    "Sorry — something went wrong on my side and nothing was changed. "
                    "Please try again in a minute; if it keeps happening, tell your network convenor."
                )
            )
        # Anything queued — by the handler or by hooks it set off — can go now.
        self.bot.deliverer.wake()
        ctx.run_after_commit()
        return Handled(ctx.replies)

    async def takes_files(self, event: AnyEvent) -> bool:
        """Whether the files shared with ``event`` are worth fetching: it comes from someone
        in the network and is not a repeat of an event already handled. A stranger is told
        they are not on the list, and a repeat gets the replies kept for it, whatever they
        shared — so an adapter need not download (nor the core read) a stranger's files, or
        a platform's second delivery of them. A read only: the handling decides again."""
        async with self.bot.db.reading() as session:
            if event.event_id:
                q = select(SeenEvent.event_id).where(
                    SeenEvent.platform == event.sender.platform,
                    SeenEvent.event_id == event.event_id[:EVENT_ID_CHARS],
                )
                if (await session.execute(q)).first() is not None:
                    return False
            person = await store.person_by_platform_id(
                session, self.bot.network_id, event.sender.platform, event.sender.user_id
            )
            return person is not None

    def wants(self, event: AnyEvent) -> bool:
        """Whether :meth:`handle` would do anything with ``event``: ``False`` only for chatter
        (see the module's docstring), which an adapter need not keep or queue."""
        if not isinstance(event, MessagePosted) or _addressed(event) or len(event.text) > MAX_TEXT_CHARS:
            return True
        group = self.bot.config.channel_groups(event.place.platform).get(event.place.channel_id)
        return bool(self.registry.wanting(event, group))

    async def _first_delivery(self, session: AsyncSession, event: AnyEvent) -> bool:
        if not event.event_id:
            return True
        insert = conflict_insert(session_dialect(session))
        stmt = (
            insert(SeenEvent)
            .values(
                platform=event.sender.platform, event_id=event.event_id[:EVENT_ID_CHARS], seen_at=self.bot.clock.now()
            )
            .on_conflict_do_nothing(index_elements=["platform", "event_id"])
        )
        result = await session.execute(stmt)
        return rows_affected(result) != 0  # -1 (the driver cannot say) counts as inserted

    async def _stranger(self, session: AsyncSession, event: AnyEvent, group: str | None) -> list[Outgoing]:
        """Someone not in the network: a polite explanation, never any data.

        Told whenever they address the bot (a DM, a mention, a command); a message not
        addressed to it that a handler wanted (a question in a group's channel, a reply in a
        thread there) is explained once a day; chatter never reaches here."""
        unaddressed = isinstance(event, MessagePosted) and not _addressed(event)
        if unaddressed and group is None:
            return []  # not addressed to the bot, in a channel it does not serve
        if unaddressed:
            # Posting in a group's channel: explained once a day, not after every message.
            today = self.bot.clock.now().astimezone(self.bot.config.zone).date().isoformat()
            marker = replace(event, event_id=f"stranger:{event.sender.user_id}:{today}")
            if not await self._first_delivery(session, marker):
                return []
        return _private(
            f"Hello! I'm peerbot, the assistant for the {self.bot.config.network_name} network. "
            "I don't have you on the network's list yet, so I can't help here. "
            "If you should be, please ask your network convenor to add you."
        )

    async def _route(self, ctx: Context, wanting: list[HandlerSpec]) -> None:
        event = ctx.event
        if isinstance(event, CommandInvoked):
            await self._command(ctx, event.name.lower(), event.text, explicit=True)
        elif isinstance(event, MessagePosted):
            await self._message(ctx, event, wanting)
        elif isinstance(event, ButtonPressed):
            spec = self.registry.buttons.get(event.action)
            if spec is None:
                ctx.private("That button no longer does anything — it may be from an older message.")
            else:
                await self._call(spec, ctx)
        elif isinstance(event, MemberJoined):
            for spec in self.registry.joins:
                await self._call(spec, ctx)

    async def _message(self, ctx: Context, event: MessagePosted, wanting: list[HandlerSpec]) -> None:
        addressed = _addressed(event)
        if addressed:
            name, rest = split_command(event.text)
            if name in self.registry.commands:
                await self._command(ctx, name, rest, explicit=False)
                return
        for spec in wanting:  # the handlers that want it, highest priority first
            if await self._call(spec, ctx) is not NOT_HANDLED:
                return
        if addressed:
            ctx.private("I'm not sure what you'd like me to do. Type **help** to see what I can do.")

    async def _command(self, ctx: Context, name: str, args: str, *, explicit: bool) -> None:
        spec = self.registry.commands.get(name)
        if spec is None:
            if not name:
                ctx.private("Type **help** to see what I can do.")
                return
            names = [s.name for s in self.registry.visible_commands()]
            close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
            hint = f" Did you mean **{close[0]}**?" if close else ""
            ctx.private(f"I don't know the command '{name[:40]}'.{hint} Type **help** to see what I can do.")
            return
        if spec.convenor_only and not (ctx.person and ctx.person.is_convenor):
            ctx.private(f"Only the network's convenor can use **{spec.name}**.")
            return
        ctx.args = args
        await self._call(spec, ctx)

    async def _call(self, spec: HandlerSpec, ctx: Context) -> Any:
        available: dict[str, Any] = {
            "ctx": ctx,
            "event": ctx.event,
            "person": ctx.person,
            "args": ctx.args,
            "session": ctx.session,
            "bot": ctx.bot,
            "group": ctx.group,
            "now": ctx.now,
            "config": ctx.config,
        }
        return await spec.func(**{p: available[p] for p in spec.params})


async def _keep(
    session: AsyncSession, event: AnyEvent, replies: list[Outgoing], *, inbox_row: int | None, keep: bool
) -> None:
    if not replies:
        return
    if inbox_row is not None:
        await keep_replies(session, inbox_row, replies_to_json(replies))
    elif keep and event.event_id:
        await session.execute(
            update(SeenEvent)
            .where(_seen(event.sender.platform, event.event_id))
            .values(replies=replies_to_json(replies), sender_id=event.sender.user_id[:64])
        )


def _seen(platform: str, event_id: str) -> ColumnElement[bool]:
    """The ``seen_events`` row of an event (its id as the table keeps it)."""
    return and_(SeenEvent.platform == platform, SeenEvent.event_id == event_id[:EVENT_ID_CHARS])


async def _kept(session: AsyncSession, event: AnyEvent) -> list[Outgoing]:
    """The replies a handling of ``event`` kept and that have not been let go of."""
    if not event.event_id:
        return []
    kept = (
        await session.execute(select(SeenEvent.replies).where(_seen(event.sender.platform, event.event_id)))
    ).scalar_one_or_none()
    return replies_from_json(kept) if kept else []


async def replies_gone(session: AsyncSession, platform: str, event_ids: Collection[str]) -> None:
    """Let go of the replies kept by :meth:`Dispatcher.handle_keeping` for these events:
    they have been sent (a repeat of the events now sends nothing)."""
    ids = [e[:EVENT_ID_CHARS] for e in event_ids]
    for start in range(0, len(ids), 500):  # within every database's limit on bound values
        await session.execute(
            update(SeenEvent)
            .where(
                SeenEvent.platform == platform,
                SeenEvent.event_id.in_(ids[start : start + 500]),
                SeenEvent.replies.is_not(None),
            )
            .values(replies=null(), sender_id=null())
        )


def _addressed(event: MessagePosted) -> bool:
    """Said to the bot: in a DM, or mentioning it (only then can a message be a command)."""
    return event.place.is_direct or event.mentions_bot


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return "That didn't work."
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


def person_label(person: Person) -> str:
    return f"{person.name} ({person.school.name})"
