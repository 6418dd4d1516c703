"""Meetings as guild scheduled events: created, updated and cancelled with the meeting.

The core attaches a :class:`~bot.replies.CalendarEvent` with a stable ``key`` to the
messages about a meeting. The first one creates an external event in the guild; later
ones update it (only when something changed) or cancel it. ``discord_scheduled_events``
remembers which event stands for which key. Creating is idempotent even if the row was
lost: an event the bot already made with the same name and start is adopted instead.

A guild scheduled event is visible to everyone in the server, so:

- only a message posted in a group's own channel makes one, and never for the private
  groups (``discord.private_groups``: DSL, SENCO): their meetings stay in their channel
  (an event made for one earlier is deleted when its meeting is next announced);
- a message going anywhere else (a DM, another channel) leaves the events alone;
- no link ever goes into an event: a joining link is a key to the meeting, so the
  event's location then says the link is in peerbot's message.

Problems that retrying cannot fix (the start is already past, the bot may not create
events) are logged and the message goes out without the event; rate limits and Discord
outages are raised, so the outbox retries the whole message later.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from collections import defaultdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import discord
from sqlalchemy import select

from bot.delivery import TransientError
from bot.models.discord_state import DiscordScheduledEvent
from bot.replies import CalendarEvent

if TYPE_CHECKING:
    from adapters.discord.adapter import DiscordAdapter

log = logging.getLogger(__name__)

NAME_LIMIT = 100
DESCRIPTION_LIMIT = 1000
LOCATION_LIMIT = 100
ONLINE = "Online: the link is in peerbot's message"
# A link, with or without its scheme ("https://…", "www.…", "meet.google.com/abc-defg").
_LINK = re.compile(r"(?:[a-z][a-z0-9+.-]*://|www\.)\S+|\b[\w-]+(?:\.[\w-]+)+/\S*", re.I)


def fingerprint(cal: CalendarEvent) -> str:
    data = [cal.title, cal.start.isoformat(), cal.end.isoformat(), cal.description, cal.location]
    return hashlib.sha256(json.dumps(data).encode()).hexdigest()


class ScheduledEvents:
    def __init__(self, adapter: DiscordAdapter) -> None:
        self.adapter = adapter
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    @property
    def enabled(self) -> bool:
        return self.adapter.settings.scheduled_events

    def group_for(self, channel_id: int | None) -> str | None:
        """The group whose channel a message about a meeting goes to (None: not a group's channel)."""
        return self.adapter.channel_groups.get(channel_id) if channel_id is not None else None

    async def sync(self, cal: CalendarEvent, channel_id: int | None) -> None:
        """Bring the meeting's event in line with ``cal``, for a message going to ``channel_id``
        (a group's channel, a thread's parent, or ``None`` for a DM)."""
        if not self.enabled:
            return
        group = self.group_for(channel_id)
        if group is None:
            return  # a DM or an unmapped channel: the group's own channel carries the event
        async with self._locks[cal.key]:
            try:
                if group in self.adapter.private_groups:
                    await self._withdraw(cal)
                else:
                    await self._sync(cal)
            except (discord.Forbidden, discord.NotFound) as exc:
                log.warning("could not update the scheduled event for %s (Discord error %s)", cal.key, exc.code)
            except discord.HTTPException as exc:
                if exc.status >= 500 or exc.status == 429:
                    raise
                log.warning("Discord refused the scheduled event for %s (error %s)", cal.key, exc.code)

    async def _row(self, key: str) -> DiscordScheduledEvent | None:
        async with self.adapter.bot.db.session() as session:
            q = select(DiscordScheduledEvent).where(
                DiscordScheduledEvent.network_id == self.adapter.bot.network_id, DiscordScheduledEvent.key == key
            )
            return (await session.execute(q)).scalar_one_or_none()

    async def _save(self, key: str, event_id: int, print_: str, *, cancelled: bool) -> None:
        bot = self.adapter.bot
        async with bot.db.session() as session:
            row = await session.get(DiscordScheduledEvent, (bot.network_id, key))
            if row is None:
                row = DiscordScheduledEvent(network_id=bot.network_id, key=key)
                session.add(row)
            row.guild_id = str(self.adapter.guild_id)
            row.event_id = str(event_id)
            row.fingerprint = print_
            row.cancelled = cancelled
            row.updated_at = datetime.now(UTC)

    def _guild(self) -> discord.Guild:
        guild = self.adapter.client.get_guild(self.adapter.guild_id)
        if guild is None:
            raise TransientError("the Discord server is not available yet")
        return guild

    async def _sync(self, cal: CalendarEvent) -> None:
        row = await self._row(cal.key)
        print_ = fingerprint(cal)
        guild = self._guild()
        if cal.cancelled:
            if row is None or row.cancelled:
                return
            try:
                old = await guild.fetch_scheduled_event(int(row.event_id))
                if old.status is discord.EventStatus.scheduled:
                    await old.cancel()
                elif old.status is discord.EventStatus.active:
                    await old.end()
            except discord.NotFound:
                pass  # someone deleted it already
            await self._save(cal.key, int(row.event_id), print_, cancelled=True)
            return
        event: discord.ScheduledEvent | None = None
        if row is not None and not row.cancelled:
            if row.fingerprint == print_:
                return
            try:
                event = await guild.fetch_scheduled_event(int(row.event_id))
            except discord.NotFound:
                event = None  # deleted by hand: make a new one
            if event is not None and event.status is discord.EventStatus.scheduled:
                await event.edit(
                    name=_name(cal),
                    description=_description(cal),
                    start_time=cal.start,
                    end_time=cal.end,
                    location=_location(cal),
                    entity_type=discord.EntityType.external,
                )
                await self._save(cal.key, event.id, print_, cancelled=False)
                return
        event = await self._adopt(guild, cal) or await guild.create_scheduled_event(
            name=_name(cal),
            description=_description(cal),
            start_time=cal.start,
            end_time=cal.end,
            entity_type=discord.EntityType.external,
            privacy_level=discord.PrivacyLevel.guild_only,
            location=_location(cal),
        )
        await self._save(cal.key, event.id, print_, cancelled=False)

    async def _withdraw(self, cal: CalendarEvent) -> None:
        """A private group's meeting has no event: delete one made for it before."""
        row = await self._row(cal.key)
        if row is None or row.cancelled:
            return
        try:
            old = await self._guild().fetch_scheduled_event(int(row.event_id))
            await old.delete()
        except discord.NotFound:
            pass
        log.info("deleted the scheduled event for %s: a private group's meeting has none", cal.key)
        await self._save(cal.key, int(row.event_id), row.fingerprint, cancelled=True)

    async def _adopt(self, guild: discord.Guild, cal: CalendarEvent) -> discord.ScheduledEvent | None:
        """An event this bot already created for this meeting (its row was lost)."""
        me = self.adapter.client.user
        for event in await guild.fetch_scheduled_events(with_counts=False):
            if (
                me is not None
                and event.creator_id == me.id
                and event.name == _name(cal)
                and event.start_time == cal.start.astimezone(UTC)
                and event.status is discord.EventStatus.scheduled
            ):
                return event
        return None


def _unlinked(text: str, instead: str) -> str:
    return _LINK.sub(instead, text)


def _name(cal: CalendarEvent) -> str:
    return _unlinked(cal.title, "(link)")[:NAME_LIMIT]


def _description(cal: CalendarEvent) -> str:
    return _unlinked(cal.description, "(the link is in peerbot's message)")[:DESCRIPTION_LIMIT]


def _location(cal: CalendarEvent) -> str:
    """Where, for everyone in the server to read: never a link (a joining link lets anyone in)."""
    if not cal.location.strip():
        return "See the message from peerbot"
    if _LINK.search(cal.location):
        return ONLINE
    return cal.location[:LOCATION_LIMIT]
