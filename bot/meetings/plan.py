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

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from bot.calendar import HalfTerm, SchoolCalendar
from bot.config import WEEKDAYS, Config, GroupSettings, MeetingSettings, NudgeSettings
from bot.meetings.nudges import wall_before
from bot.meetings.text import day_text

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
    term_end: date | None = None
    half_term: str | None = None

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


_SEASON = re.compile(r"\b(autumn|michaelmas|spring|lent|summer|trinity)\b", re.I)
_SEASONS = {"autumn": 0, "michaelmas": 0, "spring": 1, "lent": 1, "summer": 2, "trinity": 2}
_HALF = re.compile(r"\b(1|2|i|ii|first|second|a|b)\b|(?<=[a-z])([12])\b", re.I)
# By the month a half-term starts: (term, half). Autumn 2 starts after the October break,
# Spring 2 after February's, Summer 2 after the late May bank holiday.
_BY_MONTH = {8: (0, 1), 9: (0, 1), 10: (0, 2), 11: (0, 2), 12: (0, 2), 1: (1, 1), 2: (1, 2), 3: (1, 2)}
_BY_MONTH |= {4: (2, 1), 5: (2, 1), 6: (2, 2), 7: (2, 2)}


def term_and_half(t: HalfTerm) -> tuple[int, int]:
    """Which term (0 autumn, 1 spring, 2 summer) and which half of it (1 or 2) a half-term
    is: from its name ("Spring 2", "Summer term, first half") where it says, else from the
    month it starts in."""
    by_month = _BY_MONTH[t.start.month]
    season = _SEASON.search(t.name)
    rest = _SEASON.sub(" ", t.name) if season else t.name
    half = _HALF.search(re.sub(r"\bterm\b|\bhalf\b", " ", rest, flags=re.I))
    term = _SEASONS[season.group(1).lower()] if season else by_month[0]
    if half is None:
        return term, by_month[1] if term == by_month[0] else 1
    return term, 1 if (half.group(1) or half.group(2)).lower() in ("1", "i", "first", "a") else 2


def meeting_half_terms(cadence: str, terms: Sequence[HalfTerm]) -> list[HalfTerm]:
    """The half-terms a cadence meets in: every one, or (termly) the first half of each
    term — Autumn 1, Spring 1 and Summer 1 of each academic year, known by their names or
    dates (:func:`term_and_half`), not by their position among the half-terms loaded: a
    year loaded from Spring 2 onwards meets in Summer 1 only."""
    if cadence == "half-termly":
        return list(terms)
    if cadence != "termly":
        return []
    chosen: dict[tuple[int, int], HalfTerm] = {}
    for t in sorted(terms, key=lambda t: t.start):
        term, half = term_and_half(t)
        key = (SchoolCalendar.academic_year_of(t.start), term)
        if half == 1 and key not in chosen:
            chosen[key] = t
    return sorted(chosen.values(), key=lambda t: t.start)


def rehome(existing: Iterable[Existing], terms: Sequence[HalfTerm]) -> dict[int, HalfTerm | None]:
    """The half-term each open meeting now belongs to, for those whose half-term is no
    longer loaded as it was (term dates corrected or replaced): the half-term with its
    start (whose end or name changed), else the one of the same name in the same academic
    year, else the one its old dates overlap most — or ``None`` when its half-term has gone.
    A half-term already holding another meeting of the group is not taken."""
    rows = [e for e in existing if e.status in ("planned", "polling", "booked")]
    by_start = {t.start: t for t in terms}
    taken = {(e.group, e.term_start) for e in existing if e.term_start in by_start}
    moves: dict[int, HalfTerm | None] = {}
    for e in rows:
        same = by_start.get(e.term_start)
        if same is not None:
            if (e.term_end is not None and same.end != e.term_end) or (e.half_term and same.name != e.half_term):
                moves[e.id] = same
            continue
        year = SchoolCalendar.academic_year_of(e.term_start)
        free = [t for t in terms if (e.group, t.start) not in taken]
        named = [
            t
            for t in free
            if e.half_term and t.name == e.half_term and SchoolCalendar.academic_year_of(t.start) == year
        ]
        end = e.term_end or e.term_start
        overlaps = [(min(end, t.end) - max(e.term_start, t.start), t) for t in free]
        overlapping = [t for gap, t in sorted(overlaps, key=lambda o: o[0], reverse=True) if gap.days >= 0]
        found = next(iter(named or overlapping), None)
        if found is not None:
            taken.add((e.group, found.start))
        moves[e.id] = found
    return moves


def rehomed(existing: Sequence[Existing], terms: Sequence[HalfTerm]) -> list[Existing]:
    """``existing`` as :func:`rehome` will leave it (for showing the plan before a sweep)."""
    moves = rehome(existing, terms)
    out = []
    for e in existing:
        term = moves.get(e.id)
        out.append(replace(e, term_start=term.start, term_end=term.end, half_term=term.name) if term else e)
    return out


def day_problems(calendar: SchoolCalendar, day: date, term: HalfTerm | None) -> list[str]:
    """Why ``day`` is a poor day for a meeting of half-term ``term``, as phrases to follow
    "it is": a bank holiday, a weekend, outside the half-term (or any term), an INSET day."""
    problems = []
    if calendar.is_bank_holiday(day):
        problems.append("on a bank holiday")
    elif day.weekday() not in calendar.weekdays:
        problems.append(f"on a {day:%A}")
    if term is not None and day not in term:
        problems.append(f"outside {term.name} ({day_text(term.start)} to {day_text(term.end)})")
    elif term is None and calendar.has_terms and calendar.half_term_of(day) is None:
        problems.append("outside term")
    home = calendar.half_term_of(day)
    if home is not None and day in home.inset:
        problems.append("on an INSET day")
    return problems


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
