"""The people routing may ask, and how busy they are, kept in memory.

Choosing peers needs every candidate's school, roles, ``away_until``, and load: requests
asked on the day (at most ``max_new_requests_per_day``), requests still open (at most
``max_open_requests``) and when they were last asked (ties go to the least recently asked).
Reading those per question costs several queries; :class:`PeopleCache` keeps them instead,
and stays correct across processes this way:

- :mod:`bot.routing.looks` reads one row of fingerprints at most every
  ``routing.index_check_seconds``, and at once after this process commits a change to
  people, roles, referrals or questions; the cache reads again only the part that moved
  (the people, the open requests per person, or the requests asked since the day before).
  So another process's new request, or a change to someone, counts within about a second;
- the last-asked times of the whole history are read at start-up, merged with every
  recent request seen since, and read again after a deletion made here and every
  ``HISTORY_SECONDS`` (a deletion elsewhere, which no code makes today, only changes
  the least-recently-asked tie-break until then);
- a transaction that has itself changed people or referrals (the escalation sweep routing
  several questions, a "Not me" routing the next peer) reads them from the database as
  it sees them, exactly as before.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import NamedTuple, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models.network import Person, PersonRole
from bot.models.questions import LIVE_STATUSES, Question, Referral
from bot.network.owners import carriers
from bot.roles import LEADER_ROLES
from bot.routing import changes
from bot.routing.looks import OPEN_STATUSES, Fingerprints, Looks

HISTORY_SECONDS = 600.0


@dataclass(frozen=True, slots=True)
class Member:
    """An active person as routing sees them."""

    id: int
    school_id: int
    email: str
    name: str
    roles: tuple[str, ...]
    away_until: date | None = None
    active: bool = True

    def has_role(self, *roles: str) -> bool:
        return any(r in roles for r in self.roles)

    @classmethod
    def of(cls, person: Person) -> Member:
        return cls(
            id=person.id,
            school_id=person.school_id,
            email=person.email,
            name=person.name,
            roles=tuple(person.roles),
            away_until=person.away_until,
            active=person.active,
        )


class Load(NamedTuple):
    today: int  # requests asked on the day in question
    open: int  # requests waiting for an answer, on questions still live
    last_asked: datetime | None


class People(Protocol):
    """Who can be asked, and their load, as one transaction may see them."""

    async def members(self, school_ids: Sequence[int]) -> dict[int, list[Member]]: ...

    async def load(self, person_ids: Sequence[int], when: datetime) -> dict[int, Load]: ...

    def carriers(self, owner: str | None, school_id: int) -> list[Member]:
        """Who carries an item owned by ``owner`` at the school (:func:`bot.network.owners.carriers`),
        among the members last returned for it."""
        ...

    def askable(self, school_id: int, roles: frozenset[str], today: date) -> tuple[list[Member], frozenset[int]]:
        """The school's members (among those last returned for it) who have one of ``roles``
        and are not away on ``today``, leaders first (:func:`leader_rank`), and their ids."""
        ...


def leader_rank(person: Member) -> int:
    """Where the person's highest leading role comes in ``LEADER_ROLES`` (after them all: none)."""
    for i, role in enumerate(LEADER_ROLES):
        if person.has_role(role):
            return i
    return len(LEADER_ROLES)


def askable(school_people: Iterable[Member], roles: frozenset[str], today: date) -> tuple[list[Member], frozenset[int]]:
    """See :meth:`People.askable`."""
    found = [
        p
        for p in school_people
        if not roles.isdisjoint(p.roles) and not (p.away_until is not None and p.away_until >= today)
    ]
    found.sort(key=leader_rank)  # stable: the school's own order among equals
    return found, frozenset(p.id for p in found)


# -- reading from the database ---------------------------------------------------------------
def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """A local day as a UTC half-open interval (23 or 25 hours on clock-change days)."""
    start = datetime.combine(day, clock_time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), clock_time(0), tzinfo=zone).astimezone(UTC)
    return start, end


@dataclass
class FromDatabase:
    """People and load read by this transaction's own queries (it sees its own changes)."""

    session: AsyncSession
    zone: ZoneInfo
    _members: dict[int, list[Member]] = field(default_factory=dict)

    async def members(self, school_ids: Sequence[int]) -> dict[int, list[Member]]:
        if not school_ids:
            return {}
        q = select(Person).where(Person.school_id.in_(list(school_ids)), Person.active.is_(True)).order_by(Person.email)
        out: dict[int, list[Member]] = {}
        for p in (await self.session.execute(q)).unique().scalars():
            out.setdefault(p.school_id, []).append(Member.of(p))
        self._members.update(out)
        return out

    def carriers(self, owner: str | None, school_id: int) -> list[Member]:
        return carriers(owner, self._members.get(school_id, ()))

    def askable(self, school_id: int, roles: frozenset[str], today: date) -> tuple[list[Member], frozenset[int]]:
        return askable(self._members.get(school_id, ()), roles, today)

    async def load(self, person_ids: Sequence[int], when: datetime) -> dict[int, Load]:
        if not person_ids:
            return {}
        day_start, day_end = day_bounds(when.astimezone(self.zone).date(), self.zone)
        ids = list(dict.fromkeys(person_ids))
        today_q = (
            select(Referral.person_id, func.count(Referral.id))
            .where(Referral.person_id.in_(ids), Referral.asked_at >= day_start, Referral.asked_at < day_end)
            .group_by(Referral.person_id)
        )
        open_q = (
            select(Referral.person_id, func.count(Referral.id))
            .join(Question, Question.id == Referral.question_id)
            .where(
                Referral.person_id.in_(ids),
                Referral.status.in_(OPEN_STATUSES),
                Question.status.in_(LIVE_STATUSES),
            )
            .group_by(Referral.person_id)
        )
        last_q = (
            select(Referral.person_id, func.max(Referral.asked_at))
            .where(Referral.person_id.in_(ids))
            .group_by(Referral.person_id)
        )
        today = dict((await self.session.execute(today_q)).all())
        opened = dict((await self.session.execute(open_q)).all())
        last = dict((await self.session.execute(last_q)).all())
        return {pid: Load(int(today.get(pid, 0)), int(opened.get(pid, 0)), last.get(pid)) for pid in ids}


async def read_members(session: AsyncSession, network_id: int) -> dict[int, list[Member]]:
    """Every active person of the network by school, each school's in email order."""
    active = (Person.network_id == network_id, Person.active.is_(True))
    roles: dict[int, list[str]] = {}
    q = select(PersonRole.person_id, PersonRole.role).join(Person, Person.id == PersonRole.person_id).where(*active)
    for person_id, role in (await session.execute(q.order_by(PersonRole.person_id, PersonRole.role))).all():
        roles.setdefault(person_id, []).append(role)
    people = select(Person.id, Person.school_id, Person.email, Person.name, Person.away_until).where(*active)
    out: dict[int, list[Member]] = {}
    for pid, school_id, email, name, away in (await session.execute(people.order_by(Person.email))).all():
        out.setdefault(school_id, []).append(Member(pid, school_id, email, name, tuple(roles.get(pid, ())), away))
    return out


async def read_open(session: AsyncSession, network_id: int) -> dict[int, int]:
    q = (
        select(Referral.person_id, func.count(Referral.id))
        .join(Question, Question.id == Referral.question_id)
        .where(
            Referral.status.in_(OPEN_STATUSES),
            Question.status.in_(LIVE_STATUSES),
            Question.network_id == network_id,
        )
        .group_by(Referral.person_id)
    )
    return {pid: int(n) for pid, n in (await session.execute(q)).all()}


async def read_recent(session: AsyncSession, network_id: int, since: datetime) -> list[tuple[int, datetime]]:
    q = (
        select(Referral.person_id, Referral.asked_at)
        .join(Question, Question.id == Referral.question_id)
        .where(Referral.asked_at >= since, Question.network_id == network_id)
    )
    return [(pid, at) for pid, at in (await session.execute(q)).all()]


async def read_last_asked(session: AsyncSession, network_id: int) -> dict[int, datetime]:
    q = (
        select(Referral.person_id, func.max(Referral.asked_at))
        .join(Person, Person.id == Referral.person_id)
        .where(Person.network_id == network_id)
        .group_by(Referral.person_id)
    )
    return {pid: at for pid, at in (await session.execute(q)).all()}


# -- the snapshot ------------------------------------------------------------------------------
@dataclass
class Snapshot:
    """People and load as of one look at the database (plus this process's commits before it)."""

    zone: ZoneInfo
    by_school: dict[int, list[Member]]
    open: dict[int, int]
    per_day: dict[tuple[int, date], int]  # (person, local day) → requests asked that day
    first_day: date  # per_day is complete from this local day on
    last_asked: dict[int, datetime]
    seen: Fingerprints  # the look it is as of
    deleted: int = 0  # changes.committed("deleted") when it was read

    _carriers: dict[tuple[str | None, int], list[Member]] = field(default_factory=dict)
    _askable: dict[tuple[int, frozenset[str], date], tuple[list[Member], frozenset[int]]] = field(default_factory=dict)

    async def members(self, school_ids: Sequence[int]) -> dict[int, list[Member]]:
        return {sid: self.by_school[sid] for sid in school_ids if sid in self.by_school}

    def carriers(self, owner: str | None, school_id: int) -> list[Member]:
        """Worked out once per owner and school for as long as the snapshot lasts."""
        key = (owner, school_id)
        found = self._carriers.get(key)
        if found is None:
            found = self._carriers[key] = carriers(owner, self.by_school.get(school_id, ()))
        return found

    def askable(self, school_id: int, roles: frozenset[str], today: date) -> tuple[list[Member], frozenset[int]]:
        """Worked out once per school, roles and day for as long as the snapshot lasts."""
        key = (school_id, roles, today)
        found = self._askable.get(key)
        if found is None:
            if len(self._askable) >= 4096:
                self._askable.clear()
            found = self._askable[key] = askable(self.by_school.get(school_id, ()), roles, today)
        return found

    async def load(self, person_ids: Sequence[int], when: datetime) -> dict[int, Load]:
        day = when.astimezone(self.zone).date()
        return {
            pid: Load(self.per_day.get((pid, day), 0), self.open.get(pid, 0), self.last_asked.get(pid))
            for pid in dict.fromkeys(person_ids)
        }


class PeopleCache:
    """Keeps one network's :class:`Snapshot` fresh; safe to share between the bot's tasks."""

    def __init__(self, looks: Looks) -> None:
        self.looks = looks
        self.network_id = looks.network_id
        self.zone = looks.zone
        self.history_every = HISTORY_SECONDS
        self._snapshot: Snapshot | None = None
        self._history_read = -math.inf
        self._last_asked: dict[int, datetime] = {}
        self._lock = asyncio.Lock()
        self.people_reads = 0  # how many times people were read again (tests, diagnostics)

    async def people(self, session: AsyncSession, when: datetime) -> People:
        """The people and load to plan with, in ``session``'s transaction.

        Callers have already begun their transaction (the dispatcher's first statement, the
        sweeper's first read): on SQLite a transaction not yet begun that took this lock and
        then waited for the database, while the database's holder waited for this lock,
        would be a deadlock until the busy timeout.
        """
        await changes.flush(session)  # so that this transaction's own changes have been noticed
        if changes.changed_here(session, "people"):
            return FromDatabase(session, self.zone)
        async with self._lock:
            seen = await self.looks.current(session, when)
            deleted = changes.committed("deleted")
            history_due = self.looks.timer() - self._history_read >= self.history_every
            old = self._snapshot
            if old is not None and old.seen is seen and old.deleted == deleted and not history_due:
                return old
            self._snapshot = await self._read(session, seen, deleted, history_due)
            return self._snapshot

    async def _read(self, session: AsyncSession, seen: Fingerprints, deleted: int, history_due: bool) -> Snapshot:
        """A snapshot as of ``seen``: what moved since the last one is read again."""
        old = self._snapshot
        if old is not None and old.seen.people == seen.people and old.deleted == deleted:
            by_school = old.by_school
        else:
            by_school = await read_members(session, self.network_id)
            self.people_reads += 1
        open_counts = old.open if old is not None and old.seen.open == seen.open else None
        if open_counts is None:
            open_counts = await read_open(session, self.network_id)
        if old is None or old.deleted != deleted or history_due:
            self._last_asked = await read_last_asked(session, self.network_id)
            self._history_read = self.looks.timer()
        if old is not None and old.seen.recent == seen.recent and old.seen.since == seen.since:
            per_day = old.per_day
        else:
            per_day = {}
            for pid, at in await read_recent(session, self.network_id, seen.since):
                key = (pid, at.astimezone(self.zone).date())
                per_day[key] = per_day.get(key, 0) + 1
                if pid not in self._last_asked or at > self._last_asked[pid]:
                    self._last_asked[pid] = at
        return Snapshot(
            zone=self.zone,
            by_school=by_school,
            open=open_counts,
            per_day=per_day,
            first_day=seen.since.astimezone(self.zone).date(),
            last_asked=dict(self._last_asked),
            seen=seen,
            deleted=deleted,
        )
