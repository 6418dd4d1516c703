"""When nudges and reminders go, as outbox rows with idempotency keys.

Timing rules (all in the network's zone, via :meth:`SchoolCalendar.next_nudge_time`):

- A nudge due at an allowed time goes then. One due at night, at a weekend or in the
  holidays goes at the next allowed time if that is still no later than half its offset
  before the meeting (a 14-day nudge may slip a week), otherwise at the last allowed
  time before it is due (a 2-day nudge due on Saturday goes on Friday evening). Moved
  nudges, and review reminders (09:00–10:00), are spread over an hour by a hash of their
  key, so that thousands of networks do not all queue at 07:30:00 on Monday.
- "Starting soon" never moves to an earlier day: for a meeting before ``earliest`` (or
  after ``latest``) it goes at ``earliest`` (``latest``) on the day, if that is before
  the start, and otherwise not at all (:func:`place_on_the_day`).
- Each nudge has an ``expires_at`` after which it is pointless and the deliverer skips
  it: the "add agenda items" call expires when the agenda goes out, the agenda and the
  "starting soon" nudge when the meeting starts. Action and knowledge-base review
  reminders do not expire: a late reminder is still worth having.
- **A bot that was down when nudges fell due** sends each one once when it comes back,
  unless it has expired by then; if it comes back at night, at a weekend or in the
  holidays, waiting nudges (and requests to peers) are moved to the next allowed time
  first (:func:`retime_overdue`), so nobody is nudged at 11pm because the bot restarted
  then. A retry after a platform error or a rate limit likewise waits for an allowed time
  (:mod:`bot.delivery`).

Keys: ``meeting:<id>:nudge:<offset>:<sequence>`` (a reschedule raises the sequence, so
the new nudges are new rows, and the old ones are cancelled by prefix),
``action:<id>:review:<revision>``, ``review:<source key>`` for knowledge-base entries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.calendar import SchoolCalendar
from bot.config import NudgeSettings
from bot.meetings.text import duration_label
from bot.models.messaging import OutboxMessage
from bot.outbox import NUDGE_KEY_PREFIXES, keeps_sending_hours

NudgeKind = Literal["call", "agenda", "soon"]
REMINDER_TIME = time(9, 0)
SPREAD = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class NudgePlan:
    kind: NudgeKind
    offset: timedelta
    at: datetime
    expires_at: datetime

    @property
    def label(self) -> str:
        return duration_label(self.offset)


def wall_before(instant: datetime, offset: timedelta, zone: ZoneInfo) -> datetime:
    """``offset`` before ``instant``; whole days are counted on the wall clock, so "14 days
    before a 09:30 meeting" is 09:30 whichever side of a clock change it falls."""
    if offset % timedelta(days=1):
        return instant - offset
    local = instant.astimezone(zone).replace(tzinfo=None) - offset
    return local.replace(tzinfo=zone).astimezone(UTC)


def nudge_kinds(offsets: Sequence[timedelta]) -> list[tuple[timedelta, NudgeKind]]:
    """What each configured offset is for, largest first: the smallest is "starting soon"
    (with the joining link), the next "here is the agenda", any larger "add agenda items".
    A single offset sends the agenda."""
    ordered = sorted(set(offsets), reverse=True)
    if len(ordered) == 1:
        return [(ordered[0], "agenda")]
    kinds: list[tuple[timedelta, NudgeKind]] = []
    for i, offset in enumerate(ordered):
        from_end = len(ordered) - 1 - i
        kinds.append((offset, "soon" if from_end == 0 else "agenda" if from_end == 1 else "call"))
    return kinds


def jitter(seed: str, window: timedelta = SPREAD) -> timedelta:
    """A stable offset within ``window`` for ``seed`` (an outbox key): the same nudge always
    gets the same time, and thousands of networks' nudges moved out of the night do not
    all fire at 07:30:00."""
    digest = int.from_bytes(hashlib.blake2b(seed.encode(), digest_size=4).digest(), "big")
    return timedelta(seconds=digest % int(window.total_seconds()))


def place_nudge(
    calendar: SchoolCalendar,
    rules: NudgeSettings,
    due: datetime,
    *,
    latest: datetime,
    floor: datetime,
    seed: str | None = None,
) -> datetime | None:
    """When a nudge meant for ``due`` may go: see the module's rules. ``None`` if there is
    no allowed time between ``floor`` and ``latest``. A nudge that has to move is spread
    over the hour after (or before) the allowed time it moves to, by ``seed``."""
    if due < floor:
        return None
    if calendar.nudge_allowed(due, rules):
        return due
    later = calendar.next_nudge_time(due, rules)
    if later is not None and later <= latest:
        if seed is not None:
            spread = later + jitter(seed)
            if spread <= latest and calendar.nudge_allowed(spread, rules):
                return spread
        return later
    earlier = calendar.previous_nudge_time(due, rules, floor=floor)
    if earlier is not None and seed is not None:
        spread = earlier - jitter(seed)
        if spread >= floor and calendar.nudge_allowed(spread, rules):
            return spread
    return earlier


def place_on_the_day(
    calendar: SchoolCalendar,
    rules: NudgeSettings,
    due: datetime,
    *,
    start: datetime,
    floor: datetime,
    seed: str | None = None,
) -> datetime | None:
    """When a "starting soon" nudge meant for ``due`` may go: then if allowed, else the
    nearest allowed time on the meeting's own day before it starts — ``earliest`` for an
    early meeting (07:30 for a 07:45 start), ``latest`` for an evening one — and never on
    an earlier day ("starts at 07:45 today" must not arrive the evening before). ``None``
    when the day has no such time (the meeting is at a weekend, or starts before
    ``earliest``)."""
    day = calendar.local(start).date()
    if due < floor:
        return None
    if calendar.local(due).date() == day and calendar.nudge_allowed(due, rules):
        return due
    opens, closes = calendar.at(day, rules.earliest), calendar.at(day, rules.latest)
    if due < opens:
        at, room = opens, (start - opens) / 2
        if seed is not None and room > timedelta(seconds=1):
            at += jitter(seed, min(SPREAD, room))
    elif due > closes:
        at = closes - (jitter(seed, SPREAD / 2) if seed is not None else timedelta(0))
    else:
        return None
    if at < floor or at >= start or not calendar.nudge_allowed(at, rules):
        return None
    return at


def meeting_nudges(
    calendar: SchoolCalendar, rules: NudgeSettings, start: datetime, *, now: datetime, seed: str | None = None
) -> list[NudgePlan]:
    """The nudges for a meeting starting at ``start``, booked at ``now``: those whose time
    has already passed are left out (the booking announcement covers them), except the
    agenda, which a meeting booked at short notice still gets, at the next allowed time
    before it starts. ``seed`` (the meeting's key) spreads nudges that have to move."""
    placed: list[tuple[timedelta, NudgeKind, datetime]] = []
    for offset, kind in nudge_kinds(rules.meeting_offsets):
        due = wall_before(start, offset, calendar.zone)
        spread_by = f"{seed}:{duration_label(offset)}" if seed else None
        if kind == "soon":
            at = place_on_the_day(calendar, rules, due, start=start, floor=now, seed=spread_by)
        else:
            at = place_nudge(calendar, rules, due, latest=min(start, start - offset / 2), floor=now, seed=spread_by)
        if at is None and kind == "agenda" and due < now:
            at = calendar.next_nudge_time(now, rules)  # booked after the agenda's time: it still goes
        if at is not None and at < start:
            placed.append((offset, kind, at))
    agenda_at = next((at for _, kind, at in placed if kind == "agenda"), None)
    plans = []
    for offset, kind, at in placed:
        expires = agenda_at if kind == "call" and agenda_at is not None else start
        if expires <= at:
            continue
        plans.append(NudgePlan(kind=kind, offset=offset, at=at, expires_at=expires))
    return plans


def reminder_time(
    calendar: SchoolCalendar,
    rules: NudgeSettings,
    review_on: date,
    before: timedelta,
    *,
    now: datetime,
    seed: str | None = None,
) -> datetime | None:
    """When to remind someone of a review on ``review_on``: ``before`` ahead of it between
    09:00 and 10:00 (spread by ``seed``; or the next allowed time); if that has passed, on
    the morning of the review date itself; ``None`` once the review date is over."""
    due = calendar.at(review_on - before, _clip(REMINDER_TIME, rules))
    last_day = review_on - timedelta(days=1)
    if due <= now:
        due = calendar.at(review_on, _clip(REMINDER_TIME, rules))
        last_day = review_on
        if due <= now:
            return None
    if seed is not None and calendar.nudge_allowed(due + jitter(seed), rules):
        due += jitter(seed)
    latest = calendar.at(last_day, rules.latest)
    return place_nudge(calendar, rules, due, latest=latest, floor=now, seed=seed) or due


def _clip(at: time, rules: NudgeSettings) -> time:
    return min(max(at, rules.earliest), rules.latest)


async def retime_overdue(
    session: AsyncSession, calendar: SchoolCalendar, rules: NudgeSettings, *, network_id: int, now: datetime
) -> int:
    """Move this network's waiting nudges that fell due while the bot was down to the next
    allowed time, when now is not one (night, weekend, holidays). Returns how many moved."""
    if calendar.nudge_allowed(now, rules):
        return 0
    at = calendar.next_nudge_time(now, rules)
    if at is None:
        return 0
    q = select(OutboxMessage).where(
        OutboxMessage.network_id == network_id,
        OutboxMessage.status == "pending",
        OutboxMessage.not_before <= now,
        or_(*(OutboxMessage.key.startswith(p) for p in (*NUDGE_KEY_PREFIXES, "q"))),
    )
    moved = 0
    for row in (await session.execute(q)).scalars():
        if not keeps_sending_hours(row.key):
            continue
        if row.expires_at is not None and row.expires_at <= at:
            continue  # pointless by morning: the deliverer will skip it
        spread = at + jitter(row.key)
        ok = calendar.nudge_allowed(spread, rules) and (row.expires_at is None or spread < row.expires_at)
        row.not_before = spread if ok else at
        moved += 1
    return moved
