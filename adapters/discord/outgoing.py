"""Posting to Discord: channels, threads on a message, DMs and edits, through discord.py.

Shared by the outbox transport and the immediate replies. Every send that must not
repeat carries a ``nonce`` (discord.py adds ``enforce_nonce``): Discord then returns the
message it already created for that nonce instead of a second one.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import aiohttp
import discord

from adapters.discord.render import Rendered
from bot.delivery import DeliveryError, PermanentError, RateLimited, TransientError
from bot.events import MessageRef

if TYPE_CHECKING:
    from adapters.discord.adapter import DiscordAdapter

log = logging.getLogger(__name__)

# Discord's JSON error codes (https://discord.com/developers/docs/topics/opcodes-and-status-codes)
UNKNOWN_CHANNEL = 10003
UNKNOWN_MESSAGE = 10008
MISSING_ACCESS = 50001
CANNOT_DM = 50007
MISSING_PERMISSIONS = 50013
WRONG_CHANNEL_TYPE = 50024
THREAD_EXISTS = 160004

THREAD_ARCHIVE_MINUTES: Literal[10080] = 10080  # a week: a question's thread stays open while people answer
RECENT = timedelta(minutes=30)  # a retried send looks back at least this far for its own message
RETRY_LOOKBACK = 1000  # ... through at most this many of the channel's messages


def nonce_for(key: str, part: str = "") -> str:
    """A Discord nonce (at most 25 characters) derived from an outbox key."""
    return hashlib.sha256(f"{key}\x00{part}".encode()).hexdigest()[:25]


def delivery_error(exc: BaseException, what: str) -> DeliveryError:
    """What a failed Discord call means for the outbox."""
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, discord.RateLimited):
        return RateLimited(exc.retry_after, f"Discord rate limit on {what}")
    if isinstance(exc, discord.HTTPException):
        status, code = exc.status, exc.code
        if status == 429:  # no Via header: Discord's edge refused us for a while
            return RateLimited(60.0, f"Discord's edge refused {what}")
        if status >= 500:
            return TransientError(f"Discord failed {what} (HTTP {status})")
        if code in (MISSING_ACCESS, MISSING_PERMISSIONS):
            return PermanentError(f"peerbot is not allowed to {what} (Discord error {code}): check its permissions")
        if status == 404:
            return PermanentError(f"Discord no longer has the channel or message for {what} (error {code})")
        return PermanentError(f"Discord refused {what} (HTTP {status}, error {code})")
    if isinstance(exc, (aiohttp.ClientError, OSError, asyncio.TimeoutError)):
        return TransientError(f"could not reach Discord for {what} ({type(exc).__name__})")
    return TransientError(f"{type(exc).__name__} while trying to {what}")


@dataclass(frozen=True)
class Posted:
    message: discord.Message
    ref: MessageRef


class Poster:
    def __init__(self, adapter: DiscordAdapter) -> None:
        self.adapter = adapter

    @property
    def client(self) -> discord.Client:
        return self.adapter.client

    def _channel(self, channel_id: int) -> discord.PartialMessageable:
        return self.client.get_partial_messageable(channel_id, guild_id=self.adapter.guild_id)

    async def post(
        self,
        channel_id: int,
        rendered: Rendered,
        *,
        nonce: str | None = None,
        parent_id: int | None = None,
        retry_since: datetime | None = None,
        reference: discord.MessageReference | None = None,
        mention: int | None = None,
        channel: discord.abc.Messageable | None = None,
    ) -> Posted:
        """Send into a channel, thread or DM channel (``parent_id`` given for a thread)."""
        target = channel or self._channel(channel_id)
        kwargs = rendered.send_kwargs()
        if mention is not None:
            kwargs["content"] = f"<@{mention}> " + (kwargs.get("content") or "")
            kwargs["allowed_mentions"] = discord.AllowedMentions(users=[discord.Object(mention)])
        if retry_since is not None:
            found = await self._find_sent(target, rendered, mention, retry_since)
            if found is not None:
                log.info("a retried send found its message already in channel %s", channel_id)
                return Posted(found, self._ref(found, channel_id, parent_id))
        if nonce is not None:
            kwargs["nonce"] = nonce
        if reference is not None:
            kwargs["reference"] = reference
            kwargs["mention_author"] = False
        sent = await target.send(**kwargs)
        return Posted(sent, self._ref(sent, channel_id, parent_id))

    def _ref(self, message: discord.Message, channel_id: int, parent_id: int | None) -> MessageRef:
        if parent_id is not None:
            return MessageRef(
                platform="discord", channel_id=str(parent_id), message_id=str(message.id), thread_id=str(channel_id)
            )
        return MessageRef(platform="discord", channel_id=str(channel_id), message_id=str(message.id))

    async def _find_sent(
        self, target: discord.abc.Messageable, rendered: Rendered, mention: int | None, since: datetime
    ) -> discord.Message | None:
        """After a crash mid-send, the message may be there already (long after the nonce
        window): look among the bot's messages since ``since`` (the most recent
        :data:`RETRY_LOOKBACK` messages of the channel at most) for exactly this one."""
        me = self.client.user
        if me is None:
            return None
        wanted = rendered.signature()
        if mention is not None:
            wanted = (f"<@{mention}> " + wanted[0], wanted[1], wanted[2])
        async for old in target.history(limit=RETRY_LOOKBACK, after=since, oldest_first=False):
            if old.author.id != me.id:
                continue
            ids = tuple(
                getattr(child, "custom_id", None) or getattr(child, "url", None) or ""
                for row in old.components
                for child in getattr(row, "children", [])
            )
            embed = old.embeds[0].description or "" if old.embeds else ""
            if (old.content, embed, ids) == wanted:
                return old
        return None

    async def in_thread_of(
        self,
        channel_id: int,
        message_id: int,
        rendered: Rendered,
        *,
        nonce: str | None = None,
        retry_since: datetime | None = None,
        name: str | None = None,
        mention: int | None = None,
    ) -> Posted:
        """Post in the thread hanging from ``message_id``, starting it if need be.

        A thread started from a message has the message's id, so an existing thread is
        found without any bookkeeping. Where no thread can exist (a DM, a thread's own
        message), the post becomes a reply to the message instead.
        """
        thread_id = message_id
        cached = self.client.get_channel(thread_id)
        if cached is None:
            try:
                await self.client.http.start_thread_with_message(
                    channel_id,
                    message_id,
                    name=(name or await self._thread_name(channel_id, message_id))[:100],
                    auto_archive_duration=THREAD_ARCHIVE_MINUTES,
                )
            except discord.HTTPException as exc:
                if exc.code == THREAD_EXISTS:
                    pass
                elif exc.code in (WRONG_CHANNEL_TYPE, UNKNOWN_CHANNEL, UNKNOWN_MESSAGE):
                    reference = discord.MessageReference(
                        message_id=message_id, channel_id=channel_id, fail_if_not_exists=False
                    )
                    return await self.post(
                        channel_id, rendered, nonce=nonce, retry_since=retry_since, reference=reference, mention=mention
                    )
                else:
                    raise
        return await self.post(
            thread_id, rendered, nonce=nonce, parent_id=channel_id, retry_since=retry_since, mention=mention
        )

    async def ensure_thread(self, channel_id: int, message_id: int) -> int | None:
        """The thread on a message in a guild channel, started if need be (its id, or None
        where a thread cannot be: a DM, a deleted message)."""
        if self.client.get_channel(message_id) is not None:
            return message_id
        try:
            await self.client.http.start_thread_with_message(
                channel_id,
                message_id,
                name=(await self._thread_name(channel_id, message_id))[:100],
                auto_archive_duration=THREAD_ARCHIVE_MINUTES,
            )
        except discord.HTTPException as exc:
            if exc.code == THREAD_EXISTS:
                return message_id
            if exc.code in (WRONG_CHANNEL_TYPE, UNKNOWN_CHANNEL, UNKNOWN_MESSAGE):
                return None
            raise
        return message_id

    async def _thread_name(self, channel_id: int, message_id: int) -> str:
        try:
            root = await self._channel(channel_id).fetch_message(message_id)
        except discord.HTTPException:
            return "peerbot"
        return thread_name(root.author)

    async def dm(
        self, user_id: int, rendered: Rendered, *, nonce: str | None = None, retry_since: datetime | None = None
    ) -> Posted:
        channel = await self.client.create_dm(discord.Object(user_id))
        return await self.post(channel.id, rendered, nonce=nonce, retry_since=retry_since, channel=channel)

    async def fetch(self, channel_id: int, message_id: int) -> discord.Message:
        return await self._channel(channel_id).fetch_message(message_id)

    async def edit(self, channel_id: int, message_id: int, rendered: Rendered, *, parent_id: int | None) -> MessageRef:
        partial = self._channel(channel_id).get_partial_message(message_id)
        await partial.edit(**rendered.edit_kwargs())
        if parent_id is not None:
            return MessageRef(
                platform="discord", channel_id=str(parent_id), message_id=str(message_id), thread_id=str(channel_id)
            )
        return MessageRef(platform="discord", channel_id=str(channel_id), message_id=str(message_id))


def thread_name(author: Any) -> str:
    name = getattr(author, "display_name", None) or getattr(author, "name", None) or "someone"
    return f"Question from {name}"[:100]
