"""Choosing the peers for a question: people, not just schools.

From the strengths that match (see :mod:`bot.routing.matcher`), each strength's carrier
(its ``[owner]``, or the school's head) within the question's role group; never the
asker's school; the right phase ("Y11" → secondary, "phonics" → primary; the asker's own
phase first when the question is silent, and size for "other 1FE schools"); audited over
self-declared and recent audits over old; one person per school; nobody marked away; at
most ``max_new_requests_per_day`` new requests a school day and ``max_open_requests``
waiting per person, ties to whoever was asked least recently. Poor matches are dropped
rather than used to fill the list. People and their load come from memory
(:mod:`bot.routing.people`), so a question costs no query beyond the caches' checks.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config
from bot.models.network import Person
from bot.roles import LEADER_ROLES, in_group
from bot.routing import changes
from bot.routing.calendars import CalendarCache
from bot.routing.looks import Looks
from bot.routing.matcher import Analysis, Match, Matcher, Ranked, size_hint
from bot.routing.people import Load, Member, PeopleCache
from bot.routing.strengths import PlaceFacts, Strength, StrengthIndex, StrengthIndexCache, build_index, load_strengths

MIN_SCORE = 0.34  # below this a strength is not a genuine match (measured: tests/data/routing)
RELATIVE_CUTOFF = 0.55  # and nothing far below the best match is offered to fill the list
MAX_SCHOOLS = 10  # schools whose people are read per question, best first

PRIMARY_LIKE = frozenset({"primary", "nursery"})
SECONDARY_LIKE = frozenset({"secondary", "post-16"})
SMALL_PRIMARY = 240  # about one form of entry


@dataclass(frozen=True, slots=True)
class Peer:
    """A suggested peer (formats.md ``peers``)."""

    person_id: int
    email: str
    name: str
    school_id: int
    school: str
    role: str
    strength: str
    audit_item_id: int
    audited: bool
    score: float
    why: str
    last_asked: datetime | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "email": self.email,
            "name": self.name,
            "school": self.school,
            "role": self.role,
            "strength": self.strength,
            "audited": self.audited,
            "score": round(self.score, 3),
            "why": self.why,
        }


@dataclass
class RoutePlan:
    analysis: Analysis
    group: str | None
    topics: list[str]
    concepts: list[str]
    peers: list[Peer] = field(default_factory=list)  # the ones to ask now, best first
    busy: int = 0  # suitable peers skipped because they have enough to do
    send_at: datetime | None = None  # when the requests go (the next school time)
    retry_at: datetime | None = None  # nobody free now, but ``busy`` fit: when they are asked again


def phase_factor(hint: str | None, school_phase: str, asker_phase: str) -> float:
    if hint == "primary":
        if school_phase in PRIMARY_LIKE or school_phase == "all-through":
            return 1.0
        return {"middle": 0.9, "special": 0.85, "alternative": 0.8}.get(school_phase, 0.55)
    if hint == "secondary":
        if school_phase in SECONDARY_LIKE or school_phase == "all-through":
            return 1.0
        return {"middle": 0.9, "special": 0.85, "alternative": 0.85}.get(school_phase, 0.55)
    if school_phase == asker_phase:
        return 1.0
    if school_phase in ("special", "alternative") or asker_phase in ("special", "alternative"):
        return 0.95
    return 0.92


def audit_factor(s: Strength, today: date) -> float:
    if not s.audited:
        return 0.88
    if s.audited_on is None:
        return 0.97
    years = (today - s.audited_on).days / 365.25
    return max(0.85, 1.0 - 0.05 * max(0.0, years - 1.5))


def size_factor(small: bool, pupils: int | None, asker_pupils: int | None) -> float:
    target = SMALL_PRIMARY if small else asker_pupils
    if not target or not pupils:
        return 1.0
    gap = abs(math.log(pupils / target))
    return 1.0 - (0.12 if small else 0.04) * min(1.0, gap)


def best_of_each_school(
    facts: PlaceFacts,
    found: Ranked,
    *,
    hint: str | None,
    asker_school_id: int,
    asker_phase: str,
    asker_pupils: int | None,
    today: date,
    small: bool,
) -> list[tuple[Strength, float, Match[int]]]:
    """The best strength of each of the ``MAX_SCHOOLS`` best schools (never the asker's),
    best first, with its score — the match's, weighed by phase, provenance and size — and
    the match; none below ``MIN_SCORE`` or far below the best (``RELATIVE_CUTOFF``).

    The factors of every match are read from ``facts`` at once (their products kept per
    asker's phase and size, reading of the question and day); the scores are the same
    floats as ``match * (phase * audit * size)`` one by one. Ties keep the matches' own
    order (a stable sort)."""
    places = found.places
    school = facts.school[places]
    eligible = (school >= 0) & (school != asker_school_id)
    if not eligible.any():
        return []
    weights = facts.weights(
        (hint, asker_phase, asker_pupils, small, today, phase_factor, audit_factor, size_factor),
        lambda phase: phase_factor(hint, phase, asker_phase),
        lambda s: audit_factor(s, today),
        lambda pupils: size_factor(small, pupils, asker_pupils),
    )
    scores = found.scores * weights[places]
    best = float(scores[eligible].max())
    kept = np.flatnonzero(eligible & (scores >= max(MIN_SCORE, RELATIVE_CUTOFF * best)))
    kept = kept[np.argsort(-scores[kept], kind="stable")]
    out: list[tuple[Strength, float, Match[int]]] = []
    seen: set[int] = set()
    for at, school_id in zip(kept.tolist(), school[kept].tolist(), strict=True):
        if school_id in seen:
            continue  # each school's first is its best
        seen.add(school_id)
        s = facts.strengths[int(places[at])]
        assert s is not None
        out.append((s, float(scores[at]), Match(s.item_id, float(found.scores[at]), (), (), bool(found.direct[at]))))
        if len(out) == MAX_SCHOOLS:
            break
    return out


def describe(s: Strength, match: Match[int]) -> str:
    """The short human "why" for one suggestion."""
    how = match.reason()
    provenance = (f"audited {s.audited_on:%B %Y}" if s.audited_on else "audited") if s.audited else "self-declared"
    return f"{s.school} offers “{s.text}” ({provenance})" + (f"; {how}" if how else "")


class Router:
    """Plans routes for one network; shares the strength index across events."""

    def __init__(self, config: Config, cache: StrengthIndexCache) -> None:
        self.config = config
        self.cache = cache
        check_every = config.settings.routing.index_check_seconds
        self.looks = Looks(cache.network_id, config.zone, check_every=check_every)
        self.people = PeopleCache(self.looks)
        self.calendars = CalendarCache(config, self.looks)
        self.used = -math.inf  # when a plan was last made (on the looks' timer)

    async def strengths(self, session: AsyncSession, when: datetime | None = None) -> StrengthIndex:
        """The strength index, as fresh as the latest look (a transaction that has changed
        audits or schools itself gets one of its own, kept by nobody)."""
        seen = await self.looks.current(session, when)
        if changes.changed_here(session, "strengths"):
            return build_index(self.matcher, await load_strengths(session, self.cache.network_id), seen.strengths)
        return await self.cache.get(session, seen.strengths)

    @property
    def matcher(self) -> Matcher:
        return self.cache.matcher

    async def prepare(self, session: AsyncSession, now: datetime) -> None:
        """Read everything a question needs (strengths, people, their load, term dates and
        bank holidays) ahead of the first one, so that the first answer is as fast as the rest."""
        await self.strengths(session, now)
        await self.people.people(session, now)
        calendar = await self.calendars.get(session)
        calendar.is_bank_holiday(now.astimezone(self.config.zone).date())

    async def look_ahead(self, session: AsyncSession, now: datetime, ahead: float) -> None:
        """For :func:`bot.freshness.keep_fresh`: look for other processes' changes if the
        next question would look within ``ahead`` seconds, and read again what moved, so
        that the question finds everything fresh."""
        await self.looks.look_ahead(session, ahead)
        await self.prepare(session, now)

    def choose_group(self, asker: Person, analysis: Analysis, requested: str | None) -> str | None:
        """The role group a question goes to: the channel's, else what it is about, else heads."""
        groups = self.config.enabled_groups()
        if requested and requested in groups:
            return requested
        mine = [name for name, g in groups.items() if in_group(asker.roles, g.roles)]
        vocab = self.matcher.vocabulary
        for topic in analysis.topics:
            for name in vocab.topics[topic].groups:
                if name in mine:
                    return name
        if "heads" in mine or (not mine and "heads" in groups):
            return "heads"
        return mine[0] if mine else None

    async def plan(
        self,
        session: AsyncSession,
        *,
        asker: Person,
        text: str,
        group: str | None,
        when: datetime,
        exclude: Collection[int] = (),
        asked_schools: Collection[int] = (),
        limit: int | None = None,
        apply_load: bool = True,
        index: StrengthIndex | None = None,
    ) -> RoutePlan:
        self.used = self.looks.timer()
        analysis = self.matcher.analyse(text)
        group = self.choose_group(asker, analysis, group)
        vocab = self.matcher.vocabulary
        plan = RoutePlan(
            analysis=analysis,
            group=group,
            topics=sorted(analysis.topics, key=lambda t: list(vocab.topics).index(t)),
            concepts=sorted(analysis.concepts),
        )
        limit = limit or self.config.settings.routing.peers_per_question
        index = index or await self.strengths(session, when)
        found = index.items.ranked(analysis, limit=400, min_score=MIN_SCORE * 0.8)
        today = when.astimezone(self.config.zone).date()
        best = best_of_each_school(
            index.facts(),
            found,
            hint=analysis.phase,
            asker_school_id=asker.school_id,
            asker_phase=asker.school.phase,
            asker_pupils=asker.school.pupils,
            today=today,
            small=size_hint(text) == "small",
        )
        if not best:
            return plan
        people = await self.people.people(session, when)
        people_by_school = await people.members([s.school_id for s, _, _ in best])
        group_roles = self._group_roles(group)
        wanted = frozenset(group_roles)  # in_group(roles, group_roles): not wanted.isdisjoint(roles)
        matches = {s.school_id: m for s, _, m in best}  # school → how the strength it is asked for matched
        chosen: list[tuple[Member, Strength, float]] = []  # who could be asked, with the rounded score
        asker_id = asker.id
        for s, score, _ in best:
            if s.school_id not in people_by_school:
                continue
            members, allowed = people.askable(s.school_id, wanted, today)  # leaders first
            if asker_id in allowed or exclude:
                members = [p for p in members if p.id != asker_id and p.id not in exclude]
                allowed = frozenset(p.id for p in members)
            if not members:
                continue
            holders = [p for p in people.carriers(s.owner, s.school_id) if p.id in allowed] or members
            chosen.extend((person, s, round(score, 4)) for person in holders[:2])
        if not chosen:
            return plan
        load = await people.load([person.id for person, _, _ in chosen], when)
        settings = self.config.settings.routing
        ordered: list[tuple[Member, Strength, float, datetime | None]] = []
        for person, s, score in chosen:
            busy = load.get(person.id, Load(0, 0, None))
            if apply_load and (
                busy.today >= settings.max_new_requests_per_day or busy.open >= settings.max_open_requests
            ):
                plan.busy += 1
                continue
            ordered.append((person, s, score, busy.last_asked))
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        # Schools not yet asked about this question first; ties to whoever was asked least recently.
        ordered.sort(key=lambda p: (p[1].school_id in asked_schools, -round(p[2], 2), p[3] or epoch, p[0].email))
        # One person per school in the list (the second carrier waits for escalation).
        per_school: set[int] = set()
        for person, s, score, last_asked in ordered:
            if len(plan.peers) == limit:
                break
            if s.school_id in per_school:
                continue
            per_school.add(s.school_id)
            plan.peers.append(
                Peer(
                    person_id=person.id,
                    email=person.email,
                    name=person.name,
                    school_id=s.school_id,
                    school=s.school,
                    role=_role_in(person, group_roles),
                    strength=s.text,
                    audit_item_id=s.item_id,
                    audited=s.audited,
                    score=score,
                    # The "why" is written for the peers chosen only (explaining a match takes a while).
                    why=_why(index, analysis, s, matches[s.school_id]),
                    last_asked=last_asked,
                )
            )
        return plan

    def _group_roles(self, group: str | None) -> Sequence[str]:
        groups = self.config.enabled_groups()
        if group and group in groups:
            return groups[group].roles
        return LEADER_ROLES


def _why(index: StrengthIndex, analysis: Analysis, s: Strength, m: Match[int]) -> str:
    return describe(s, index.items.explain(analysis, m))


def _role_in(person: Member, group_roles: Sequence[str]) -> str:
    for role in group_roles:
        if person.has_role(role):
            return role
    return person.roles[0] if person.roles else ""
