"""The network's school calendar, kept in memory for routing.

Every question asks when its requests may go out (never at night or in the holidays),
which needs the term dates. They change only when a convenor imports new ones, so
:class:`CalendarCache` reads them again (one query) at most every
``routing.index_check_seconds``, at once after this process commits a change to them,
and a transaction that has changed them itself reads them as it sees them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.calendar import HalfTerm, SchoolCalendar
from bot.config import Config
from bot.models.network import InsetDay, Term
from bot.routing import changes


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
    def __init__(
        self, config: Config, network_id: int, *, check_every: float = 1.0, timer: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config
        self.network_id = network_id
        self.check_every = check_every
        self.timer = timer
        self._calendar: SchoolCalendar | None = None
        self._terms: tuple[HalfTerm, ...] = ()
        self._committed = -1
        self._checked = -math.inf
        self.reads = 0

    async def get(self, session: AsyncSession) -> SchoolCalendar:
        await session.flush()
        if changes.changed_here(session, "calendar"):
            return await SchoolCalendar.load(session, self.network_id, self.config)
        now = self.timer()
        committed = changes.committed("calendar")
        if self._calendar is not None and committed == self._committed and now - self._checked < self.check_every:
            return self._calendar
        terms = await read_terms(session, self.network_id)
        self.reads += 1
        if self._calendar is None or terms != self._terms:
            self._calendar = SchoolCalendar.from_config(self.config, terms)
            self._terms = terms
        self._committed, self._checked = committed, now
        return self._calendar
