"""The network's school calendar, kept in memory for routing.

Every question asks when its requests may go out (never at night or in the holidays),
which needs the term dates. They change only when a convenor imports new ones, so
:class:`CalendarCache` reads them again (one query) only when the terms' fingerprint in
:mod:`bot.routing.looks` has moved; a transaction that has changed them itself reads them
as it sees them.

Beyond the last half-term loaded, routing counts time by the rule used when no term dates
are loaded at all (every weekday that is not a bank holiday, in school hours) rather than
giving up: see :func:`send_time` and :func:`school_time_after`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.calendar import HalfTerm, SchoolCalendar
from bot.config import Config, NudgeSettings
from bot.models.network import InsetDay, Term
from bot.routing import changes
from bot.routing.looks import Looks


async def read_terms(session: AsyncSession, network_id: int) -> tuple[HalfTerm, ...]:
    """The network's half-terms with their INSET days, in one query."""
    q = (
        select(Term.id, Term.name, Term.start, Term.end, InsetDay.day)
        .outerjoin(InsetDay, InsetDay.term_id == Term.id)
        .where(Term.network_id == network_id)
        .order_by(Term.start, InsetDay.day)
    )
    terms: dict[int, tuple[str, date, date, list[date]]] = {}
    for term_id, name, start, end, day in (await session.execute(q)).all():
        entry = terms.setdefault(term_id, (name, start, end, []))
        if day is not None:
            entry[3].append(day)
    return tuple(HalfTerm(name=n, start=s, end=e, inset=tuple(days)) for n, s, e, days in terms.values())


class CalendarCache:
    def __init__(self, config: Config, looks: Looks) -> None:
        self.config = config
        self.looks = looks
        self.network_id = looks.network_id
        self._calendar: SchoolCalendar | None = None
        self._terms: tuple[HalfTerm, ...] = ()
        self._seen: tuple[Any, ...] | None = None  # the terms' fingerprint it was read at
        self.reads = 0

    async def get(self, session: AsyncSession) -> SchoolCalendar:
        await changes.flush(session)  # so that this transaction's own changes have been noticed
        if changes.changed_here(session, "calendar"):
            return await SchoolCalendar.load(session, self.network_id, self.config)
        seen = (await self.looks.current(session)).terms
        if self._calendar is not None and seen == self._seen:
            return self._calendar
        terms = await read_terms(session, self.network_id)
        self.reads += 1
        if self._calendar is None or terms != self._terms:
            self._calendar = SchoolCalendar.from_config(self.config, terms)
            self._terms = terms
        self._seen = seen
        return self._calendar


# -- beyond the last loaded half-term -------------------------------------------------------
def terms_end(calendar: SchoolCalendar) -> datetime | None:
    """The first instant after the last loaded half-term (``None`` when none are loaded)."""
    if not calendar.has_terms:
        return None
    last = max(t.end for t in calendar.terms)
    return calendar.at(last + timedelta(days=1), time(0))


def beyond_terms(calendar: SchoolCalendar, instant: datetime) -> bool:
    """Whether ``instant`` lies after the last loaded half-term (term dates are needed)."""
    end = terms_end(calendar)
    return end is not None and instant >= end


def _without_terms(calendar: SchoolCalendar) -> SchoolCalendar:
    return replace(calendar, terms=())


def send_time(calendar: SchoolCalendar, instant: datetime, rules: NudgeSettings) -> datetime:
    """The first instant at or after ``instant`` at which a request may go: nudge hours on a
    working day; after the last loaded half-term, on a weekday that is not a bank holiday."""
    found = calendar.next_nudge_time(instant, rules)
    if found is None:
        after = max(instant, terms_end(calendar) or instant)
        found = _without_terms(calendar).next_nudge_time(after, rules)
    if found is None:  # no school day at all in the config: still never in the night
        local = calendar.local(instant)
        found = calendar.at(local.date() + timedelta(days=1), rules.earliest)
    return found


def school_time_after(calendar: SchoolCalendar, instant: datetime, amount: timedelta) -> datetime:
    """``amount`` of school time after ``instant``, counting on past the last loaded
    half-term by the rule without term dates."""
    found = calendar.add_school_time(instant, amount)
    end = terms_end(calendar)
    if found is None and end is not None:
        used = calendar.school_time_between(instant, end) if instant < end else timedelta()
        found = _without_terms(calendar).add_school_time(max(instant, end), amount - used)
    return found if found is not None else instant + amount


def next_school_day(calendar: SchoolCalendar, instant: datetime, rules: NudgeSettings) -> datetime:
    """When a request may first go on a day after ``instant``'s (the next school day's morning)."""
    tomorrow = calendar.local(instant).date() + timedelta(days=1)
    return send_time(calendar, calendar.at(tomorrow, time(0)), rules)
