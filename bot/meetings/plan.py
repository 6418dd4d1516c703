"""Planning: which dates each group's half-termly meeting could take, and when its poll runs.

Pure functions over a :class:`~bot.calendar.SchoolCalendar`, the config and what is
already booked; the sweeper writes their results as rows, ``peerbot meetings plan`` shows
them. The rules, none of which assumes a half-term's length:

- the group's configured weekday and London time, on a school day (not an INSET day, not
  a bank holiday);
- not in the first or last week of the half-term (seven days from either end);
- not overlapping another group's meeting — booked ones, open polls' dates, and the dates
  already offered to groups listed earlier in the config;
- up to ``candidates`` dates, spread across what remains;
- the poll opens ``poll_opens_before`` the earliest date and closes ``poll_closes_before``
  it, each moved to a time a nudge may go (earlier rather than into the holidays), and at
  least two days apart; dates too close to the poll's close are dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from bot.calendar import HalfTerm, SchoolCalendar
from bot.config import WEEKDAYS, Config, GroupSettings, MeetingSettings, NudgeSettings
from bot.meetings.nudges import wall_before

EDGE_WEEK = timedelta(days=7)
MIN_POLL = timedelta(days=2)  # a poll is open at least this long
MIN_NOTICE = timedelta(days=1)  # a date is booked at least this long before it happens


@dataclass(frozen=True, slots=True)
class Slot:
    start: datetime
    end: datetime

    def overlaps(self, other: Slot) -> bool:
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True, slots=True)
class Existing:
    """What planning needs to know of a meeting row already in the database."""

    id: int
    group: str
    term_start: date
    status: str
    start: datetime | None
    end: datetime | None
    options: tuple[Slot, ...] = ()
    poll_opens_at: datetime | None = None
    poll_closes_at: datetime | None = None
    problem: str | None = None

    def busy(self) -> list[Slot]:
        if self.status in ("booked", "held") and self.start and self.end:
            return [Slot(self.start, self.end)]
        if self.status == "polling":
            return list(self.options)
        return []


@dataclass(frozen=True)
class Plan:
    """One group's meeting for one half-term: fixed (a row past ``planned``) or proposed."""

    group: str
    term: HalfTerm
    candidates: tuple[Slot, ...]
    status: str = "planned"
    meeting_id: int | None = None
    start: datetime | None = None
    end: datetime | None = None
    poll_opens_at: datetime | None = None
    poll_closes_at: datetime | None = None
    problem: str | None = None
    fixed: bool = False

    @property
    def provisional(self) -> Slot | None:
        """The booked time, or the first candidate while nothing is booked."""
        if self.start and self.end:
            return Slot(self.start, self.end)
        return self.candidates[0] if self.candidates else None


@dataclass
class _Busy:
    slots: list[tuple[str, Slot]] = field(default_factory=list)

    def clashes(self, group: str, slot: Slot) -> bool:
        return any(g != group and slot.overlaps(s) for g, s in self.slots)

    def add(self, group: str, slots: Iterable[Slot]) -> None:
        self.slots.extend((group, s) for s in slots)


def meeting_half_terms(cadence: str, terms: Sequence[HalfTerm]) -> list[HalfTerm]:
    """The half-terms a cadence meets in: every one, or (termly) the first half of each
    term — the 1st, 3rd and 5th half-term of each academic year."""
    if cadence == "half-termly":
        return list(terms)
    if cadence != "termly":
        return []
    by_year: dict[int, list[HalfTerm]] = {}
    for t in sorted(terms, key=lambda t: t.start):
        by_year.setdefault(SchoolCalendar.academic_year_of(t.start), []).append(t)
    return [t for year in sorted(by_year) for i, t in enumerate(by_year[year]) if i % 2 == 0]


def possible_days(calendar: SchoolCalendar, term: HalfTerm, weekday: str) -> list[date]:
    """School days on ``weekday`` inside ``term``, away from its first and last weeks."""
    wanted = WEEKDAYS.index(weekday)
    first, last = term.start + EDGE_WEEK, term.end - EDGE_WEEK
    days = []
    day = first
    while day <= last:
        if day.weekday() == wanted and calendar.is_term_day(day) and calendar.half_term_of(day) == term:
            days.append(day)
        day += timedelta(days=1)
    return days


def spread(items: Sequence[Slot], n: int) -> list[Slot]:
    """Up to ``n`` items spread evenly from first to last."""
    if len(items) <= n:
        return list(items)
    if n == 1:
        return [items[len(items) // 2]]
    picks = sorted({round(i * (len(items) - 1) / (n - 1)) for i in range(n)})
    return [items[i] for i in picks]


def poll_window(
    calendar: SchoolCalendar, rules: NudgeSettings, first: datetime, settings: MeetingSettings, now: datetime
) -> tuple[datetime, datetime] | None:
    """When the poll for a meeting whose earliest date is ``first`` opens and closes."""
    ideal_open = wall_before(first, settings.poll_opens_before, calendar.zone)
    opens = calendar.previous_nudge_time(ideal_open, rules, floor=now) if ideal_open > now else None
    if opens is None:
        opens = calendar.next_nudge_time(max(now, ideal_open), rules)
    if opens is None:
        return None
    ideal_close = wall_before(first, settings.poll_closes_before, calendar.zone)
    closes = calendar.previous_nudge_time(ideal_close, rules, floor=opens + MIN_POLL)
    if closes is None:
        closes = calendar.next_nudge_time(max(ideal_close, opens + MIN_POLL), rules)
    if closes is None:
        return None
    return opens, closes


def plan_term(
    calendar: SchoolCalendar,
    rules: NudgeSettings,
    group: str,
    settings: MeetingSettings,
    term: HalfTerm,
    busy: _Busy,
    now: datetime,
) -> Plan:
    days = possible_days(calendar, term, settings.weekday)
    if not days:
        return Plan(
            group=group,
            term=term,
            candidates=(),
            problem=(
                f"{term.name} has no {settings.weekday.capitalize()} that is a school day outside its first "
                "and last weeks"
            ),
        )
    slots = [Slot(calendar.at(d, settings.time), calendar.at(d, settings.time) + settings.duration) for d in days]
    free = [s for s in slots if not busy.clashes(group, s)]
    if not free:
        return Plan(
            group=group,
            term=term,
            candidates=(),
            problem=f"every possible date in {term.name} clashes with another group's meeting",
        )
    feasible = [s for s in free if s.start >= now + MIN_POLL + MIN_NOTICE]
    if not feasible:
        return Plan(group=group, term=term, candidates=(), problem=f"every possible date in {term.name} has passed")
    chosen = spread(feasible, settings.candidates)
    window = poll_window(calendar, rules, chosen[0].start, settings, now)
    if window is not None:
        chosen = [s for s in chosen if s.start >= window[1] + MIN_NOTICE]
    if window is None or not chosen:
        return Plan(
            group=group,
            term=term,
            candidates=(),
            problem=f"there is no time left to poll the group before the dates possible in {term.name}",
        )
    return Plan(
        group=group,
        term=term,
        candidates=tuple(chosen),
        poll_opens_at=window[0],
        poll_closes_at=window[1],
    )


def plan_network(
    calendar: SchoolCalendar,
    config: Config,
    existing: Iterable[Existing],
    now: datetime,
    *,
    only_group: str | None = None,
) -> list[Plan]:
    """Every upcoming half-term meeting of every group with a cadence, in config order.

    Rows past ``planned`` are fixed and shown as they are; ``planned`` rows and half-terms
    with no row yet are (re)planned. A half-term is upcoming until its last day.
    """
    rules = config.settings.nudges
    today = calendar.local(now).date()
    rows = {(e.group, e.term_start): e for e in existing}
    busy = _Busy()
    for e in rows.values():
        busy.add(e.group, e.busy())
    plans: list[Plan] = []
    groups: dict[str, GroupSettings] = config.enabled_groups()
    for group, settings in groups.items():
        cadence = settings.meetings.cadence
        for term in meeting_half_terms(cadence, calendar.terms):
            if term.end < today:
                continue
            row = rows.get((group, term.start))
            if row is not None and row.status != "planned":
                plans.append(
                    Plan(
                        group=group,
                        term=term,
                        candidates=row.options,
                        status=row.status,
                        meeting_id=row.id,
                        start=row.start,
                        end=row.end,
                        poll_opens_at=row.poll_opens_at,
                        poll_closes_at=row.poll_closes_at,
                        problem=row.problem,
                        fixed=True,
                    )
                )
                continue
            plan = plan_term(calendar, rules, group, settings.meetings, term, busy, now)
            busy.add(group, plan.candidates)
            if row is not None:
                plan = replace(plan, meeting_id=row.id)
            plans.append(plan)
    if only_group is not None:
        plans = [p for p in plans if p.group == only_group]
    return plans
