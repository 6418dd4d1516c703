"""One small query that tells routing's in-memory state whether the database has moved.

Routing keeps in memory the strength index (:mod:`bot.routing.strengths`), the people and
their load (:mod:`bot.routing.people`) and the term dates (:mod:`bot.routing.calendars`).
Another process may change any of them (``peerbot network import``, a second worker
routing a question), so at most every ``routing.index_check_seconds`` — and at once after
this process commits a change of its own (:mod:`bot.routing.changes`) — :class:`Looks`
reads one row of fingerprints, a single ``SELECT`` of aggregates:

- the audits and schools behind the strength index (as before: counts, newest ids and times);
- the network's people: how many, and the newest ``updated_at`` (a role change touches its
  person, see :mod:`bot.models.network`);
- the open requests (live questions) and the requests asked since the day before: how many,
  and the sum of their ids and of their squares — a request added, closed or reopened moves
  them (only three or more requests changing at once, with ids balancing out in both sums,
  could leave them unmoved);
- the term dates and INSET days: how many, and id-weighted sums of their dates and names.

Each cache compares its part with what it was built from and reads again only what moved.
So a question arriving within the interval costs no query at all, one arriving after it
costs this one (once, however many caches ask), and another process's change counts
within about a second.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, bindparam, extract, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.base import UTCDateTime
from bot.models.network import Audit, InsetDay, Person, School, Term
from bot.models.questions import LIVE_STATUSES, Question, Referral
from bot.routing import changes

OPEN_STATUSES = ("asked", "accepted")
_LOOKED = "peerbot.routing.looked"  # session.info: the fingerprints this transaction read


@dataclass(frozen=True)
class Fingerprints:
    strengths: tuple[Any, ...]
    people: tuple[Any, ...]
    open: tuple[Any, ...]
    recent: tuple[Any, ...]
    terms: tuple[Any, ...]
    since: datetime  # requests asked from this instant on are "recent"


def day_start(day: date, zone: ZoneInfo) -> datetime:
    """The first instant of a local day, in UTC."""
    return datetime.combine(day, clock_time(0), tzinfo=zone).astimezone(UTC)


def _yyyymmdd(column: Any) -> ColumnElement[Any]:
    return extract("year", column) * 10000 + extract("month", column) * 100 + extract("day", column)


def _aggregate(*columns: Any, where: Any, join: tuple[Any, Any] | None = None) -> Any:
    """One row of aggregates over some rows, as a derived table."""
    q = select(*[c.label(f"v{i}") for i, c in enumerate(columns)])
    if join is not None:
        q = q.join(*join)
    return q.where(*where).subquery()


def fingerprint_query(network_id: Any, since: Any) -> tuple[Any, list[int]]:
    """One ``SELECT`` over a one-row derived table per part (each read once)."""
    strengths = _aggregate(
        func.count(Audit.id),
        func.max(Audit.id),
        func.count(Audit.superseded_at),
        func.max(Audit.superseded_at),
        join=(School, School.id == Audit.school_id),
        where=(School.network_id == network_id,),
    )
    schools = _aggregate(
        func.count(School.id),
        func.max(School.updated_at),
        func.count(School.id).filter(School.active.is_(True)),
        where=(School.network_id == network_id,),
    )
    people = _aggregate(func.count(Person.id), func.max(Person.updated_at), where=(Person.network_id == network_id,))
    moments = (func.count(Referral.id), func.sum(Referral.id), func.sum(Referral.id * Referral.id))
    in_network = (Question, Question.id == Referral.question_id)
    open_ = _aggregate(
        *moments,
        join=in_network,
        where=(
            Question.network_id == network_id,
            Referral.status.in_(OPEN_STATUSES),
            Question.status.in_(LIVE_STATUSES),
        ),
    )
    recent = _aggregate(
        *moments, join=in_network, where=(Question.network_id == network_id, Referral.asked_at >= since)
    )
    terms = _aggregate(
        func.count(Term.id),
        func.sum(Term.id),
        func.sum(Term.id * _yyyymmdd(Term.start)),
        func.sum(Term.id * _yyyymmdd(Term.end)),
        func.sum(_yyyymmdd(Term.start) + _yyyymmdd(Term.end)),
        func.sum(Term.id * func.length(Term.name)),
        where=(Term.network_id == network_id,),
    )
    insets = _aggregate(
        func.count(InsetDay.day),
        func.sum(InsetDay.term_id * _yyyymmdd(InsetDay.day)),
        func.sum(_yyyymmdd(InsetDay.day)),
        join=(Term, Term.id == InsetDay.term_id),
        where=(Term.network_id == network_id,),
    )
    tables = (strengths, schools, people, open_, recent, terms, insets)
    joined = tables[0]
    for t in tables[1:]:
        joined = joined.join(t, true())  # each is one row: a join of single rows
    q = select(*[c for t in tables for c in t.c]).select_from(joined)
    parts = ((strengths, schools), (people,), (open_,), (recent,), (terms, insets))
    return q, [sum(len(t.c) for t in part) for part in parts]


_STATEMENT, _SIZES = fingerprint_query(bindparam("network_id"), bindparam("since", type_=UTCDateTime()))


async def read_fingerprints(session: AsyncSession, network_id: int, since: datetime) -> Fingerprints:
    # Built once and kept: building and hashing a statement this size costs more than running it.
    q, sizes = _STATEMENT, _SIZES
    row = tuple((await session.execute(q, {"network_id": network_id, "since": since})).one())
    parts, at = [], 0
    for n in sizes:
        parts.append(row[at : at + n])
        at += n
    strengths, people, open_, recent, terms = parts
    return Fingerprints(strengths, people, open_, recent, terms, since=since)


class Looks:
    """The latest fingerprints, read again when due; shared by one router's caches."""

    def __init__(
        self,
        network_id: int,
        zone: ZoneInfo,
        *,
        check_every: float = 1.0,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.network_id = network_id
        self.zone = zone
        self.check_every = check_every
        self.timer = timer
        self._latest: Fingerprints | None = None
        self._committed: tuple[int, int, int, int] = (-1, -1, -1, -1)
        self._looked = -math.inf
        self.count = 0  # fingerprint queries made (tests, diagnostics)

    def invalidate(self) -> None:
        """Look at the next use."""
        self._looked = -math.inf

    @staticmethod
    def _commits() -> tuple[int, int, int, int]:
        return (
            changes.committed("people"),
            changes.committed("deleted"),
            changes.committed("calendar"),
            changes.committed("strengths"),
        )

    async def current(self, session: AsyncSession, when: datetime | None = None) -> Fingerprints:
        """Fingerprints at most ``check_every`` seconds old, and newer than this process's
        own commits; ``when`` (an instant to be planned for) must be covered by ``since``.

        A transaction that has changed something routing keeps gets fingerprints of what it
        sees, kept by nobody: its changes are not the others' until it commits."""
        return await self._current(session, when)

    async def look_ahead(self, session: AsyncSession, ahead: float) -> Fingerprints:
        """For :func:`bot.freshness.keep_fresh`: look now if the next use would look within
        ``ahead`` seconds."""
        return await self._current(session, None, ahead)

    async def _current(self, session: AsyncSession, when: datetime | None, ahead: float = 0.0) -> Fingerprints:
        await changes.flush(session)  # so that this transaction's own changes have been noticed
        latest = self._latest
        since = latest.since if latest is not None else None
        if when is not None:
            # From the day before the one planned for; moved on a day at a time, not to and fro.
            wanted = day_start(when.astimezone(self.zone).date() - timedelta(days=1), self.zone)
            if since is None or wanted < since or wanted - since > timedelta(days=2):
                since = wanted
        if since is None:
            since = day_start(datetime.now(UTC).astimezone(self.zone).date() - timedelta(days=1), self.zone)
        if any(changes.changed_here(session, kind) for kind in changes.KINDS):
            return await read_fingerprints(session, self.network_id, since)
        commits = self._commits()
        now = self.timer()
        if (
            latest is not None
            and since == latest.since
            and commits == self._committed
            and (now - self._looked < self.check_every - ahead or session.info.get(_LOOKED) is latest)
        ):
            return latest  # recent enough, or already looked at in this very transaction
        # Counted before reading: a commit landing meanwhile makes the next use look again.
        self._latest = await read_fingerprints(session, self.network_id, since)
        self._committed, self._looked = commits, now
        session.info[_LOOKED] = self._latest
        self.count += 1
        return self._latest
