"""The meeting lifecycle, one transaction at a time: plan, poll, book, move, cancel, hold;
votes, RSVPs, the agenda and the action plan.

Every function works in the caller's session (a handler's, the sweeper's, the CLI's) and
queues what it announces through the outbox in that same transaction, so a change and the
message about it are saved together or not at all. Bad requests raise
:class:`~bot.errors.BadInput` before anything is changed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.calendar import HalfTerm, SchoolCalendar
from bot.config import GroupSettings
from bot.errors import BadInput, NotFound
from bot.meetings import ics
from bot.meetings.guard import check_shareable
from bot.meetings.nudges import NudgePlan, meeting_nudges, reminder_time
from bot.meetings.plan import MIN_NOTICE, Existing, Slot, day_problems, plan_network, rehome
from bot.meetings.text import day_text, group_label, long_date, span_text, when_text
from bot.models.meetings import Action, AgendaItem, Meeting, MeetingOption, MeetingRsvp, MeetingVote
from bot.models.messaging import OutboxMessage
from bot.models.network import Network, Person
from bot.network import store
from bot.replies import Button, CalendarEvent, EditMessage, Message, OutgoingFile, ToGroup, ToPerson
from bot.roles import in_group

if TYPE_CHECKING:
    from bot.app import PeerBot

log = logging.getLogger(__name__)

MAX_AGENDA_ITEM = 300
MAX_ACTION_TEXT = 500
MAX_AGENDA_ITEMS = 40
OPEN_STATUSES = ("planned", "polling", "booked")


# -- reading -------------------------------------------------------------------------------
async def calendar_for(session: AsyncSession, bot: PeerBot) -> SchoolCalendar:
    return await SchoolCalendar.load(session, bot.network_id, bot.config)


async def meetings(session: AsyncSession, network_id: int, *, statuses: Sequence[str] | None = None) -> list[Meeting]:
    q = select(Meeting).where(Meeting.network_id == network_id)
    if statuses is not None:
        q = q.where(Meeting.status.in_(list(statuses)))
    q = q.order_by(Meeting.term_start, Meeting.group_name)
    return list((await session.execute(q)).scalars())


async def get_meeting(session: AsyncSession, network_id: int, meeting_id: int, *, lock: bool = False) -> Meeting:
    q = select(Meeting).where(Meeting.id == meeting_id, Meeting.network_id == network_id)
    if lock and _is_pg(session):
        q = q.with_for_update()
    meeting = (await session.execute(q)).scalar_one_or_none()
    if meeting is None:
        raise NotFound(f"there is no meeting number {meeting_id}")
    return meeting


def _is_pg(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"


async def lock_network(session: AsyncSession, network_id: int) -> None:
    """Serialise sweeps of one network across processes (SQLite's BEGIN IMMEDIATE already does)."""
    if _is_pg(session):
        await session.execute(select(Network.id).where(Network.id == network_id).with_for_update())


def group_settings(bot: PeerBot, group: str) -> GroupSettings:
    settings = bot.config.enabled_groups().get(group)
    if settings is None:
        raise NotFound(f"there is no group '{group}'")
    return settings


async def members(session: AsyncSession, bot: PeerBot, group: str) -> list[Person]:
    settings = bot.config.enabled_groups().get(group)
    if settings is None:
        return []
    return await store.people_with_roles(session, bot.network_id, settings.roles)


def is_member(bot: PeerBot, person: Person, group: str) -> bool:
    settings = bot.config.enabled_groups().get(group)
    return settings is not None and in_group(person.roles, settings.roles)


def person_groups(bot: PeerBot, person: Person) -> list[str]:
    return [g for g, s in bot.config.enabled_groups().items() if in_group(person.roles, s.roles)]


async def convenors(session: AsyncSession, network_id: int) -> list[Person]:
    return await store.people_with_roles(session, network_id, ["convenor"])


def to_existing(m: Meeting) -> Existing:
    return Existing(
        id=m.id,
        group=m.group_name,
        term_start=m.term_start,
        status=m.status,
        start=m.start,
        end=m.end,
        options=tuple(Slot(o.start, o.end) for o in m.options),
        poll_opens_at=m.poll_opens_at,
        poll_closes_at=m.poll_closes_at,
        problem=m.problem,
        term_end=m.term_end,
        half_term=m.half_term,
    )


async def vote_counts(session: AsyncSession, meeting: Meeting) -> dict[int, int]:
    ids = [o.id for o in meeting.options]
    if not ids:
        return {}
    q = (
        select(MeetingVote.option_id, func.count())
        .where(MeetingVote.option_id.in_(ids))
        .group_by(MeetingVote.option_id)
    )
    counts = {option_id: int(n) for option_id, n in (await session.execute(q)).all()}
    return {i: counts.get(i, 0) for i in ids}


# -- sending -------------------------------------------------------------------------------
def has_channel(bot: PeerBot, group: str) -> bool:
    return any(bot.config.group_channel(p, group) for p in bot.platforms)


async def post_to_group(
    session: AsyncSession,
    bot: PeerBot,
    group: str,
    message: Message,
    *,
    key: str,
    not_before: datetime,
    expires_at: datetime | None = None,
) -> int:
    """Post in the group's channel; where it has none on any running platform, DM each
    member instead (keys ``<key>:p<person id>``)."""
    if has_channel(bot, group):
        return await bot.queue(session, ToGroup(group), message, key=key, not_before=not_before, expires_at=expires_at)
    added = 0
    for person in await members(session, bot, group):
        added += await bot.queue(
            session,
            ToPerson(person.id),
            message,
            key=f"{key}:p{person.id}",
            not_before=not_before,
            expires_at=expires_at,
        )
    return added


async def tell_convenors(
    session: AsyncSession, bot: PeerBot, message: Message, *, key: str, not_before: datetime
) -> int:
    added = 0
    for person in await convenors(session, bot.network_id):
        added += await bot.queue(
            session, ToPerson(person.id), message, key=f"{key}:p{person.id}", not_before=not_before
        )
    return added


async def announce_time(session: AsyncSession, bot: PeerBot, now: datetime) -> datetime:
    """Announcements wait for a time a nudge may go (not at 11pm because a convenor was up late)."""
    cal = await calendar_for(session, bot)
    return cal.next_nudge_time(now, bot.config.settings.nudges) or now


def example_time(meeting: Meeting, at: time) -> str:
    """A date and time to show in "meeting book N ..." hints: mid-half-term, the usual time."""
    day = meeting.term_start + (meeting.term_end - meeting.term_start) / 2
    return f"{day.isoformat()} {at:%H:%M}"


# -- planning ------------------------------------------------------------------------------
async def sync_plans(session: AsyncSession, bot: PeerBot, calendar: SchoolCalendar, now: datetime) -> list[Meeting]:
    """Write the plan as rows: a ``planned`` meeting for every upcoming half-term of every
    group with a cadence, its candidate dates and poll window refreshed while it is still
    only planned. Returns the meetings created."""
    rows = await meetings(session, bot.network_id)
    await follow_term_changes(session, bot, calendar, rows, now)
    by_key = {(m.group_name, m.term_start): m for m in rows}
    created: list[Meeting] = []
    plans = plan_network(calendar, bot.config, [to_existing(m) for m in rows], now)
    wanted_keys = {(p.group, p.term.start) for p in plans}
    for m in rows:
        if m.status == "planned" and (m.group_name, m.term_start) not in wanted_keys:
            await session.delete(m)  # the group stopped meeting, or the half-term went: only a plan
    for plan in plans:
        if plan.fixed:
            continue
        meeting = by_key.get((plan.group, plan.term.start))
        settings = group_settings(bot, plan.group).meetings
        if meeting is None:
            meeting = Meeting(
                network_id=bot.network_id,
                group_name=plan.group,
                half_term=plan.term.name,
                term_start=plan.term.start,
                term_end=plan.term.end,
                title=f"{group_label(plan.group)} meeting — {plan.term.name}",
                status="planned",
                timezone=bot.config.settings.network.timezone,
                uid=f"{uuid.uuid4()}@peerbot",
                location=settings.location,
                join_url=settings.join_url,
                options=[],
            )
            session.add(meeting)
            created.append(meeting)
        meeting.half_term, meeting.term_end = plan.term.name, plan.term.end
        meeting.poll_opens_at, meeting.poll_closes_at = plan.poll_opens_at, plan.poll_closes_at
        meeting.location, meeting.join_url = settings.location, settings.join_url
        wanted = [(s.start, s.end) for s in plan.candidates]
        if [(o.start, o.end) for o in meeting.options] != wanted:
            meeting.options.clear()
            await session.flush()
            meeting.options.extend(MeetingOption(start=s, end=e) for s, e in wanted)
        if plan.problem and plan.problem != meeting.problem:
            meeting.problem = plan.problem
            await session.flush()
            await tell_convenors(
                session,
                bot,
                Message(
                    text=(
                        f"I can't plan the **{meeting.title}**: {plan.problem}. "
                        "Book a time yourself with "
                        f"**meeting book {meeting.id} {example_time(meeting, settings.time)}** "
                        f"(any date and time), or **meeting cancel {meeting.id}**."
                    )
                ),
                key=f"meeting:{meeting.id}:problem",
                not_before=calendar.next_nudge_time(now, bot.config.settings.nudges) or now,
            )
        elif not plan.problem:
            meeting.problem = None
    await session.flush()
    return created


async def follow_term_changes(
    session: AsyncSession, bot: PeerBot, calendar: SchoolCalendar, rows: Sequence[Meeting], now: datetime
) -> None:
    """Term dates were corrected or replaced: each open meeting moves to the half-term it
    now belongs to (:func:`~bot.meetings.plan.rehome`). A planned one is simply planned
    again; for a poll or a booked meeting the convenor is told, once per change, when its
    dates are now outside term (or its half-term has gone), and nothing is moved for them."""
    moves = rehome([to_existing(m) for m in rows], calendar.terms)
    for m in rows:
        if m.id not in moves:
            continue
        term = moves[m.id]
        if term is None:
            if m.status != "planned":  # a planned one goes with its plan
                await _tell_term_change(session, bot, calendar, m, None, key=f"term-gone:{m.term_start}", now=now)
            continue
        m.term_start, m.term_end, m.half_term = term.start, term.end, term.name
        if m.status == "planned":
            m.title = f"{group_label(m.group_name)} meeting — {term.name}"
            continue
        await _tell_term_change(session, bot, calendar, m, term, key=f"term:{term.start}:{term.end}", now=now)
    await session.flush()


async def _tell_term_change(
    session: AsyncSession,
    bot: PeerBot,
    calendar: SchoolCalendar,
    meeting: Meeting,
    term: HalfTerm | None,
    *,
    key: str,
    now: datetime,
) -> None:
    zone = _zone(meeting)
    example = example_time(meeting, group_settings(bot, meeting.group_name).meetings.time)
    fix = (
        f"Move it with **meeting book {meeting.id} {example}** (any date and time), or **meeting cancel {meeting.id}**."
    )
    if term is None:
        what = "is no longer inside any half-term loaded"
    elif meeting.status == "booked" and meeting.start is not None and meeting.end is not None:
        problems = day_problems(calendar, meeting.start.astimezone(zone).date(), term)
        if not problems:
            return
        what = f"on {span_text(meeting.start, meeting.end, zone)} is now {' and '.join(problems)}"
    else:
        bad = [o for o in meeting.options if day_problems(calendar, o.start.astimezone(zone).date(), term)]
        if not bad:
            return
        days = ", ".join(day_text(o.start.astimezone(zone).date()) for o in bad)
        what = f"has poll dates now outside {term.name} ({day_text(term.start)} to {day_text(term.end)}): {days}"
        fix = f"I won't book those. {fix}"
    if meeting.status == "booked" and term is None and meeting.start is not None:
        what = f"on {when_text(meeting.start, zone)} {what}"
    text = f"The term dates have changed, and the **{meeting.title}** {what}. {fix}"
    await tell_convenors(
        session,
        bot,
        Message(text=text),
        key=f"meeting:{meeting.id}:{key}",
        not_before=calendar.next_nudge_time(now, bot.config.settings.nudges) or now,
    )


# -- the poll ------------------------------------------------------------------------------
def poll_key(meeting: Meeting) -> str:
    return f"meeting:{meeting.id}:poll"


def poll_message(meeting: Meeting, zone_name: str, counts: dict[int, int], *, closed: bool, now: datetime) -> Message:
    zone = ZoneInfo(zone_name)
    lines = []
    for o in meeting.options:
        n = counts.get(o.id, 0)
        tally = f" — {n} can make it" if n else ""
        lines.append(f"- {span_text(o.start, o.end, zone)}{tally}")
    if closed:
        head = f"**{meeting.title}**: the poll has closed."
        if meeting.status == "booked" and meeting.start:
            head += f" Booked for **{when_text(meeting.start, zone)}**."
        elif meeting.status == "cancelled":
            head += " The meeting was cancelled."
        return Message(text="\n".join([head, *lines]))
    closes = (
        f" I'll book the best-attended date on {when_text(meeting.poll_closes_at, zone)}."
        if (meeting.poll_closes_at)
        else ""
    )
    head = (
        f"**{meeting.title}**: which dates can you make? Tick every one that works for you "
        f"(press again to untick).{closes}"
    )
    buttons = tuple(
        Button(label=when_text(o.start, zone), action="meeting.vote", value=str(o.id)) for o in meeting.options
    )
    return Message(text="\n".join([head, *lines]), buttons=buttons)


async def open_poll(session: AsyncSession, bot: PeerBot, meeting: Meeting, now: datetime) -> None:
    if meeting.status != "planned":
        return
    if not meeting.options:
        meeting.poll_opens_at = None  # nothing to poll; the convenor has been told why
        return
    meeting.status = "polling"
    counts = {o.id: 0 for o in meeting.options}
    await session.flush()
    await post_to_group(
        session,
        bot,
        meeting.group_name,
        poll_message(meeting, meeting.timezone, counts, closed=False, now=now),
        key=poll_key(meeting),
        not_before=now,
        expires_at=meeting.poll_closes_at,
    )


async def _refresh_poll(session: AsyncSession, bot: PeerBot, meeting: Meeting, now: datetime, *, closed: bool) -> None:
    """Show the poll's current tallies (or that it closed) in its channel message."""
    if not has_channel(bot, meeting.group_name):
        return
    meeting.poll_revision += 1
    counts = await vote_counts(session, meeting)
    message = poll_message(meeting, meeting.timezone, counts, closed=closed, now=now)
    await bot.queue(
        session,
        EditMessage(key=poll_key(meeting)),
        message,
        key=f"{poll_key(meeting)}:v{meeting.poll_revision}",
        not_before=now,
    )


@dataclass(frozen=True)
class VoteResult:
    meeting: Meeting
    option: MeetingOption
    added: bool
    ticked: list[MeetingOption]


async def toggle_vote(session: AsyncSession, bot: PeerBot, person: Person, option_id: int, now: datetime) -> VoteResult:
    option = await session.get(MeetingOption, option_id)
    if option is None:
        raise BadInput("that date is no longer on offer — the poll may have been replanned")
    meeting = await get_meeting(session, bot.network_id, option.meeting_id, lock=True)
    closes = meeting.poll_closes_at
    if meeting.status != "polling" or meeting.poll_closed_at is not None or (closes is not None and now >= closes):
        raise BadInput(f"the poll for the {meeting.title} has closed")
    if not is_member(bot, person, meeting.group_name):
        raise BadInput(
            f"this poll is for the {group_label(meeting.group_name)} group, and you're not in it, "
            "so I haven't counted that"
        )
    existing = await session.get(MeetingVote, (option.id, person.id))
    if existing is not None:
        await session.delete(existing)
    else:
        session.add(MeetingVote(option_id=option.id, person_id=person.id, voted_at=now))
    await session.flush()
    q = select(MeetingVote.option_id).where(
        MeetingVote.person_id == person.id, MeetingVote.option_id.in_([o.id for o in meeting.options])
    )
    mine = set((await session.execute(q)).scalars())
    await _refresh_poll(session, bot, meeting, now, closed=False)
    return VoteResult(meeting, option, existing is None, [o for o in meeting.options if o.id in mine])


async def _bookable(
    session: AsyncSession, bot: PeerBot, meeting: Meeting, now: datetime
) -> tuple[list[MeetingOption], list[MeetingOption], dict[int, int]]:
    """The poll's dates still ahead, those of them still in term, and the votes for each."""
    counts = await vote_counts(session, meeting)
    calendar = await calendar_for(session, bot)
    term = next((t for t in calendar.terms if t.start == meeting.term_start), None)
    zone = _zone(meeting)
    upcoming = [o for o in meeting.options if o.start > now + MIN_NOTICE]
    future = [o for o in upcoming if not day_problems(calendar, o.start.astimezone(zone).date(), term)]
    return upcoming, future, counts


def _choice_buttons(meeting: Meeting, future: Sequence[MeetingOption], counts: dict[int, int]) -> tuple[Button, ...]:
    """A button per date the convenor can still book (the best-attended highlighted), and "Cancel"."""
    zone = _zone(meeting)
    best = max((counts[o.id] for o in future), default=0)
    buttons = [
        Button(
            label=f"{when_text(o.start, zone)} ({counts[o.id]})",
            action="meeting.book",
            value=str(o.id),
            style="primary" if counts[o.id] == best and best > 0 else "default",
        )
        for o in future
    ]
    buttons.append(Button(label="Cancel this meeting", action="meeting.cancel", value=str(meeting.id), style="danger"))
    return tuple(buttons)


async def close_poll(session: AsyncSession, bot: PeerBot, meeting: Meeting, now: datetime) -> str:
    """Close the poll: book the best-attended date, or ask the convenor when dates tie or
    nobody answered. Returns what happened, for the convenor."""
    if meeting.status != "polling" or meeting.poll_closed_at is not None:
        raise BadInput(f"the {meeting.title} has no open poll")
    meeting.poll_closed_at = now
    upcoming, future, counts = await _bookable(session, bot, meeting, now)
    best = max((counts[o.id] for o in future), default=0)
    winners = [o for o in future if counts[o.id] == best]
    if future and best > 0 and len(winners) == 1:
        await book(session, bot, meeting, winners[0].start, winners[0].end, now)
        return f"booked for {when_text(winners[0].start, _zone(meeting))}"
    await _refresh_poll(session, bot, meeting, now, closed=True)
    if not future:
        reason = "every date in its poll has passed" if not upcoming else "none of its dates is in term any more"
    elif best == 0:
        voted = any(counts[o.id] for o in upcoming)
        reason = "nobody chose a date that is still in term" if voted else "nobody answered its poll"
    else:
        reason = f"{len(winners)} dates tied, with {best} each"
    people = await convenors(session, bot.network_id)
    if not people and future:
        choice = min(winners, key=lambda o: o.start)
        await book(session, bot, meeting, choice.start, choice.end, now, note=f"{reason[0].upper()}{reason[1:]}: ")
        return f"{reason}; booked the earliest, {when_text(choice.start, _zone(meeting))}"
    text = f"The poll for the **{meeting.title}** has closed and {reason}. Which date shall I book?"
    if not future:
        example = example_time(meeting, group_settings(bot, meeting.group_name).meetings.time)
        text = (
            f"The poll for the **{meeting.title}** has closed and {reason}. Book a new time with "
            f"**meeting book {meeting.id} {example}**, or cancel it."
        )
    await tell_convenors(
        session,
        bot,
        Message(text=text, buttons=_choice_buttons(meeting, future, counts)),
        key=f"meeting:{meeting.id}:decide",
        not_before=await announce_time(session, bot, now),
    )
    return f"{reason}; the convenor has been asked to choose"


DECIDE_REMINDER_DAYS = 3  # school days after the convenor was asked to choose a date


def decide_reminder_due(calendar: SchoolCalendar, meeting: Meeting) -> datetime | None:
    """When to remind the convenor that a closed poll still waits for them to choose."""
    if meeting.status != "polling" or meeting.poll_closed_at is None:
        return None
    day = datetime.combine(date.min, calendar.day_end) - datetime.combine(date.min, calendar.day_start)
    return calendar.add_school_time(meeting.poll_closed_at, DECIDE_REMINDER_DAYS * day)


async def remind_undecided(
    session: AsyncSession, bot: PeerBot, calendar: SchoolCalendar, meeting: Meeting, now: datetime
) -> int:
    """Remind the convenor, once, of a poll closed a few school days ago that still waits for
    them to choose a date (a tie, or nobody answered)."""
    due = decide_reminder_due(calendar, meeting)
    if due is None or now < due or meeting.poll_closed_at is None:
        return 0
    _, future, counts = await _bookable(session, bot, meeting, now)
    closed = long_date(meeting.poll_closed_at.astimezone(_zone(meeting)).date())
    text = f"Reminder: the **{meeting.title}** still needs a date (its poll closed on {closed}). "
    if future:
        text += "Which date shall I book?"
    else:
        example = example_time(meeting, group_settings(bot, meeting.group_name).meetings.time)
        text += f"Its dates have passed: book a new time with **meeting book {meeting.id} {example}**, or cancel it."
    return await tell_convenors(
        session,
        bot,
        Message(text=text, buttons=_choice_buttons(meeting, future, counts)),
        key=f"meeting:{meeting.id}:decide:reminder",
        not_before=calendar.next_nudge_time(now, bot.config.settings.nudges) or now,
    )


def _zone(meeting: Meeting) -> ZoneInfo:
    return ZoneInfo(meeting.timezone)


# -- booking, moving, cancelling --------------------------------------------------------------
def invite_for(
    bot: PeerBot, meeting: Meeting, now: datetime, organizer: Person | None, people: Sequence[Person]
) -> ics.Invite:
    assert meeting.start is not None and meeting.end is not None
    return ics.Invite(
        uid=meeting.uid,
        sequence=meeting.sequence,
        title=meeting.title,
        start=meeting.start,
        end=meeting.end,
        zone=_zone(meeting),
        stamp=now,
        description=f"{bot.config.network_name}: {meeting.title}.",
        location=meeting.location,
        url=meeting.join_url,
        organizer=(organizer.name, organizer.email) if organizer else None,
        attendees=[(p.name, p.email) for p in people],
    )


def calendar_event(meeting: Meeting, *, cancelled: bool = False) -> CalendarEvent:
    assert meeting.start is not None and meeting.end is not None
    return CalendarEvent(
        key=f"meeting:{meeting.id}",
        title=meeting.title,
        start=meeting.start,
        end=meeting.end,
        description=f"{meeting.title}. Add agenda items with: agenda add <your item>",
        location=meeting.join_url or meeting.location,
        cancelled=cancelled,
    )


def rsvp_buttons(meeting: Meeting) -> tuple[Button, ...]:
    return (
        Button(label="I'll be there", action="meeting.rsvp", value=f"{meeting.id}:yes", style="primary"),
        Button(label="Can't make it", action="meeting.rsvp", value=f"{meeting.id}:no"),
    )


def _where(meeting: Meeting) -> str:
    parts = []
    if meeting.location:
        parts.append(f"Where: {meeting.location}")
    if meeting.join_url:
        parts.append(f"Join: {meeting.join_url}")
    return "\n".join(parts)


async def booking_problems(
    session: AsyncSession, bot: PeerBot, meeting: Meeting, start: datetime, end: datetime
) -> list[str]:
    """Why a time the convenor typed is a poor one for ``meeting``, as phrases to follow
    "it is" (empty when it is fine): a bank holiday, a weekend, outside its half-term, an
    INSET day, outside the school day, or at the same time as another booked meeting."""
    calendar = await calendar_for(session, bot)
    zone = _zone(meeting)
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    term = HalfTerm(meeting.half_term, meeting.term_start, meeting.term_end)
    problems = day_problems(calendar, local_start.date(), term)
    hours, rules = bot.config.settings.school_hours, bot.config.settings.nudges
    opens, closes = min(hours.start, rules.earliest), max(hours.end, rules.latest)
    if local_start.time() < opens or local_end.date() != local_start.date() or local_end.time() > closes:
        problems.append(f"outside the school day ({opens:%H:%M}–{closes:%H:%M})")
    q = select(Meeting).where(
        Meeting.network_id == bot.network_id,
        Meeting.id != meeting.id,
        Meeting.status.in_(("booked", "held")),
        Meeting.start < end,
        Meeting.end > start,
    )
    for other in (await session.execute(q)).scalars():
        if other.start is not None and other.end is not None:
            problems.append(f"at the same time as the {other.title} ({span_text(other.start, other.end, zone)})")
    return problems


def refusal(meeting: Meeting, start: datetime, problems: Sequence[str]) -> str:
    """One sentence: why a time was not booked."""
    return f"{when_text(start, _zone(meeting))} is {' and '.join(problems)}"


async def book(
    session: AsyncSession,
    bot: PeerBot,
    meeting: Meeting,
    start: datetime,
    end: datetime,
    now: datetime,
    *,
    note: str = "",
) -> None:
    """Book (or move) the meeting to ``start``–``end``: the invitation or its update goes to
    the group, the nudges are (re)scheduled."""
    if meeting.status not in OPEN_STATUSES:
        raise BadInput(f"the {meeting.title} is {meeting.status}, so it can't be booked")
    if start <= now:
        raise BadInput("that time has already passed: choose a time in the future")
    if end <= start:
        raise BadInput("a meeting must end after it starts")
    moving = meeting.status == "booked"
    if moving:
        if meeting.start == start and meeting.end == end:
            raise BadInput(f"the {meeting.title} is already booked for that time")
        meeting.sequence += 1
    if meeting.status == "polling" and meeting.poll_closed_at is None:
        meeting.poll_closed_at = now
    was_polling = meeting.status == "polling"
    meeting.status, meeting.start, meeting.end = "booked", start, end
    meeting.problem = None
    await session.flush()
    if was_polling:
        await _refresh_poll(session, bot, meeting, now, closed=True)
    # An announcement of the old time still waiting to go is replaced by this one (and if
    # the group never saw the old time, this is simply the booking).
    unsent = await outbox.cancel(session, network_id=bot.network_id, key_prefix=f"meeting:{meeting.id}:booked:")
    zone = _zone(meeting)
    people = await members(session, bot, meeting.group_name)
    organizer = next(iter(await convenors(session, bot.network_id)), None)
    data = ics.build_ics(invite_for(bot, meeting, now, organizer, people), "REQUEST")
    verb = "moved to" if moving and not unsent else "booked for"
    day = long_date(start.astimezone(zone).date())
    lines = [f"{note}**{meeting.title}** {verb} **{span_text(start, end, zone)}** ({day})."]
    if where := _where(meeting):
        lines.append(where)
    lines.append("Add agenda items with **agenda add** and your item. The calendar invitation is attached.")
    message = Message(
        text="\n".join(lines),
        buttons=rsvp_buttons(meeting),
        files=(OutgoingFile(name="meeting.ics", data=data, content_type=ics.ICS_CONTENT_TYPE),),
        calendar=calendar_event(meeting),
    )
    await post_to_group(
        session,
        bot,
        meeting.group_name,
        message,
        key=f"meeting:{meeting.id}:booked:{meeting.sequence}",
        not_before=await announce_time(session, bot, now),
        expires_at=start,
    )
    # After the announcement, so that a nudge due at the same moment (the agenda of a
    # meeting booked at short notice) follows it rather than arriving first.
    await schedule_meeting_nudges(session, bot, meeting, now)


async def cancel_meeting(session: AsyncSession, bot: PeerBot, meeting: Meeting, now: datetime) -> None:
    if meeting.status not in OPEN_STATUSES:
        raise BadInput(f"the {meeting.title} is already {meeting.status}")
    was = meeting.status
    meeting.status = "cancelled"
    await outbox.cancel(session, network_id=bot.network_id, key_prefix=f"meeting:{meeting.id}:")
    await session.flush()
    when = await announce_time(session, bot, now)
    if was == "booked" and meeting.start is not None and meeting.start > now:
        meeting.sequence += 1
        people = await members(session, bot, meeting.group_name)
        organizer = next(iter(await convenors(session, bot.network_id)), None)
        data = ics.build_ics(invite_for(bot, meeting, now, organizer, people), "CANCEL")
        message = Message(
            text=(
                f"**{meeting.title}** on {span_text(meeting.start, meeting.end or meeting.start, _zone(meeting))} "
                "is **cancelled**. The attached update removes it from your calendar."
            ),
            files=(OutgoingFile(name="meeting-cancelled.ics", data=data, content_type=ics.ICS_CONTENT_TYPE),),
            calendar=calendar_event(meeting, cancelled=True),
        )
        await post_to_group(
            session,
            bot,
            meeting.group_name,
            message,
            key=f"meeting:{meeting.id}:cancelled:{meeting.sequence}",
            not_before=when,
        )
    elif was == "polling":
        await _refresh_poll(session, bot, meeting, now, closed=True)


async def mark_held(session: AsyncSession, bot: PeerBot, meeting: Meeting, now: datetime) -> None:
    """The meeting has ended: ask the group for the actions agreed."""
    if meeting.status != "booked":
        return
    meeting.status = "held"
    meeting.actions_prompted_at = now
    text = (
        f"Thank you for the **{meeting.title}**. Please record the actions agreed, each with a named "
        "owner and a review date, e.g.\n"
        "**action add Jo Khan by 15 Jan: share the phonics catch-up plan**\n"
        f"I'll remind owners {_before_text(bot.config.settings.nudges.action_review_before)} before their review dates."
    )
    await post_to_group(
        session,
        bot,
        meeting.group_name,
        Message(text=text, buttons=(Button(label="Open actions", action="actions.list", value=meeting.group_name),)),
        key=f"meeting:{meeting.id}:actions",
        not_before=await announce_time(session, bot, now),
    )


def _before_text(delta: timedelta) -> str:
    days = delta.days
    if days and days % 7 == 0:
        weeks = days // 7
        return "a week" if weeks == 1 else f"{weeks} weeks"
    if days:
        return "a day" if days == 1 else f"{days} days"
    hours = int(delta.total_seconds() // 3600)
    return "an hour" if hours == 1 else f"{hours} hours"


# -- nudges --------------------------------------------------------------------------------
def nudge_key(meeting: Meeting, plan: NudgePlan) -> str:
    return f"meeting:{meeting.id}:nudge:{plan.label}:{meeting.sequence}"


async def schedule_meeting_nudges(session: AsyncSession, bot: PeerBot, meeting: Meeting, now: datetime) -> int:
    """Cancel the meeting's waiting nudges and queue them for its current time."""
    assert meeting.start is not None
    await outbox.cancel(session, network_id=bot.network_id, key_prefix=f"meeting:{meeting.id}:nudge:")
    cal = await calendar_for(session, bot)
    plans = meeting_nudges(cal, bot.config.settings.nudges, meeting.start, now=now, seed=f"meeting:{meeting.id}")
    meeting.agenda_at, meeting.agenda_key = None, None
    added = 0
    for plan in plans:
        key = nudge_key(meeting, plan)
        if plan.kind == "agenda":
            meeting.agenda_at, meeting.agenda_key = plan.at, key
        message = await nudge_message(session, bot, meeting, plan.kind)
        added += await post_to_group(
            session, bot, meeting.group_name, message, key=key, not_before=plan.at, expires_at=plan.expires_at
        )
    return added


async def agenda_items(session: AsyncSession, meeting: Meeting) -> list[AgendaItem]:
    q = select(AgendaItem).where(AgendaItem.meeting_id == meeting.id).order_by(AgendaItem.created_at, AgendaItem.id)
    return list((await session.execute(q)).unique().scalars())


def agenda_lines(items: Sequence[AgendaItem]) -> list[str]:
    lines = []
    for i, item in enumerate(items, 1):
        who = f" ({item.person.name}, {item.person.school.name})" if item.person else ""
        lines.append(f"{i}. {item.text}{who}")
    return lines


async def nudge_message(session: AsyncSession, bot: PeerBot, meeting: Meeting, kind: str) -> Message:
    assert meeting.start is not None and meeting.end is not None
    zone = _zone(meeting)
    span = span_text(meeting.start, meeting.end, zone)
    where = _where(meeting)
    if kind == "call":
        agenda_when = f" The agenda goes out {when_text(meeting.agenda_at, zone)}." if meeting.agenda_at else ""
        text = (
            f"**{meeting.title}** is coming up: {span}. Anything for the agenda? "
            f"Type **agenda add** and your item.{agenda_when}"
        )
        return Message(text=text, buttons=rsvp_buttons(meeting))
    if kind == "agenda":
        items = await agenda_lines_for(session, meeting)
        body = "\n".join(items) if items else "No items were added: bring anything you'd like to raise."
        text = f"**{meeting.title}** — {span}.\n{where + chr(10) if where else ''}**Agenda**\n{body}"
        return Message(text=text, buttons=rsvp_buttons(meeting))
    local = meeting.start.astimezone(zone)
    text = f"**{meeting.title}** starts at **{local:%H:%M}** today ({local.day} {local:%b})."
    if where:
        text += "\n" + where
    return Message(text=text)


async def agenda_lines_for(session: AsyncSession, meeting: Meeting) -> list[str]:
    return agenda_lines(await agenda_items(session, meeting))


async def refresh_agenda_nudge(session: AsyncSession, bot: PeerBot, meeting: Meeting) -> None:
    """Rewrite the waiting "here is the agenda" nudge with the agenda as it is now."""
    if not meeting.agenda_key or meeting.status != "booked":
        return
    message = (await nudge_message(session, bot, meeting, "agenda")).to_json()
    await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.network_id == bot.network_id,
            OutboxMessage.status == "pending",
            (OutboxMessage.key == meeting.agenda_key) | OutboxMessage.key.startswith(f"{meeting.agenda_key}:p"),
        )
        .values(message=message)
    )


# -- RSVPs ---------------------------------------------------------------------------------
async def rsvp(
    session: AsyncSession, bot: PeerBot, person: Person, meeting_id: int, answer: str, now: datetime
) -> Meeting:
    if answer not in ("yes", "no"):
        raise BadInput("that answer isn't one I know")
    meeting = await get_meeting(session, bot.network_id, meeting_id)
    if not is_member(bot, person, meeting.group_name):
        raise BadInput(
            f"the {meeting.title} is for the {group_label(meeting.group_name)} group, and you're not in it, "
            "so I haven't recorded that"
        )
    if meeting.status != "booked" or meeting.end is None or meeting.end <= now:
        raise BadInput(f"the {meeting.title} is {'over' if meeting.status == 'held' else meeting.status}")
    row = await session.get(MeetingRsvp, (meeting.id, person.id))
    if row is None:
        session.add(MeetingRsvp(meeting_id=meeting.id, person_id=person.id, answer=answer, answered_at=now))
    else:
        row.answer, row.answered_at = answer, now
    await session.flush()
    return meeting


async def rsvp_counts(session: AsyncSession, meeting_id: int) -> dict[str, int]:
    q = (
        select(MeetingRsvp.answer, func.count())
        .where(MeetingRsvp.meeting_id == meeting_id)
        .group_by(MeetingRsvp.answer)
    )
    return {a: int(n) for a, n in (await session.execute(q)).all()}


# -- the agenda ----------------------------------------------------------------------------
async def next_meeting(session: AsyncSession, bot: PeerBot, groups: Sequence[str], now: datetime) -> Meeting | None:
    """The soonest meeting still to come of any of ``groups``."""
    if not groups:
        return None
    today = now.astimezone(bot.config.zone).date()
    q = select(Meeting).where(
        Meeting.network_id == bot.network_id,
        Meeting.group_name.in_(list(groups)),
        Meeting.status.in_(OPEN_STATUSES),
        Meeting.term_end >= today,
    )
    found = [m for m in (await session.execute(q)).scalars() if m.start is None or m.end is None or m.end > now]

    def order(m: Meeting) -> datetime:
        if m.start is not None:
            return m.start
        first = m.options[0].start if m.options else None
        return first or datetime.combine(m.term_end, datetime.min.time(), tzinfo=bot.config.zone)

    return min(found, key=order) if found else None


async def add_agenda_item(
    session: AsyncSession, bot: PeerBot, meeting: Meeting, person: Person, text: str, now: datetime
) -> int:
    """Add an item; returns its number on the agenda."""
    text = " ".join(text.split())
    if not text:
        raise BadInput("what would you like on the agenda? e.g. **agenda add** attendance strategies")
    if len(text) > MAX_AGENDA_ITEM:
        raise BadInput(f"please keep an agenda item under {MAX_AGENDA_ITEM} characters")
    check_shareable(text, today=now.astimezone(bot.config.zone).date())
    if not (is_member(bot, person, meeting.group_name) or person.is_convenor):
        raise BadInput(f"the {meeting.title} is for the {group_label(meeting.group_name)} group, and you're not in it")
    if meeting.agenda_at is not None and now >= meeting.agenda_at:
        raise BadInput(f"the agenda for the {meeting.title} has already gone out: raise it under any other business")
    items = await agenda_items(session, meeting)
    if len(items) >= MAX_AGENDA_ITEMS:
        raise BadInput(f"the agenda already has {MAX_AGENDA_ITEMS} items: talk to the convenor")
    session.add(AgendaItem(meeting_id=meeting.id, person_id=person.id, text=text, created_at=now))
    await session.flush()
    await refresh_agenda_nudge(session, bot, meeting)
    return len(items) + 1


async def remove_agenda_item(
    session: AsyncSession, bot: PeerBot, meeting: Meeting, person: Person, number: int, now: datetime
) -> str:
    items = await agenda_items(session, meeting)
    if not 1 <= number <= len(items):
        raise BadInput(f"the agenda has no item {number}")
    item = items[number - 1]
    if item.person_id != person.id and not person.is_convenor:
        raise BadInput("you can only remove items you added")
    if meeting.agenda_at is not None and now >= meeting.agenda_at:
        raise BadInput(f"the agenda for the {meeting.title} has already gone out")
    await session.execute(delete(AgendaItem).where(AgendaItem.id == item.id))
    await session.flush()
    await refresh_agenda_nudge(session, bot, meeting)
    return item.text


# -- the action plan -----------------------------------------------------------------------
def action_key(action: Action) -> str:
    return f"action:{action.id}:review:{action.revision}"


async def add_action(
    session: AsyncSession,
    bot: PeerBot,
    *,
    owner: Person,
    review_on: date,
    action: str,
    now: datetime,
    aim: str = "",
    notes: str = "",
    meeting: Meeting | None = None,
    group: str | None = None,
    source: str = "meeting",
    source_ref: str | None = None,
    created_by: Person | None = None,
) -> Action:
    """Add a line to the action plan and schedule its owner's review reminder."""
    text = " ".join(action.split())
    if not text:
        raise BadInput("what is the action? e.g. **action add Jo Khan by 15 Jan: share the plan**")
    if len(text) > MAX_ACTION_TEXT or len(aim) > MAX_ACTION_TEXT or len(notes) > 2000:
        raise BadInput(f"please keep an action under {MAX_ACTION_TEXT} characters")
    today = now.astimezone(bot.config.zone).date()
    for part in (text, aim, notes):
        check_shareable(part, today=today)
    if not owner.active or owner.network_id != bot.network_id:
        raise BadInput(f"{owner.name} is no longer in the network")
    if review_on < today:
        raise BadInput(f"the review date {long_date(review_on)} has already passed")
    if review_on > today + timedelta(days=3 * 366):
        raise BadInput("that review date is more than three years away")
    row = Action(
        network_id=bot.network_id,
        meeting_id=meeting.id if meeting else None,
        group_name=group or (meeting.group_name if meeting else None),
        source=source,
        source_ref=source_ref,
        aim=aim.strip() or (meeting.title if meeting else ""),
        action=text,
        owner_id=owner.id,
        review_on=review_on,
        notes=notes.strip(),
        status="open",
        revision=0,
        created_by=created_by.id if created_by else None,
        created_at=now,
        updated_at=now,
        extra={},
    )
    session.add(row)
    await session.flush()
    row.owner = owner
    await schedule_action_reminder(session, bot, row, now)
    return row


async def schedule_action_reminder(session: AsyncSession, bot: PeerBot, action: Action, now: datetime) -> int:
    await outbox.cancel(session, network_id=bot.network_id, key_prefix=f"action:{action.id}:review:")
    if action.status != "open" or action.owner_id is None:
        return 0
    cal = await calendar_for(session, bot)
    rules = bot.config.settings.nudges
    at = reminder_time(cal, rules, action.review_on, rules.action_review_before, now=now, seed=action_key(action))
    if at is None:
        return 0
    text = (
        f"Reminder: your action **{action.action}** is due for review on **{long_date(action.review_on)}**"
        f"{' (' + action.aim + ')' if action.aim else ''}. Is it done?"
    )
    buttons = (Button(label="Mark it done", action="action.done", value=str(action.id), style="primary"),)
    return await bot.queue(
        session, ToPerson(action.owner_id), Message(text=text, buttons=buttons), key=action_key(action), not_before=at
    )


async def move_review(session: AsyncSession, bot: PeerBot, action: Action, review_on: date, now: datetime) -> None:
    today = now.astimezone(bot.config.zone).date()
    if review_on < today:
        raise BadInput(f"the review date {long_date(review_on)} has already passed")
    action.review_on = review_on
    action.revision += 1
    action.updated_at = now
    await schedule_action_reminder(session, bot, action, now)


async def complete_action(session: AsyncSession, bot: PeerBot, action: Action, person: Person, now: datetime) -> None:
    if action.status != "open":
        raise BadInput(f"action {action.id} is already {action.status}")
    if person.id not in (action.owner_id, action.created_by) and not person.is_convenor:
        raise BadInput("only the action's owner (or the convenor) can mark it done")
    action.status, action.done_at, action.updated_at = "done", now, now
    await outbox.cancel(session, network_id=bot.network_id, key_prefix=f"action:{action.id}:review:")


async def get_action(session: AsyncSession, network_id: int, action_id: int) -> Action:
    action = await session.get(Action, action_id)
    if action is None or action.network_id != network_id:
        raise NotFound(f"there is no action number {action_id}")
    return action


async def open_actions(
    session: AsyncSession, network_id: int, *, owner_id: int | None = None, group: str | None = None
) -> list[Action]:
    q = select(Action).where(Action.network_id == network_id, Action.status == "open")
    if owner_id is not None:
        q = q.where(Action.owner_id == owner_id)
    if group is not None:
        q = q.where(Action.group_name == group)
    q = q.order_by(Action.review_on, Action.id)
    return list((await session.execute(q)).unique().scalars())


async def last_held(session: AsyncSession, bot: PeerBot, groups: Sequence[str]) -> Meeting | None:
    if not groups:
        return None
    q = (
        select(Meeting)
        .where(Meeting.network_id == bot.network_id, Meeting.group_name.in_(list(groups)), Meeting.status == "held")
        .order_by(Meeting.end.desc())
        .limit(1)
    )
    return (await session.execute(q)).scalar_one_or_none()


# -- delivery problems ---------------------------------------------------------------------
async def failed_deliveries(
    session: AsyncSession, network_id: int, *, since: datetime | None = None
) -> list[OutboxMessage]:
    q = select(OutboxMessage).where(OutboxMessage.network_id == network_id, OutboxMessage.status == "failed")
    if since is not None:
        q = q.where(OutboxMessage.created_at >= since)
    return list((await session.execute(q.order_by(OutboxMessage.id))).scalars())


def describe_delivery(row: OutboxMessage) -> str:
    """What a failed message was and why, without its text."""
    target = row.target
    kind = target.get("kind")
    if kind == "group":
        to = f"#{target.get('group')}"
    elif kind == "person":
        to = "someone who asked anonymously" if target.get("anonymous") else f"person {target.get('person_id')}"
    else:
        to = str(kind)
    return f"{row.key} to {to} on {row.platform}: {row.last_error or 'failed'}"


async def retry_delivery(session: AsyncSession, network_id: int, row_id: int, now: datetime) -> OutboxMessage:
    """Send a failed message again (``peerbot outbox retry N``, once its cause is fixed)."""
    row = await session.get(OutboxMessage, row_id)
    if row is None or row.network_id != network_id:
        raise BadInput(f"there is no message number {row_id}")
    if row.status != "failed":
        raise BadInput(f"message {row_id} is {row.status}, not failed")
    row.status, row.attempts, row.not_before, row.lease_until = "pending", 0, now, None
    row.reported_at = None  # if it fails again, the convenor hears again
    return row


async def report_failures(session: AsyncSession, bot: PeerBot, now: datetime) -> int:
    """Tell the convenors, once per failure, about messages that could not be delivered:
    every failed row not yet reported (``reported_at``), whenever it failed — a row that
    gave up after its retries, or failed again after ``outbox retry``, is reported too."""
    q = select(OutboxMessage).where(
        OutboxMessage.network_id == bot.network_id,
        OutboxMessage.status == "failed",
        OutboxMessage.reported_at.is_(None),
        ~OutboxMessage.key.startswith("delivery-failures:"),
    )
    rows = list((await session.execute(q.order_by(OutboxMessage.id))).scalars())
    if not rows:
        return 0
    for row in rows:
        row.reported_at = now
    lines = [f"I couldn't deliver {len(rows)} message{'s' if len(rows) != 1 else ''}:"]
    lines += [f"- {describe_delivery(r)}" for r in rows[:10]]
    if len(rows) > 10:
        lines.append(f"- and {len(rows) - 10} more")
    lines.append("`peerbot outbox failed` lists them; `peerbot outbox retry ID` sends one again once it's fixed.")
    return await tell_convenors(
        session,
        bot,
        Message(text="\n".join(lines)),
        key=f"delivery-failures:{rows[0].id}-{rows[-1].id}:{now:%Y%m%dT%H%M%S}",
        not_before=await announce_time(session, bot, now),
    )
