"""The sweeper: moves every meeting along from its rows, then says when to look again.

One sweep, in one transaction per network: write the plan (new half-terms get a
``planned`` meeting), open polls whose time has come, close polls that are due (booking
or asking the convenor), mark meetings that have ended as held (and ask for actions),
remind the convenor, once, of a date still to choose a few school days on, queue
knowledge-base review reminders, and tell the convenor about messages that could not be
delivered. Everything it decides is idempotent — run it twice, from two
processes, or after a crash, and each thing happens once — because it acts only on rows
in the state it expects and queues messages under fixed keys.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.meetings import service
from bot.meetings.nudges import reminder_time
from bot.models.meetings import Meeting
from bot.replies import Button, Message, ToPerson
from bot.services import ReviewSource

if TYPE_CHECKING:
    from bot.app import PeerBot

log = logging.getLogger(__name__)

MAX_SLEEP = timedelta(hours=1)  # look again at least this often (new terms, config, reviews)


@dataclass
class SweepResult:
    created: int = 0
    opened: int = 0
    closed: list[str] = field(default_factory=list)
    held: int = 0
    reminders: int = 0
    next_wake: datetime | None = None  # when to sweep again (at most MAX_SLEEP away)
    next_event: datetime | None = None  # when a meeting next changes state, if ever


async def sweep(bot: PeerBot, *, now: datetime | None = None) -> SweepResult:
    """Run one sweep of this bot's network."""
    now = now or bot.clock.now()
    result = SweepResult()
    async with bot.db.session() as session:
        await service.lock_network(session, bot.network_id)
        await sweep_in(session, bot, now, result)
    bot.deliverer.wake()
    return result


async def sweep_in(session: AsyncSession, bot: PeerBot, now: datetime, result: SweepResult) -> None:
    calendar = await service.calendar_for(session, bot)
    result.created = len(await service.sync_plans(session, bot, calendar, now))
    rows = await service.meetings(session, bot.network_id, statuses=service.OPEN_STATUSES)
    groups = bot.config.enabled_groups()
    for meeting in rows:
        if meeting.group_name not in groups:
            continue  # a group switched off: its meetings wait, untouched
        if meeting.status == "planned" and meeting.poll_opens_at is not None and meeting.poll_opens_at <= now:
            await service.open_poll(session, bot, meeting, now)
            result.opened += meeting.status == "polling"
        if (
            meeting.status == "polling"
            and meeting.poll_closed_at is None
            and meeting.poll_closes_at is not None
            and meeting.poll_closes_at <= now
        ):
            outcome = await service.close_poll(session, bot, meeting, now)
            result.closed.append(f"{meeting.title}: {outcome}")
        if meeting.status == "booked" and meeting.end is not None and meeting.end <= now:
            await service.mark_held(session, bot, meeting, now)
            result.held += 1
        if meeting.status == "polling" and meeting.poll_closed_at is not None:
            await service.remind_undecided(session, bot, calendar, meeting, now)
    result.reminders = await queue_review_reminders(session, bot, now)
    await service.report_failures(session, bot, now)
    result.next_event = await next_event(session, bot, now)
    result.next_wake = min(now + MAX_SLEEP, result.next_event) if result.next_event else now + MAX_SLEEP


async def next_event(session: AsyncSession, bot: PeerBot, now: datetime) -> datetime | None:
    """When a meeting next changes state: a poll opens or closes, a meeting ends, the
    convenor is reminded of a date still to choose."""
    times: list[datetime] = []
    calendar = await service.calendar_for(session, bot)
    q = select(Meeting).where(Meeting.network_id == bot.network_id, Meeting.status.in_(service.OPEN_STATUSES))
    for m in (await session.execute(q)).scalars():
        if m.status == "planned" and m.poll_opens_at is not None:
            times.append(m.poll_opens_at)
        elif m.status == "polling" and m.poll_closed_at is None and m.poll_closes_at is not None:
            times.append(m.poll_closes_at)
        elif m.status == "polling" and (due := service.decide_reminder_due(calendar, m)) and due > now:
            times.append(due)
        elif m.status == "booked" and m.end is not None:
            times.append(m.end)
    return max(now, min(times)) if times else None


async def queue_review_reminders(session: AsyncSession, bot: PeerBot, now: datetime) -> int:
    """Remind owners of knowledge-base entries whose review date is coming up, once each
    (when the knowledge base offers :class:`~bot.services.ReviewSource`)."""
    source = bot.knowledge
    if not isinstance(source, ReviewSource):
        return 0
    rules = bot.config.settings.nudges
    calendar = await service.calendar_for(session, bot)
    today = calendar.local(now).date()
    added = 0
    for item in await source.reviews_due(session, before=today + rules.kb_review_before):
        at = reminder_time(calendar, rules, item.review_on, rules.kb_review_before, now=now, seed=f"review:{item.key}")
        overdue = item.review_on < today
        if at is None and overdue:
            at = calendar.next_nudge_time(now, rules)  # already overdue: one reminder, at the next decent time
        if at is None:
            continue
        when = f"{item.review_on.day} {item.review_on:%B %Y}"
        text = (
            f"**{item.title}** {'was due for review on' if overdue else 'is due for review on'} **{when}**. "
            "Please check it's still right, then update it or mark it reviewed."
        )
        buttons = tuple(Button(label=label, action=action, value=value) for label, action, value in item.buttons)
        added += await bot.queue(
            session,
            ToPerson(item.owner_person_id),
            Message(text=text, buttons=buttons),
            key=f"review:{item.key}",
            not_before=at,
        )
    return added


async def next_outbox_due(bot: PeerBot) -> datetime | None:
    platforms = list(bot.deliverer.transports) or list(bot.platforms)
    async with bot.db.session() as session:
        return await outbox.next_due(session, platforms=platforms)
