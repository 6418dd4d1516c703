"""The school calendar: half-terms, INSET days, bank holidays and school hours.

Everything that must respect school life asks this one place: routing counts escalation
time in school hours only, meetings are planned inside half-terms away from INSET days
and bank holidays, and nudges wait for a sensible hour. Instants are UTC; days and
hours are the network's own (Europe/London by default), so the October and March clock
changes move nothing.

When no term dates are loaded, :attr:`SchoolCalendar.has_terms` is false and every
weekday that is not a bank holiday counts as a school day — callers that must not
guess (meeting planning) check :attr:`has_terms` and say so plainly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import WEEKDAYS, Config, NudgeSettings
from bot.models.network import Term


@dataclass(frozen=True)
class HalfTerm:
    name: str
    start: date
    end: date
    inset: tuple[date, ...] = ()

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end


@lru_cache(maxsize=16)
def england_bank_holidays(years: tuple[int, ...]) -> frozenset[date]:
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=list(years)).keys())


@dataclass
class SchoolCalendar:
    zone: ZoneInfo
    terms: Sequence[HalfTerm] = ()
    day_start: time = time(8, 0)
    day_end: time = time(17, 0)
    weekdays: frozenset[int] = frozenset(range(5))
    _bank: set[date] = field(default_factory=set, repr=False)
    _bank_years: set[int] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        self.terms = sorted(self.terms, key=lambda t: t.start)

    @classmethod
    def from_config(cls, config: Config, terms: Iterable[HalfTerm] = ()) -> SchoolCalendar:
        hours = config.settings.school_hours
        return cls(
            zone=config.zone,
            terms=list(terms),
            day_start=hours.start,
            day_end=hours.end,
            weekdays=frozenset(WEEKDAYS.index(d) for d in hours.days),
        )

    @classmethod
    async def load(cls, session: AsyncSession, network_id: int, config: Config) -> SchoolCalendar:
        rows = (await session.execute(select(Term).where(Term.network_id == network_id))).scalars()
        terms = [HalfTerm(name=t.name, start=t.start, end=t.end, inset=tuple(t.inset_days)) for t in rows]
        return cls.from_config(config, terms)

    # -- days ----------------------------------------------------------------------------
    @property
    def has_terms(self) -> bool:
        return bool(self.terms)

    def is_bank_holiday(self, day: date) -> bool:
        """England's bank holidays (the ``holidays`` package), a year at a time."""
        if day.year not in self._bank_years:
            self._bank |= england_bank_holidays((day.year,))
            self._bank_years.add(day.year)
        return day in self._bank

    def half_term_of(self, day: date) -> HalfTerm | None:
        for t in self.terms:
            if day in t:
                return t
        return None

    def is_term_day(self, day: date) -> bool:
        """A day pupils are in: inside a half-term, a school weekday, not INSET, not a bank holiday."""
        if day.weekday() not in self.weekdays or self.is_bank_holiday(day):
            return False
        if not self.has_terms:
            return True
        t = self.half_term_of(day)
        return t is not None and day not in t.inset

    def is_working_day(self, day: date) -> bool:
        """A day staff are in: a term day or an INSET day."""
        if self.is_term_day(day):
            return True
        t = self.half_term_of(day)
        return t is not None and day in t.inset and day.weekday() in self.weekdays

    def next_term_day(self, day: date, *, limit_days: int = 400) -> date | None:
        for i in range(limit_days):
            d = day + timedelta(days=i)
            if self.is_term_day(d):
                return d
        return None

    # -- instants ------------------------------------------------------------------------
    def local(self, instant: datetime) -> datetime:
        return instant.astimezone(self.zone)

    def at(self, day: date, when: time) -> datetime:
        """``when`` on ``day`` in the network's zone, as a UTC instant (DST-safe)."""
        return datetime.combine(day, when, tzinfo=self.zone).astimezone(UTC)

    def is_school_time(self, instant: datetime) -> bool:
        local = self.local(instant)
        return self.is_term_day(local.date()) and self.day_start <= local.time() < self.day_end

    def next_school_time(self, instant: datetime) -> datetime | None:
        """``instant`` if it is in school time, else the start of the next school day."""
        if self.is_school_time(instant):
            return instant
        local = self.local(instant)
        day = local.date()
        if self.is_term_day(day) and local.time() < self.day_start:
            return self.at(day, self.day_start)
        nxt = self.next_term_day(day + timedelta(days=1))
        return self.at(nxt, self.day_start) if nxt else None

    def add_school_time(self, instant: datetime, amount: timedelta) -> datetime | None:
        """The instant ``amount`` of school time after ``instant`` (nights, weekends and
        holidays do not count). ``None`` if the calendar runs out of term days."""
        remaining = amount
        current = self.next_school_time(instant)
        while current is not None:
            local = self.local(current)
            end_of_day = self.at(local.date(), self.day_end)
            available = end_of_day - current
            if remaining <= available:
                return current + remaining
            remaining -= available
            current = self.next_school_time(end_of_day)
        return None

    def school_time_between(self, start: datetime, end: datetime) -> timedelta:
        total = timedelta()
        current = self.next_school_time(start)
        while current is not None and current < end:
            end_of_day = self.at(self.local(current).date(), self.day_end)
            total += min(end, end_of_day) - current
            current = self.next_school_time(end_of_day)
        return total

    # -- nudges ----------------------------------------------------------------------------
    def nudge_allowed(self, instant: datetime, rules: NudgeSettings) -> bool:
        """May a nudge go at ``instant``: within earliest–latest, and on a school day unless
        the rules allow weekends or holidays."""
        local = self.local(instant)
        if not (rules.earliest <= local.time() <= rules.latest):
            return False
        day = local.date()
        if day.weekday() >= 5:
            return rules.weekends
        if rules.holidays:
            return True
        return self.is_working_day(day)

    def previous_nudge_time(
        self, instant: datetime, rules: NudgeSettings, *, floor: datetime | None = None, limit_days: int = 400
    ) -> datetime | None:
        """The last instant at or before ``instant`` (and not before ``floor``) at which
        :meth:`nudge_allowed`: a reminder that cannot go when it is due goes a little early
        rather than late (Friday afternoon instead of Saturday)."""
        result: datetime | None = None
        if self.nudge_allowed(instant, rules):
            result = instant
        else:
            local = self.local(instant)
            day = local.date()
            if local.time() > rules.latest:
                candidate = self.at(day, rules.latest)
                if self.nudge_allowed(candidate, rules):
                    result = candidate
            for i in range(1, limit_days):
                if result is not None:
                    break
                candidate = self.at(day - timedelta(days=i), rules.latest)
                if floor is not None and candidate < floor:
                    break
                if self.nudge_allowed(candidate, rules):
                    result = candidate
        if result is None or (floor is not None and result < floor):
            return None
        return result

    # -- academic years ------------------------------------------------------------------
    @staticmethod
    def academic_year_of(day: date) -> int:
        """The academic year a day belongs to, by the year it starts: August onwards is the
        new year (2026-08-01 → 2026, i.e. 2026-27)."""
        return day.year if day.month >= 8 else day.year - 1

    def half_terms_in(self, year: int) -> list[HalfTerm]:
        """The half-terms of academic year ``year`` (``2026`` = 2026-27), in order."""
        return [t for t in self.terms if self.academic_year_of(t.start) == year]

    def next_nudge_time(self, instant: datetime, rules: NudgeSettings, *, limit_days: int = 400) -> datetime | None:
        """The first instant at or after ``instant`` at which :meth:`nudge_allowed`."""
        if self.nudge_allowed(instant, rules):
            return instant
        local = self.local(instant)
        day = local.date()
        if local.time() < rules.earliest:
            candidate = self.at(day, rules.earliest)
            if self.nudge_allowed(candidate, rules):
                return candidate
        for i in range(1, limit_days):
            candidate = self.at(day + timedelta(days=i), rules.earliest)
            if self.nudge_allowed(candidate, rules):
                return candidate
        return None
