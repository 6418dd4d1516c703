"""The Slack adapter: slack-bolt's AsyncApp, in Socket Mode or behind an HTTP endpoint.

What Bolt does not do, done here (see ``shared/notes/slack-bolt.md``):

- **Kept, then acknowledged, then worked.** The app runs with
  ``process_before_response=True``, so each listener runs *before* the answer to Slack
  and decides it: the listener translates the payload and writes the core event to the
  inbox (:mod:`bot.inbox`: the database, requests arriving together sharing one commit),
  and only then is Slack acknowledged — an acknowledged event survives a crash, and the
  inbox's drainer hands it to the core in order per conversation. When the write fails,
  or more than ``slack.queue_limit`` events are waiting, an event is answered 503 (Slack
  retries it later; in Socket Mode it is simply not acked and Slack redelivers it); a
  command, a button press or a form gets a polite "try again in a minute", privately (a
  press is answered 200 and told through its ``response_url``). Opening a form and
  drawing the Home tab are not kept (a form's trigger lasts three seconds): they run in a
  bounded :class:`~adapters.slack.work.WorkPool`.
- **A listener for everything.** One listener per kind (every event type and message
  subtype, every command, action, view and shortcut) routes inside, so nothing is
  answered 404 and retried three times.
- **Retries once.** The core drops an event whose id it has seen (``seen_events``);
  :mod:`adapters.slack.translate` gives every payload a stable id.
- **The "payload" form-body bug** (a slash command mentioning "payload" read as an
  interaction and lost): :func:`bolt_request` parses such bodies itself.
- **One connection pool, one auth.test.** One aiohttp session for every call; the bot's
  identity is read once at start and handed to Bolt through ``authorize``.
- **A revoked token** is logged once, makes every sender wait (see
  :mod:`adapters.slack.transport`), is re-checked with a growing pause, and never ends the
  process: ``peerbot slack check`` says what is wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from sqlalchemy import update

from adapters.slack import translate
from adapters.slack.api import SlackApi, SlackAuthFailure, SlackFailure, SlackRefused
from adapters.slack.blocks import (
    SHORTCUTS,
    Shortcut,
    home_view,
    message_payload,
    modal_view,
    shortcut_for,
    stranger_home,
)
from adapters.slack.files import TooBig, allowed_hosts, download
from adapters.slack.logs import library_logger
from adapters.slack.translate import AccessLost, HomeOpened, Incoming, Malformed, OpenShortcut
from adapters.slack.transport import (
    EXPOSED_NOTE,
    HELD_MESSAGE_NOTE,
    Access,
    Exposure,
    Identity,
    Responder,
    SlackSender,
    SlackTransport,
    reply_key,
)
from adapters.slack.work import WorkPool
from bot.db.base import rows_affected
from bot.errors import ConfigError
from bot.events import ButtonPressed, CommandInvoked, IncomingFile, MessagePosted
from bot.home import home_for
from bot.inbox import Inbox, InboxFull, InboxItem, RequestTraffic
from bot.models.messaging import OutboxMessage
from bot.network import store
from bot.replies import DurableTarget, Message, Outgoing, Respond, ToPerson, ToThread, replies_from_json

if TYPE_CHECKING:
    from bot.app import PeerBot

log = logging.getLogger("peerbot.slack")

MAX_BODY = 2 * 1024 * 1024
CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{6,}$")
BUSY = "Sorry — I'm very busy just now. Please try again in a minute."
NOT_KEPT = "Sorry — I couldn't take that just now (something went wrong on my side). Please try again in a minute."
GAVE_UP = (
    "Sorry — something kept going wrong on my side with what you just sent, so I've had to give up on it and "
    "nothing was done. Please try again; if it happens again, tell your network convenor."
)
# While Slack's requests arrive back to back, handling (which competes with answering them
# for the one event loop) waits for a pause, up to this long after each event arrived: the
# event is safe in the inbox, and Slack wants its answer within three seconds.
ACK_FIRST_SECONDS = 2.0
CHORE_LIMIT = 500  # opening forms and drawing the Home tab: not kept, so bounded in memory
PRIVACY_RECHECK = 5 * 60.0  # how often the private groups' channels are checked (two calls, at most)
AUTH_RECHECK_FIRST = 30.0
AUTH_RECHECK_MAX = 30 * 60.0


def bolt_request(body: str, query: str, headers: dict[str, str | Sequence[str]]) -> AsyncBoltRequest:
    """An HTTP request as Bolt reads it, with its form-body bug mended.

    Bolt takes any form body containing the text "payload" for an interaction payload;
    a slash command such as ``/peerbot kb payload policy`` then parses to nothing and is
    lost (404). When the form has no ``payload`` field, its fields are the body. The
    signature is still checked on the raw body. Raises ``ValueError`` for a body that is
    not the JSON or form it claims to be.
    """
    request = AsyncBoltRequest(body=body, query=query, headers=headers)
    if not request.body and body and not body.lstrip().startswith("{"):
        form = dict(parse_qsl(body, keep_blank_values=True))
        if form and "payload" not in form:
            request.body = form
            request.context = build_async_context(AsyncBoltContext({}), form)
    return request


class SlackAdapter:
    """Runs peerbot in one Slack workspace (the ``slack`` entry in ``peerbot.adapters``)."""

    platform = "slack"

    def __init__(self, bot: PeerBot, *, http_host: str | None = None, http_port: int | None = None) -> None:
        self.bot = bot
        config = bot.config
        settings = config.settings.slack
        self.settings = settings
        self.mode = settings.mode
        self.bot_token = config.secret("slack.bot_token_env", settings.bot_token_env)
        if not self.bot_token.startswith(("xoxb-", "xoxe.xoxb-")):
            raise ConfigError(
                f"{settings.bot_token_env} should hold the app's Bot User OAuth Token (it starts xoxb-): "
                "see OAuth & Permissions in the app's settings"
            )
        self.app_token: str | None = None
        self.signing_secret: str | None = None
        if self.mode == "socket":
            self.app_token = config.secret("slack.app_token_env", settings.app_token_env)
            if not self.app_token.startswith("xapp-"):
                raise ConfigError(
                    f"{settings.app_token_env} should hold an app-level token (it starts xapp-) with the "
                    "connections:write scope: see Basic Information > App-Level Tokens"
                )
        else:
            self.signing_secret = config.secret("slack.signing_secret_env", settings.signing_secret_env)
        for group, channel in settings.channels.items():
            if not CHANNEL_ID.match(channel):
                raise ConfigError(
                    f"slack.channels.{group}: '{channel}' is not a Slack channel id (they look like C0123456789: "
                    "open the channel's details in Slack, the id is at the bottom)"
                )
        self.http_host = http_host if http_host is not None else settings.http_host
        self.http_port = http_port if http_port is not None else settings.http_port
        self.lib_logger = library_logger(allow_text=config.settings.privacy.log_message_text)
        self.api = SlackApi(token=self.bot_token, base_url=settings.api_url, logger=self.lib_logger)
        self.identity = Identity()
        self.access = Access(on_refused=self._watch_access, on_recovered=self._release_waiting)
        enabled = config.enabled_groups()
        self.exposure = Exposure(
            channels={
                cid: group
                for group, cid in settings.channels.items()
                if group in settings.private_groups and group in enabled
            }
        )
        self.privacy_recheck = PRIVACY_RECHECK
        self.sender = SlackSender(self.api, self.identity, self.access, self.exposure)
        self.transport = SlackTransport(self.sender)
        self.responder = Responder(self.sender, undelivered=self._reply_later, queued=bot.queued)
        self.traffic = RequestTraffic()  # requests being answered: the work behind them waits
        self.work = WorkPool(concurrency=settings.workers, limit=CHORE_LIMIT, traffic=self.traffic)
        self.inbox = Inbox(
            bot.db,
            network_id=bot.network_id,
            platform=self.platform,
            clock=bot.clock,
            handler=self._handle_kept,
            gave_up=self._gave_up,
            concurrency=settings.workers,
            limit=settings.queue_limit,
            defer=ACK_FIRST_SECONDS,
            traffic=self.traffic,
        )
        self.max_file_bytes = config.settings.knowledge.max_file_bytes
        self.file_hosts = allowed_hosts(settings.api_url)
        self.app: AsyncApp | None = None
        self.socket: Any = None
        self._runner: web.AppRunner | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._privacy_watch: asyncio.Task[None] | None = None
        self._chores: set[asyncio.Task[None]] = set()
        self._stopped = asyncio.Event()
        self._started = False
        bot.deliverer.register(self.transport)

    # -- the Bolt app ---------------------------------------------------------------------
    def build_app(self) -> AsyncApp:
        app = AsyncApp(
            name="peerbot",
            logger=self.lib_logger,
            client=self.api.make_client(None),
            signing_secret=self.signing_secret or "",
            authorize=self._authorizer(),
            process_before_response=True,
            request_verification_enabled=self.mode == "http",
            user_facing_authorize_error_message="peerbot cannot reach Slack properly just now: please try again later.",
        )
        everything = re.compile(r".*", re.S)
        app.event(everything)(self._on_event)
        app.command(everything)(self._on_command)
        app.action(everything)(self._on_action)
        app.view(everything)(self._on_view)
        app.view_closed(everything)(self._on_ack_only)
        app.shortcut(everything)(self._on_ack_only)
        app.options(everything)(self._on_options)
        return app

    def _authorizer(self) -> Callable[..., Awaitable[AuthorizeResult]]:
        """Bolt's ``authorize``: the identity read once by ``auth.test`` at start (Bolt's own
        single-team authorization calls ``auth.test`` again for every cold request)."""
        ident, token = self.identity, self.bot_token

        async def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
            return AuthorizeResult(
                enterprise_id=enterprise_id,
                team_id=team_id or ident.team_id or None,
                bot_token=token,
                bot_user_id=ident.bot_user_id or None,
                bot_id=ident.bot_id or None,
            )

        return authorize

    def _bot_user(self, body: dict[str, Any]) -> str | None:
        if self.identity.bot_user_id:
            return self.identity.bot_user_id
        auths = body.get("authorizations")
        if isinstance(auths, list) and auths and isinstance(auths[0], dict) and auths[0].get("is_bot"):
            user = auths[0].get("user_id")
            return user if isinstance(user, str) else None
        return None

    def _submit(self, job: Callable[[], Awaitable[None]], label: str) -> bool:
        return self.work.submit(job, label=label)

    async def _on_event(self, body: dict[str, Any]) -> BoltResponse | None:
        kind = str(body.get("event", {}).get("type", "?"))[:40] if isinstance(body.get("event"), dict) else "?"
        try:
            item = translate.event(body, bot_user_id=self._bot_user(body), bot_id=self.identity.bot_id or None)
        except Malformed as exc:
            log.warning("slack: ignored a malformed %s event (%s)", kind, exc)
            return None
        if item is None:
            return None
        if isinstance(item, HomeOpened):
            user = item.user_id
            self._submit(lambda: self.publish_home(user), "home")
            return None
        if isinstance(item, AccessLost):
            self.access.refused(item.reason)  # which starts the watch for a fix
            return None
        if isinstance(item, Incoming):
            if not self.bot.dispatcher.wants(item.event):
                return None  # chatter: the core would drop it unopened, so it is not kept either
            refused = await self._keep(item)
            if refused is not None:
                # Not acknowledged: Slack sends it again later (in Socket Mode: not acked, redelivered).
                return BoltResponse(status=503, body=f"{refused}: try again later")
        return None

    async def _keep(self, incoming: Incoming) -> str | None:
        """Write ``incoming`` to the inbox (before Slack is acknowledged); ``None`` once it
        is kept (or was already), else why not: ``"busy"`` or ``"not kept"``."""
        try:
            await self.inbox.put(incoming.event, translate.context_of(incoming))
        except InboxFull:
            return "busy"
        except Exception as exc:  # the database (InboxUnavailable), or the inbox stopping
            log.warning("slack: could not keep a %s (%s)", type(incoming.event).__name__, type(exc).__name__)
            return "not kept"
        return None

    async def _handle_kept(self, item: InboxItem) -> None:
        incoming = translate.incoming_from(item.event, item.context)
        event = incoming.event
        if incoming.response_url and incoming.ephemeral and isinstance(event, ButtonPressed) and event.message:
            # chat.update cannot edit an ephemeral message; its response_url can, for a while
            # (also for an edit the handling queued before a restart).
            self.sender.remember_response_url(event.message.channel_id, event.message.message_id, incoming.response_url)
        if item.replies is not None:
            # Handled before a restart, its replies perhaps not sent: they go now, and the
            # event is not handled again.
            log.info("slack: sending the kept replies to a %s handled before a restart", type(item.event).__name__)
            await self._answer(incoming, replies_from_json(item.replies), again=True)
            return
        await self.handle(incoming, inbox_row=item.id)

    async def _gave_up(self, item: InboxItem) -> None:
        await self._tell(translate.incoming_from(item.event, item.context), GAVE_UP)

    async def _on_command(self, ack: Any, body: dict[str, Any]) -> None:
        try:
            incoming = translate.command(body, bot_user_id=self.identity.bot_user_id or None)
        except Malformed as exc:
            log.warning("slack: ignored a malformed slash command (%s)", exc)
            await ack()
            return
        event = incoming.event
        assert isinstance(event, CommandInvoked)
        shortcut = shortcut_for(event.name, event.text) if incoming.trigger_id else None
        if shortcut is not None and self._offers(shortcut):
            # Opening a form is not kept: its trigger lasts three seconds, a restart outlives it.
            chosen, trigger = shortcut, incoming.trigger_id or ""
            place = event.place
            job = lambda: self.open_modal(  # noqa: E731
                chosen, trigger, event.sender.user_id, place.channel_id, place.is_direct, incoming
            )
            if self._submit(job, "command"):
                await ack()
            else:
                await ack(BUSY)
            return
        refused = await self._keep(incoming)
        if refused is None:
            await ack()
        else:
            await ack(BUSY if refused == "busy" else NOT_KEPT)

    async def _on_action(self, ack: Any, body: dict[str, Any]) -> BoltResponse | None:
        await ack()
        try:
            item = translate.block_action(body)
        except Malformed as exc:
            log.warning("slack: ignored a malformed button press (%s)", exc)
            return None
        if isinstance(item, OpenShortcut):
            shortcut = item
            opened = self._submit(
                lambda: self.open_modal(
                    shortcut.shortcut, shortcut.trigger_id, shortcut.user_id, shortcut.channel_id, shortcut.is_direct
                ),
                "shortcut",
            )
            if not opened:
                self._chore(self._say_busy(shortcut.user_id, None), "busy")
            return None
        if isinstance(item, Incoming):
            incoming = item
            refused = await self._keep(incoming)
            if refused is not None:
                # Slack gets a 200 (a 503 would only show "something went wrong"): say
                # politely that it did not happen, where the button was pressed.
                text = BUSY if refused == "busy" else NOT_KEPT
                self._chore(self._say_busy(incoming.event.sender.user_id, incoming.response_url, text), "busy")
        return None

    async def _say_busy(self, user_id: str, response_url: str | None, text: str = BUSY) -> None:
        """Tell someone whose press could not be taken: privately where they pressed it
        (its ``response_url``), or in their DM (the App Home has no ``response_url``)."""
        try:
            if response_url:
                await self.api.respond(
                    response_url,
                    {**message_payload(Message(text=text)), "response_type": "ephemeral", "replace_original": False},
                )
            else:
                channel = await self.sender.dm_channel(user_id, interactive=True)
                await self.sender.post(channel, Message(text=text), thread_ts=None, key=None, interactive=True)
        except SlackFailure as exc:
            log.warning("slack: could not say we were busy (%s)", exc.code)

    def _chore(self, work: Awaitable[None], name: str) -> None:
        """A small piece of work outside the pool, tracked so that stopping cancels it."""
        task = asyncio.ensure_future(work)
        task.set_name(f"slack:{name}")
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)

    async def _on_view(self, ack: Any, body: dict[str, Any]) -> None:
        try:
            submission = translate.view_submission(body, max_file_bytes=self.max_file_bytes)
        except Malformed as exc:
            log.warning("slack: ignored a malformed modal submission (%s)", exc)
            await ack()
            return
        if submission is None:
            await ack()
            return
        if submission.errors:
            await ack(response_action="errors", errors=submission.errors)
            return
        incoming = submission.incoming
        assert incoming is not None
        refused = await self._keep(incoming)
        if refused is not None:
            await ack(response_action="errors", errors={"text": BUSY if refused == "busy" else NOT_KEPT})
            return
        await ack()

    async def _on_ack_only(self, ack: Any) -> None:
        await ack()

    async def _on_options(self, ack: Any) -> None:
        await ack(options=[])

    # -- the work after the ack -----------------------------------------------------------
    async def handle(self, incoming: Incoming, *, inbox_row: int | None = None) -> None:
        """Fetch any files (when the core will read them), run the core, send its immediate
        replies (kept in the event's ``inbox_row`` by the core's transaction until they have
        gone)."""
        event = incoming.event
        # Not for a stranger or a repeat: the core answers those whatever was shared.
        if incoming.files and await self.bot.takes_files(event):
            fetched: list[IncomingFile] = []
            for ref in incoming.files:
                try:
                    fetched.append(await download(self.api, ref, limit=self.max_file_bytes, hosts=self.file_hosts))
                except TooBig as exc:
                    limit_mb = self.max_file_bytes // (1024 * 1024)
                    await self._tell(
                        incoming,
                        f"{exc.name} is too big for me (the limit is {limit_mb} MB), so I haven't kept it. "
                        "Nothing was saved.",
                    )
                    return
                except SlackFailure as exc:
                    log.warning("slack: could not fetch a shared file (%s)", exc.code)
                    await self._tell(
                        incoming, f"I couldn't fetch {ref.name} from Slack, so nothing was saved. Please try again."
                    )
                    return
            if isinstance(event, MessagePosted | CommandInvoked):
                event = dataclasses.replace(event, files=tuple(fetched))
                incoming = dataclasses.replace(incoming, event=event)
        await self._answer(incoming, await self.bot.handle(event, inbox_row=inbox_row))

    async def _answer(self, incoming: Incoming, replies: Sequence[Outgoing], *, again: bool = False) -> None:
        await self.responder.deliver(incoming, replies, again=again)
        if incoming.from_home:
            await self.publish_home(incoming.event.sender.user_id)

    async def _reply_later(self, incoming: Incoming, n: int, target: Respond, message: Message) -> bool:
        """An immediate reply Slack would not take now (a rate limit, an outage): into the
        outbox, to go as soon as it can. A public answer in a conversation's thread stays
        there; anything else goes to the person's DM (the durable form of an ephemeral
        answer). Returns ``False`` when there is nowhere to send it (a stranger)."""
        event = incoming.event
        bot = self.bot
        key = reply_key(event, n) or f"slack:reply:{uuid.uuid4().hex}:{n}"
        durable: DurableTarget | None = None
        async with bot.db.session() as session:
            place = event.place
            if not (target.private or place.is_direct or incoming.from_home):
                if isinstance(event, MessagePosted) and (target.in_thread or place.thread_id):
                    durable = ToThread(event.ref)
                elif isinstance(event, ButtonPressed) and event.message is not None and place.thread_id:
                    durable = ToThread(event.message)
            if durable is None:
                person = await store.person_by_platform_id(session, bot.network_id, self.platform, event.sender.user_id)
                if person is None:
                    return False
                durable = ToPerson(person.id)
            added = await bot.queue(session, durable, message, key=key, prefer=self.platform)
        bot.deliverer.wake()
        return added > 0

    async def _tell(self, incoming: Incoming, text: str) -> None:
        try:
            await self.responder.one(incoming, Respond(private=True), Message(text=text))
        except SlackFailure as exc:
            log.warning("slack: could not send a notice (%s)", exc.code)

    def _offers(self, shortcut: Shortcut) -> bool:
        return shortcut.command in self.bot.registry.commands

    def shortcuts(self) -> list[Shortcut]:
        return [s for s in SHORTCUTS if self._offers(s)]

    async def publish_home(self, user_id: str) -> None:
        """Draw the App Home tab for ``user_id`` from the core's home sections."""
        sections = await home_for(self.bot, self.platform, user_id)
        name = self.bot.config.network_name
        view = (
            stranger_home(name) if sections is None else home_view(sections, network=name, shortcuts=self.shortcuts())
        )
        try:
            await self.sender.call("views.publish", interactive=True, json_body={"user_id": user_id, "view": view})
        except SlackFailure as exc:
            log.warning("slack: could not draw the App Home (%s)", exc.code)

    async def open_modal(
        self,
        shortcut: Shortcut,
        trigger_id: str,
        user_id: str,
        channel_id: str | None,
        is_direct: bool,
        incoming: Incoming | None = None,
    ) -> None:
        view = modal_view(
            shortcut,
            channel_id=channel_id,
            is_direct=is_direct,
            max_file_mb=self.max_file_bytes // (1024 * 1024),
        )
        try:
            await self.sender.call("views.open", interactive=True, json_body={"trigger_id": trigger_id, "view": view})
        except SlackRefused as exc:
            # The trigger expired (it lasts three seconds): say how to do it without the form.
            log.info("slack: could not open a form (%s)", exc.code)
            if incoming is not None:
                usage = f"/peerbot {shortcut.command} {shortcut.prefix}".strip()
                await self._tell(incoming, f"Please try again, or type `{usage} ...` with what you need.")
        except SlackFailure as exc:
            log.warning("slack: could not open a form (%s)", exc.code)

    # -- identity and access --------------------------------------------------------------
    async def refresh_identity(self) -> bool:
        """``auth.test``: who the bot is; ``False`` (and logged) when Slack refuses."""
        try:
            found = await self.api.call("auth.test", interactive=True)
        except SlackAuthFailure as exc:
            self.access.refused(exc.code)
            return False
        except SlackFailure as exc:
            log.warning("slack: could not reach Slack to check the bot token (%s); will try again", exc.code)
            return False
        self.identity.team_id = str(found.get("team_id") or "")
        self.identity.bot_user_id = str(found.get("user_id") or "")
        self.identity.bot_id = str(found.get("bot_id") or "")
        self.identity.app_id = str(found.get("app_id") or "")
        self.access.ok()
        return True

    def _watch_access(self) -> None:
        if self._started and not self._stopped.is_set() and (self._watcher is None or self._watcher.done()):
            self._watcher = asyncio.create_task(self._recheck_access(), name="slack:access")

    def _release_waiting(self) -> None:
        """The token works again: messages held for it go now, not at the end of their pause."""
        self._chore(self._release(), "release")

    # -- the private groups' channels --------------------------------------------------
    async def check_privacy(self) -> None:
        """Ask Slack whether each private group's channel is still private
        (``conversations.info``). A channel anyone can read gets nothing from peerbot until
        it is private again: that is logged once when it happens, and once when it ends
        (the messages held for it then go at once). When Slack cannot say, what was known
        stands."""
        for channel, group in self.exposure.channels.items():
            try:
                found = await self.sender.call("conversations.info", interactive=False, params={"channel": channel})
            except SlackFailure as exc:
                log.info("slack: could not check whether the %s channel is private (%s)", group, exc.code)
                continue
            info = found.get("channel")
            if not isinstance(info, dict) or not isinstance(info.get("is_private"), bool):
                continue
            if not info["is_private"]:
                if channel not in self.exposure.public:
                    self.exposure.public[channel] = group
                    log.error(
                        "slack: the %s channel (%s) can be read by anyone in the workspace: peerbot will post "
                        "nothing there until it is private (make it private in Slack; `peerbot slack check`)",
                        group,
                        channel,
                    )
            elif self.exposure.public.pop(channel, None) is not None:
                log.warning("slack: the %s channel is private again; messages held for it will go now", group)
                self._chore(self._release(EXPOSED_NOTE, "for the private channels"), "release")

    async def _watch_privacy(self) -> None:
        while not self._stopped.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), timeout=self.privacy_recheck)
            if self._stopped.is_set():
                return
            try:
                await self.check_privacy()
            except Exception as exc:  # keep watching
                log.warning("slack: checking the private channels failed (%s)", type(exc).__name__)

    async def _release(self, note: str = HELD_MESSAGE_NOTE, why: str = "for the token") -> None:
        try:
            async with self.bot.db.session() as session:
                result = await session.execute(
                    update(OutboxMessage)
                    .where(
                        OutboxMessage.network_id == self.bot.network_id,
                        OutboxMessage.platform == self.platform,
                        OutboxMessage.status == "pending",
                        OutboxMessage.last_error.startswith(note, autoescape=True),
                    )
                    .values(not_before=self.bot.clock.now())
                )
            released = rows_affected(result)
        except Exception as exc:  # the messages still go at the end of their pause
            log.warning("slack: could not release the messages held %s (%s)", why, type(exc).__name__)
            return
        if released:
            log.info("slack: %d messages held %s released", released, why)
            self.bot.deliverer.wake()

    async def _recheck_access(self) -> None:
        delay = AUTH_RECHECK_FIRST
        while not self._stopped.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), timeout=delay)
            if self._stopped.is_set():
                return
            if await self.refresh_identity():
                return
            delay = min(AUTH_RECHECK_MAX, delay * 2)

    # -- running --------------------------------------------------------------------------
    async def start(self) -> None:
        """Check the token, build the app, and start serving (HTTP) or connecting (socket)."""
        if self._started:
            return
        self._started = True
        self._stopped.clear()
        if not await self.refresh_identity():
            self._watch_access()  # Slack refused the token, or could not be reached
        if self.exposure.channels:
            await self.check_privacy()  # before anything is posted
            self._privacy_watch = asyncio.create_task(self._watch_privacy(), name="slack:privacy")
        self.app = self.build_app()
        await self.inbox.start()  # with what a previous run acknowledged and did not handle
        if self.mode == "http":
            await self._start_http()
        else:
            from adapters.slack.socket import SocketModeRunner

            assert self.app_token is not None
            self.socket = SocketModeRunner(
                self.app,
                app_token=self.app_token,
                web_client=self.api.make_client(None),
                logger=self.lib_logger,
                receiving=self.receiving,
            )
            await self.socket.start()
        log.info("slack: serving %s in %s mode", self.bot.config.network_name, self.mode)

    async def run(self) -> None:
        await self.start()
        await self._stopped.wait()

    async def stop(self) -> None:
        """Stop taking events, finish those acknowledged, then close connections."""
        if not self._started or self._stopped.is_set():
            self._stopped.set()
            return
        self.work.accepting = False
        self.inbox.accepting = False  # a request still arriving is refused: Slack sends it again later
        if self.socket is not None:
            with contextlib.suppress(Exception):
                await self.socket.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await asyncio.gather(
            self.inbox.stop(float(self.settings.drain_seconds)), self.work.drain(float(self.settings.drain_seconds))
        )
        self._stopped.set()
        for task in [t for t in (self._watcher, self._privacy_watch, *self._chores) if t is not None]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.api.close()

    def receiving(self) -> contextlib.AbstractContextManager[None]:
        """Around answering Slack: the work behind earlier acknowledgements waits for it."""
        return self.traffic.receiving()

    # -- HTTP mode ------------------------------------------------------------------------
    def web_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post(self.settings.http_path, self._http_request)
        app.router.add_get("/healthz", self._health)
        return app

    async def _start_http(self) -> None:
        self._runner = web.AppRunner(self.web_app(), access_log=None, shutdown_timeout=5.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.http_host, self.http_port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            raise ConfigError(
                f"cannot listen on {self.http_host}:{self.http_port} for Slack ({exc.strerror}): "
                "change slack.http_port or stop whatever uses it"
            ) from None
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.http_port = int(sockets[0].getsockname()[1])

    async def _http_request(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.text()
        except UnicodeDecodeError:
            return web.json_response({"error": "invalid request"}, status=400)
        headers: dict[str, str | Sequence[str]] = {k.lower(): v for k, v in request.headers.items()}
        try:
            bolt_req = bolt_request(body, request.query_string, headers)
        except (ValueError, TypeError, AttributeError):
            # Not the JSON object or form Slack sends (this is before any signature check,
            # so it is answered without looking further).
            return web.json_response({"error": "invalid request"}, status=400)
        assert self.app is not None
        with self.receiving():
            bolt_resp = await self.app.async_dispatch(bolt_req)
        return await to_aiohttp_response(bolt_resp)

    async def _health(self, request: web.Request) -> web.StreamResponse:
        healthy = self.access.problem is None
        return web.json_response(
            {
                "ok": healthy,
                "slack": "ok" if healthy else f"token refused ({self.access.problem})",
                "pending": self.inbox.pending + self.work.pending,
                "public_private_channels": sorted(self.exposure.public.values()),
            },
            status=200 if healthy else 503,
        )
