"""The in-memory index of every school's current audit strengths.

Built once from the database and kept by the router. Another process may import a new
audit at any time (``peerbot network import``), so the index is kept with the version of
the audits and schools tables it was built from; the router's look at the database
(:mod:`bot.routing.looks`, at most every ``routing.index_check_seconds``, and at once after
this process changes an audit) reads that version, and a changed version rebuilds the
index. Used on its own, :meth:`StrengthIndexCache.get` reads the version itself. A rebuild
of 1,500 strengths takes well under a second (see ``bench/routing``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import numpy.typing as npt
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models.network import Audit, AuditItem, School
from bot.network import store
from bot.routing.matcher import ItemIndex, Matcher


@dataclass(frozen=True, slots=True)
class Strength:
    """One current audit strength, with what routing needs to know about its school."""

    item_id: int
    school_id: int
    school: str
    phase: str
    pupils: int | None
    text: str
    owner: str | None
    audited: bool
    audited_by: str | None
    audited_on: date | None


WEIGHTS_KEPT = 250_000  # per-place weights kept, for askers' schools and days (2 MB at most)


@dataclass
class PlaceFacts:
    """What routing weighs about each item of the index, by the item's place in it, as
    arrays: its school (-1 when the item is no current strength), and codes into the
    distinct phases, provenances (audited, and when) and school sizes — each factor is
    worked out once per distinct value, then read for every match at once."""

    strengths: list[Strength | None]
    school: npt.NDArray[np.int64]
    phase: npt.NDArray[np.intp]
    phases: list[str]
    provenance: npt.NDArray[np.intp]
    provenances: list[Strength]  # one strength for each distinct (audited, audited_on)
    size: npt.NDArray[np.intp]
    sizes: list[int | None]
    _weights: dict[Hashable, npt.NDArray[np.float64]] = field(default_factory=dict)

    @classmethod
    def of(cls, keys: list[int], strengths: dict[int, Strength]) -> PlaceFacts:
        at = [strengths.get(k) for k in keys]
        phases: dict[str, int] = {}
        provenances: dict[tuple[bool, date | None], int] = {}
        kept: list[Strength] = []
        sizes: dict[int | None, int] = {}
        n = len(at)
        school, phase = np.full(n, -1, np.int64), np.zeros(n, np.intp)
        provenance, size = np.zeros(n, np.intp), np.zeros(n, np.intp)
        for i, s in enumerate(at):
            if s is None:
                continue
            school[i] = s.school_id
            phase[i] = phases.setdefault(s.phase, len(phases))
            key = (s.audited, s.audited_on)
            if key not in provenances:
                provenances[key] = len(kept)
                kept.append(s)
            provenance[i] = provenances[key]
            size[i] = sizes.setdefault(s.pupils, len(sizes))
        return cls(at, school, phase, list(phases), provenance, kept, size, list(sizes))

    def weights(
        self,
        key: Hashable,
        phase: Callable[[str], float],
        provenance: Callable[[Strength], float],
        size: Callable[[int | None], float],
    ) -> npt.NDArray[np.float64]:
        """Per place: ``phase(…) * provenance(…) * size(…)`` of its strength, in that order,
        each worked out once per distinct value; kept under ``key`` (what the three depend
        on), within a bound."""
        found = self._weights.get(key)
        if found is None:
            by_phase = np.array([phase(p) for p in self.phases] or [1.0])[self.phase]
            by_provenance = np.array([provenance(s) for s in self.provenances] or [1.0])[self.provenance]
            by_size = np.array([size(n) for n in self.sizes] or [1.0])[self.size]
            if (len(self._weights) + 1) * len(self.school) > WEIGHTS_KEPT:
                self._weights.clear()
            found = self._weights[key] = by_phase * by_provenance * by_size
        return found


@dataclass
class StrengthIndex:
    version: tuple[object, ...]
    strengths: dict[int, Strength]
    items: ItemIndex[int]
    _facts: PlaceFacts | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.strengths)

    def facts(self) -> PlaceFacts:
        """Per item place: its school, phase, provenance and size (worked out at first use)."""
        if self._facts is None:
            self._facts = PlaceFacts.of(self.items.keys, self.strengths)
        return self._facts


async def strengths_version(session: AsyncSession, network_id: int) -> tuple[object, ...]:
    """A cheap fingerprint of everything the index is built from."""
    audits = (
        select(
            func.count(Audit.id),
            func.max(Audit.id),
            func.count(Audit.superseded_at),
            func.max(Audit.superseded_at),
        )
        .join(School, School.id == Audit.school_id)
        .where(School.network_id == network_id)
    )
    schools = select(
        func.count(School.id), func.max(School.updated_at), func.count(School.id).filter(School.active.is_(True))
    ).where(School.network_id == network_id)
    a = (await session.execute(audits)).one()
    s = (await session.execute(schools)).one()
    return (*tuple(a), *tuple(s))


async def load_strengths(session: AsyncSession, network_id: int) -> list[Strength]:
    out: list[Strength] = []
    for audit in await store.current_audits(session, network_id):
        school = audit.school
        for item in audit.items:
            if item.kind != "strength":
                continue
            out.append(_strength(item, audit, school))
    return out


def _strength(item: AuditItem, audit: Audit, school: School) -> Strength:
    return Strength(
        item_id=item.id,
        school_id=school.id,
        school=school.name,
        phase=school.phase,
        pupils=school.pupils,
        text=item.text,
        owner=item.owner,
        audited=item.audited,  # each item's own: an edit may add a self-declared one
        audited_by=item.audited_by,
        audited_on=item.audited_on,
    )


def build_index(matcher: Matcher, strengths: list[Strength], version: tuple[object, ...] = ()) -> StrengthIndex:
    items = ItemIndex.build(matcher, ((s.item_id, s.text) for s in strengths))
    index = StrengthIndex(version=version, strengths={s.item_id: s for s in strengths}, items=items)
    index.facts()  # here rather than at the first question
    return index


class StrengthIndexCache:
    """Keeps one network's index fresh; safe to share between the bot's tasks."""

    def __init__(self, matcher: Matcher, network_id: int, *, check_every: float = 2.0) -> None:
        self.matcher = matcher
        self.network_id = network_id
        self.check_every = check_every
        self._index: StrengthIndex | None = None
        self._checked = 0.0
        self._lock = asyncio.Lock()
        self.rebuilds = 0

    def invalidate(self) -> None:
        """Check the version at the next use (this process changed an audit)."""
        self._checked = 0.0

    async def get(self, session: AsyncSession, version: tuple[object, ...] | None = None) -> StrengthIndex:
        """The index; with ``version`` (the strengths' fingerprint from :mod:`bot.routing.looks`)
        rebuilt only when that differs from what it was built from, else checked by itself."""
        if version is not None:
            return await self._at(session, version)
        now = time.monotonic()
        index = self._index
        if index is not None and len(index) and now - self._checked < self.check_every:
            return index
        async with self._lock:
            version = await strengths_version(session, self.network_id)
            if self._index is None or self._index.version != version:
                strengths = await load_strengths(session, self.network_id)
                # Analysis is CPU work: keep the event loop answering while it runs.
                self._index = await asyncio.to_thread(build_index, self.matcher, strengths, version)
                self.rebuilds += 1
            self._checked = time.monotonic()
            return self._index

    async def _at(self, session: AsyncSession, version: tuple[object, ...]) -> StrengthIndex:
        index = self._index
        if index is not None and index.version == version:
            return index
        async with self._lock:
            if self._index is None or self._index.version != version:
                strengths = await load_strengths(session, self.network_id)
                self._index = await asyncio.to_thread(build_index, self.matcher, strengths, version)
                self.rebuilds += 1
            self._checked = time.monotonic()
            return self._index
