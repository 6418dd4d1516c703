"""Immediate replies (:class:`~bot.replies.Respond`) in Discord's idiom.

To a gateway message:

- private → a DM to the sender (a DM conversation is already private); if their DMs
  are closed, a mention in the message's thread saying so — never the private text
  itself, and nothing at all in a private group's channel that others can read;
- in a DM → in the DM; in a thread → in that thread;
- ``in_thread`` on a channel message → in the message's own thread, started if need be;
- otherwise → in the channel.

To an interaction (slash command or button): the interaction response, then follow-ups;
private → ephemeral. The answer (or a deferral) goes back within Discord's 3 seconds:
if the core has not finished by ``ack_deadline``, the interaction is deferred and the
answer follows up when ready.

A reply that cannot go out now (a long rate limit, Discord down) is queued in the outbox
instead — to the person privately, or to the message's thread — so it is not lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import discord

from adapters.discord.outgoing import CANNOT_DM, delivery_error, nonce_for, thread_name
from adapters.discord.render import render
from adapters.discord.translate import place_of
from bot.delivery import RateLimited, TransientError
from bot.events import AnyEvent, MessagePosted, MessageRef
from bot.network import store
from bot.replies import DurableTarget, Message, Outgoing, Respond, ToGroup, ToPerson, ToThread

if TYPE_CHECKING:
    from adapters.discord.adapter import DiscordAdapter

log = logging.getLogger(__name__)

UNKNOWN_WEBHOOK = 10015
UNKNOWN_INTERACTION = 10062  # answered too late: the interaction is gone

CLOSED_DMS = (
    "I have a private reply for you, but your direct messages are closed. "
    "To get it, allow direct messages from this server's members (server name › Privacy Settings), "
    "then ask me again."
)


class Responder:
    def __init__(self, adapter: DiscordAdapter) -> None:
        self.adapter = adapter

    # -- to gateway messages, joins --------------------------------------------------------
    async def to_message(
        self,
        message: discord.Message,
        event: MessagePosted,
        replies: Sequence[Outgoing],
        *,
        since: datetime | None = None,
    ) -> None:
        """``since``: these replies may have gone already (kept by a handling before a
        restart), each at or after ``since``: one found there is not sent again, nor one
        that was queued in the outbox (see :meth:`_rescue`): the outbox sends that one."""
        keys = [f"discord:reply:{event.event_id}:{i}" for i in range(len(replies))]
        queued = await self.adapter.bot.queued(keys) if since is not None else set()
        for key, out in zip(keys, replies, strict=True):
            if key in queued:
                continue
            try:
                await self._one(message, event, out, key, since)
            except Exception as exc:
                await self._rescue(event, out, key, exc)

    async def _one(
        self, message: discord.Message, event: MessagePosted, out: Outgoing, key: str, since: datetime | None
    ) -> None:
        adapter = self.adapter
        target = out.target
        assert isinstance(target, Respond)
        rendered = render(out.message, file_limit=adapter.file_limit)
        nonce = nonce_for(key)
        place = event.place
        poster = adapter.poster
        if place.is_direct:
            await poster.post(message.channel.id, rendered, nonce=nonce, channel=message.channel, retry_since=since)
            return
        exposed = adapter.exposed_group(int(place.channel_id))
        if target.private or exposed:
            if exposed and not target.private:
                log.warning("people outside the %s group can read its channel: replying privately instead", exposed)
            # Closed DMs are said in the question's thread; never where people outside the group read.
            about = None if exposed else message
            await self.private(message.author.id, rendered, nonce=nonce, about=about, retry_since=since)
            return
        if out.message.calendar is not None:
            await adapter.calendar.sync(out.message.calendar, int(place.channel_id))
        if place.thread_id:
            parent = int(place.channel_id)
            await poster.post(
                int(place.thread_id),
                rendered,
                nonce=nonce,
                parent_id=parent,
                channel=message.channel,
                retry_since=since,
            )
        elif target.in_thread:
            name = thread_name(message.author)
            await poster.in_thread_of(
                message.channel.id, message.id, rendered, nonce=nonce, name=name, retry_since=since
            )
        else:
            await poster.post(message.channel.id, rendered, nonce=nonce, channel=message.channel, retry_since=since)

    async def private(
        self,
        user_id: int,
        rendered: Any,
        *,
        nonce: str | None,
        about: discord.Message | None,
        retry_since: datetime | None = None,
    ) -> None:
        """A DM; if DMs are closed, a mention saying so (never the private text) in the
        thread of the message ``about`` (started if need be), or nowhere without one.
        ``retry_since``: not sent again if found among peerbot's messages there since then."""
        poster = self.adapter.poster
        try:
            await poster.dm(user_id, rendered, nonce=nonce, retry_since=retry_since)
        except discord.Forbidden as exc:
            if exc.code != CANNOT_DM or about is None:
                raise
            note = render(Message(text=CLOSED_DMS), file_limit=self.adapter.file_limit)
            closed = nonce_for(nonce or "", "closed")
            channel = about.channel
            if isinstance(channel, discord.Thread) or place_of(channel).is_direct:
                parent = getattr(channel, "parent_id", None)
                await poster.post(
                    channel.id,
                    note,
                    nonce=closed,
                    mention=user_id,
                    channel=channel,
                    parent_id=parent,
                    retry_since=retry_since,
                )
            else:
                await poster.in_thread_of(
                    channel.id,
                    about.id,
                    note,
                    nonce=closed,
                    mention=user_id,
                    name=thread_name(about.author),
                    retry_since=retry_since,
                )

    async def to_event(self, event: AnyEvent, replies: Sequence[Outgoing], channel_id: int | None) -> None:
        """Replies to an event with no message to answer (someone joined)."""
        adapter = self.adapter
        for i, out in enumerate(replies):
            key = f"discord:reply:{event.event_id or 'join'}:{i}"
            assert isinstance(out.target, Respond)
            rendered = render(out.message, file_limit=adapter.file_limit)
            try:
                if out.target.private or channel_id is None or adapter.exposed_group(channel_id):
                    await self.private(int(event.sender.user_id), rendered, nonce=nonce_for(key), about=None)
                else:
                    await adapter.poster.post(channel_id, rendered, nonce=nonce_for(key))
            except Exception as exc:
                await self._rescue(event, out, key, exc)

    # -- to interactions ---------------------------------------------------------------------
    async def answer(self, interaction: discord.Interaction[Any], event: AnyEvent, *, started: float) -> None:
        """Run the core on ``event`` and answer the interaction on time."""
        adapter = self.adapter
        is_command = interaction.type is discord.InteractionType.application_command
        task = asyncio.ensure_future(adapter.bot.handle(event))
        budget = adapter.ack_deadline - (time.monotonic() - started)
        deferred = False
        try:
            replies = await asyncio.wait_for(asyncio.shield(task), timeout=max(0.0, budget))
        except TimeoutError:
            deferred = True
            try:
                await interaction.response.defer(ephemeral=is_command, thinking=is_command)
            except discord.HTTPException as exc:  # too late even to defer: answer another way
                replies = await task
                for i, out in enumerate(replies):
                    await self._rescue(event, out, f"discord:reply:{event.event_id}:{i}", exc)
                return
            replies = await task
        await self.to_interaction(interaction, event, replies, deferred=deferred)

    async def to_interaction(
        self, interaction: discord.Interaction[Any], event: AnyEvent, replies: Sequence[Outgoing], *, deferred: bool
    ) -> None:
        adapter = self.adapter
        is_command = interaction.type is discord.InteractionType.application_command
        if not interaction.response.is_done() and any(out.message.calendar is not None for out in replies):
            # A scheduled event is a REST call that can wait out a rate limit: acknowledge first.
            try:
                await interaction.response.defer(ephemeral=is_command, thinking=is_command)
            except discord.HTTPException as exc:
                for i, out in enumerate(replies):
                    await self._rescue(event, out, f"discord:reply:{event.event_id}:{i}", exc)
                return
            deferred = True
        thinking = deferred and is_command  # an ephemeral "peerbot is thinking…" to replace
        if not replies:
            if thinking:
                with contextlib.suppress(discord.HTTPException):
                    await interaction.edit_original_response(content="Done.")
            elif not interaction.response.is_done():
                if is_command:
                    await interaction.response.send_message("Done.", ephemeral=True)
                else:
                    await interaction.response.defer()
            return
        for i, out in enumerate(replies):
            key = f"discord:reply:{event.event_id}:{i}"
            target = out.target
            assert isinstance(target, Respond)
            rendered = render(out.message, file_limit=adapter.file_limit)
            private = target.private
            place = event.place
            if (
                not private
                and interaction.channel is not None
                and not place.is_direct
                and adapter.exposed_group(int(place.channel_id))
            ):
                private = True
            try:
                if out.message.calendar is not None and not private and not place.is_direct:
                    await adapter.calendar.sync(out.message.calendar, int(place.channel_id))
                if not interaction.response.is_done():
                    await interaction.response.send_message(ephemeral=private, **rendered.send_kwargs())
                elif thinking and private:
                    await interaction.followup.send(ephemeral=True, **rendered.send_kwargs())
                    thinking = False
                elif thinking:
                    # The deferral promised an ephemeral answer; a public one goes to the channel.
                    channel = interaction.channel
                    if not isinstance(channel, discord.abc.Messageable):
                        raise TransientError("the interaction's channel is unknown")
                    await adapter.poster.post(
                        getattr(channel, "id", 0), rendered, nonce=nonce_for(key), channel=channel
                    )
                else:
                    await interaction.followup.send(ephemeral=private, **rendered.send_kwargs())
            except Exception as exc:
                await self._rescue(event, out, key, exc, private=private)
        if thinking:
            with contextlib.suppress(discord.HTTPException):
                await interaction.edit_original_response(content="Done.")

    # -- when a reply cannot go now --------------------------------------------------------------
    async def _rescue(
        self, event: AnyEvent, out: Outgoing, key: str, exc: BaseException, *, private: bool | None = None
    ) -> None:
        error = delivery_error(exc, "reply")
        expired = isinstance(exc, discord.HTTPException) and exc.code in (UNKNOWN_INTERACTION, UNKNOWN_WEBHOOK)
        if not expired and not isinstance(error, (RateLimited, TransientError)):
            log.warning("a reply to a Discord %s could not be sent: %s", type(event).__name__, error)
            return
        target = out.target
        assert isinstance(target, Respond)
        is_private = target.private if private is None else private
        bot = self.adapter.bot
        async with bot.db.session() as session:
            durable: DurableTarget | None = None
            place = event.place
            if is_private or place.is_direct:
                person = await store.person_by_platform_id(session, bot.network_id, "discord", event.sender.user_id)
                durable = ToPerson(person.id) if person is not None else None
            elif isinstance(event, MessagePosted):
                if target.in_thread or place.thread_id:
                    durable = ToThread(event.ref)
                else:
                    group = bot.config.channel_groups("discord").get(place.channel_id)
                    durable = ToGroup(group) if group else ToThread(event.ref)
            elif place.thread_id:
                durable = ToThread(
                    MessageRef(
                        platform="discord",
                        channel_id=place.channel_id,
                        message_id=place.thread_id,
                        thread_id=place.thread_id,
                    )
                )
            else:
                group = bot.config.channel_groups("discord").get(place.channel_id)
                durable = ToGroup(group) if group else None
            if durable is None:
                log.warning("a reply could not be sent and has nowhere durable to go: %s", error)
                return
            await bot.queue(session, durable, out.message, key=key, prefer="discord")
        log.info("a reply could not be sent now (%s); queued it in the outbox", error)
        bot.deliverer.wake()
