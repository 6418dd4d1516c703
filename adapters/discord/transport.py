"""The outbox's way out to Discord: :class:`DiscordTransport`.

The deliverer resolves a neutral target to an :class:`~bot.delivery.Address`; this sends
it and says how it went, in the outbox's terms:

- a group's channel or a thread (started on the message if it has none yet);
- a DM, or — when the person has closed DMs from server members (Discord error 50007) —
  a mention in the thread the core named as the fallback (if it is in a group's channel
  they can see), saying a private message is waiting, with its buttons but never its
  text; else a permanent failure;
- an edit (text, embed and buttons replaced).

Every send carries a nonce derived from the outbox key, so a send retried after a crash
or a 5xx is not posted twice while Discord remembers the nonce (minutes); a retried row
also looks for its message (same text, embed, buttons and mention, by the bot) among the
channel's messages since the row was queued (up to 1,000 of them) first. Long rate
limits come back as :class:`~bot.delivery.RateLimited` (the row waits its turn without
counting an attempt); short ones discord.py waits out itself.
A message carrying a :class:`~bot.replies.CalendarEvent` into a group's channel also
creates, updates or cancels the meeting's guild scheduled event (see
:mod:`adapters.discord.calendar` for which groups), after the channel's privacy check.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import discord

from adapters.discord.outgoing import CANNOT_DM, RECENT, Posted, delivery_error, nonce_for
from adapters.discord.render import Rendered, render
from bot import outbox
from bot.delivery import Address, DeliveryError, PermanentError, RateLimited, TransientError
from bot.events import MessageRef
from bot.numbers import SNOWFLAKE_MAX, whole_number
from bot.replies import Message

if TYPE_CHECKING:
    from adapters.discord.adapter import DiscordAdapter

log = logging.getLogger(__name__)

CLOSED_DMS_NOTE = (
    "I have a private message for you about this question, but your direct messages from this server are closed. "
    "To get messages like it, allow direct messages from this server's members (server name › Privacy Settings)."
)
CLOSED_DMS_BUTTONS = " Its buttons work here too:"


class DiscordTransport:
    platform = "discord"

    def __init__(self, adapter: DiscordAdapter, *, ready_wait: float = 10.0) -> None:
        self.adapter = adapter
        self.ready_wait = ready_wait

    async def send(self, address: Address, message: Message, *, key: str | None, attempt: int) -> MessageRef:
        adapter = self.adapter
        if not adapter.ready.is_set():
            # Starting up: the outbox's first batch waits for the connection a little.
            try:
                await asyncio.wait_for(adapter.ready.wait(), self.ready_wait)
            except TimeoutError:
                raise RateLimited(5.0, "waiting for the Discord connection") from None
        what = {"channel": "post in a channel", "thread": "post in a thread", "dm": "send a DM", "edit": "edit"}
        try:
            since = await self._retry_since(key) if attempt > 1 else None
            return await self._send(address, message, key=key, retry_since=since)
        except DeliveryError:
            raise
        except Exception as exc:
            error = delivery_error(exc, what.get(address.kind, "send"))
            log.info("discord %s for outbox key %s failed: %s", address.kind, key, error)
            raise error from None

    async def _retry_since(self, key: str | None) -> datetime:
        """How far back a retried row looks for the message it may have posted already:
        to when it was queued (it cannot have been sent before), and at least
        :data:`~adapters.discord.outgoing.RECENT`."""
        recent = discord.utils.utcnow() - RECENT
        if key is None:
            return recent
        bot = self.adapter.bot
        async with bot.db.session() as session:
            row = await outbox.find(session, network_id=bot.network_id, platform="discord", key=key)
        if row is None:
            return recent
        queued = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
        return min(recent, queued - timedelta(minutes=1))  # a minute for clocks that disagree

    async def _send(
        self, address: Address, message: Message, *, key: str | None, retry_since: datetime | None
    ) -> MessageRef:
        adapter = self.adapter
        rendered = render(message, file_limit=adapter.file_limit)
        nonce = nonce_for(key) if key else None
        if address.kind in ("channel", "thread"):
            channel_id = _id(address.channel_id, "channel")
            exposed = adapter.exposed_group(channel_id)
            if exposed:
                raise TransientError(_exposed_note(exposed))
            if message.calendar is not None:  # checked first: nothing about a meeting goes out before
                await adapter.calendar.sync(message.calendar, channel_id)
            if address.kind == "channel":
                posted = await adapter.poster.post(channel_id, rendered, nonce=nonce, retry_since=retry_since)
            else:
                root = _id(address.thread_id, "thread")
                posted = await adapter.poster.in_thread_of(
                    channel_id, root, rendered, nonce=nonce, retry_since=retry_since
                )
            return posted.ref
        if address.kind == "dm":
            user_id = _id(address.user_id, "user")
            await self._link_thread(address, rendered, user_id)
            try:
                return (await adapter.poster.dm(user_id, rendered, nonce=nonce, retry_since=retry_since)).ref
            except discord.Forbidden as exc:
                if exc.code != CANNOT_DM:
                    raise
            return (await self._fallback(address, message, key=key, retry_since=retry_since, user_id=user_id)).ref
        if address.kind == "edit":
            channel_id = _id(address.channel_id, "channel")
            message_id = _id(address.message_id, "message")
            interaction = adapter.ephemeral_editor(message_id)
            if interaction is not None:  # only its interaction can edit an ephemeral message
                await interaction.followup.edit_message(message_id, **rendered.edit_kwargs())
                return MessageRef(
                    platform="discord",
                    channel_id=str(channel_id),
                    message_id=str(message_id),
                    thread_id=address.thread_id,
                )
            exposed = adapter.exposed_group(channel_id)
            if exposed:  # new text where people outside the group would read it
                raise TransientError(_exposed_note(exposed))
            if message.calendar is not None:
                await adapter.calendar.sync(message.calendar, channel_id)
            thread = int(address.thread_id) if address.thread_id and address.thread_id != address.message_id else None
            where = thread or channel_id
            if thread is not None:
                # An edit of a DM that went to the thread as a closed-DMs note: the note stays,
                # only its buttons change (the DM's new text is for that one person too).
                old = await adapter.poster.fetch(where, message_id)
                if is_fallback_note(old.content):
                    rendered = Rendered(content=old.content, embed=None, buttons=rendered.buttons)
            return await adapter.poster.edit(where, message_id, rendered, parent_id=channel_id if thread else None)
        raise PermanentError(f"cannot send to a {address.kind} on Discord")

    async def _link_thread(self, address: Address, rendered: Rendered, user_id: int) -> None:
        """A DM about a conversation in a thread (the core names it as the fallback): make
        sure the thread exists, so that "reply in the question's thread" can be done, and
        add a button that opens it (if they can see it)."""
        ref = address.fallback
        adapter = self.adapter
        if ref is None or ref.platform != "discord":
            return
        channel_id = whole_number(ref.channel_id, most=SNOWFLAKE_MAX)
        if channel_id is None:
            return
        if (
            channel_id not in adapter.channel_groups
            or adapter.exposed_group(channel_id)
            or not adapter.can_see(user_id, channel_id)
        ):
            return
        thread_id = (
            int(ref.thread_id) if ref.thread_id else await adapter.poster.ensure_thread(channel_id, int(ref.message_id))
        )
        if thread_id is not None:
            rendered.link = ("Open the thread", f"https://discord.com/channels/{adapter.guild_id}/{thread_id}")

    async def _fallback(
        self, address: Address, message: Message, *, key: str | None, retry_since: datetime | None, user_id: int
    ) -> Posted:
        """Closed DMs: a mention in the thread the core named, saying a private message could
        not be sent, with its buttons (ids only; the core checks who presses them) — never
        its text or files, which were meant for one person."""
        adapter = self.adapter
        fallback = address.fallback
        who = address.label or "that person"
        if (
            fallback is None
            or fallback.platform != "discord"
            or (channel_id := whole_number(fallback.channel_id, most=SNOWFLAKE_MAX)) is None
        ):
            raise PermanentError(f"{who} does not accept direct messages from the server's members")
        if channel_id not in adapter.channel_groups:
            raise PermanentError(
                f"{who} does not accept direct messages, and the thread to mention them in is not in a group's channel"
            )
        exposed = adapter.exposed_group(channel_id)
        if exposed:
            raise TransientError(_exposed_note(exposed))
        if not adapter.can_see(user_id, channel_id):
            raise PermanentError(f"{who} does not accept direct messages, and cannot see the thread to mention them in")
        log.info("DMs closed for outbox key %s: mentioning them in the thread instead", key)
        note = CLOSED_DMS_NOTE + (CLOSED_DMS_BUTTONS if message.buttons else "")
        rendered = render(Message(text=note, buttons=message.buttons), file_limit=adapter.file_limit)
        nonce = nonce_for(key, "fallback") if key else None
        return await adapter.poster.in_thread_of(
            channel_id, int(fallback.thread_root), rendered, nonce=nonce, retry_since=retry_since, mention=user_id
        )


def is_fallback_note(content: str) -> bool:
    return content.startswith("<@") and CLOSED_DMS_NOTE in content


def _exposed_note(group: str) -> str:
    return (
        f"the {group} channel can be read by people outside the {group} group; "
        f"peerbot will post there once it is private to the {group} group"
    )


def _id(value: str | None, what: str) -> int:
    number = whole_number(value, most=SNOWFLAKE_MAX) if value is not None else None
    if number is None:
        raise PermanentError(f"not a Discord {what} id: {value!r}")
    return number
