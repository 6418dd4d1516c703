"""Choosing among the peers who fit: ties go to whoever was asked least recently; no
factor lifts a match above its own score; each school's best strength, weighed for every
match at once, is what a plain loop over the matches finds."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from bot.app import PeerBot
from bot.models import Person, Question, Referral
from bot.network.importer import import_network
from bot.network.parse import SourceFile
from bot.routing import strengths as strengths_module
from bot.routing.matcher import Ranked
from bot.routing.people import Member, askable
from bot.routing.select import (
    MAX_SCHOOLS,
    MIN_SCORE,
    RELATIVE_CUTOFF,
    audit_factor,
    best_of_each_school,
    phase_factor,
    size_factor,
)
from bot.routing.service import router_of
from bot.routing.strengths import PlaceFacts, Strength

SCHOOLS = "name,phase,pupils\nAlder Primary,primary,210\nBirch Primary,primary,210\nCedar Primary,primary,210\n"
PEOPLE = (
    "name,email,school,roles\n"
    "Ann Alder,ann@alder.sch.uk,Alder Primary,head\n"
    "Bob Birch,bob@birch.sch.uk,Birch Primary,head\n"
    "Cat Cedar,cat@cedar.sch.uk,Cedar Primary,head\n"
)
AUDIT = (
    "school,strengths,needs,audited_by,audited_on\n"
    "Birch Primary,Improving attendance,,LA adviser,2026-03-01\n"
    "Cedar Primary,Improving attendance,,LA adviser,2026-03-01\n"
)
QUESTION = "how have you improved attendance?"


async def open_network(bot: PeerBot) -> dict[str, Person]:
    files = {"schools": SCHOOLS, "people": PEOPLE, "audit": AUDIT}
    async with bot.db.session() as session:
        sources = {k: SourceFile(name=f"{k}.csv", data=v.encode()) for k, v in files.items()}
        await import_network(session, bot.network_id, now=bot.clock.now(), **sources)
    async with bot.db.session() as session:
        people = (await session.execute(select(Person).where(Person.network_id == bot.network_id))).unique()
        return {p.email.split("@")[0]: p for p in people.scalars()}


async def asked_before(bot: PeerBot, asker: Person, person: Person, ago: timedelta) -> None:
    """``person`` was asked ``ago`` about a question since closed."""
    async with bot.db.session() as session:
        question = Question(
            network_id=bot.network_id, asker_id=asker.id, via="cli", platform="console", text="?", status="closed"
        )
        session.add(question)
        await session.flush()
        at = bot.clock.now() - ago
        session.add(Referral(question_id=question.id, person_id=person.id, status="expired", asked_at=at))


async def order(bot: PeerBot, asker: Person) -> list[str]:
    async with bot.db.session() as session:
        me = await session.get(Person, asker.id)
        assert me is not None
        plan = await router_of(bot).plan(session, asker=me, text=QUESTION, group="heads", when=bot.clock.now())
    assert {p.score for p in plan.peers} == {plan.peers[0].score}  # the two fit it equally well
    return [p.email for p in plan.peers]


async def test_ties_go_to_whoever_was_asked_least_recently(bot: PeerBot) -> None:
    people = await open_network(bot)
    ann, bob, cat = people["ann"], people["bob"], people["cat"]
    await asked_before(bot, ann, cat, timedelta(days=1))
    assert await order(bot, ann) == [bob.email, cat.email]  # Bob has never been asked
    await asked_before(bot, ann, bob, timedelta(hours=23))  # yesterday too, but an hour later
    assert await order(bot, ann) == [cat.email, bob.email]  # Cat was asked longer ago


PHASES = ["primary", "secondary", "special", "alternative", "all-through", "middle", "nursery", "post-16", "other"]


@given(
    st.sampled_from([None, "primary", "secondary"]),
    st.sampled_from(PHASES),
    st.sampled_from(PHASES),
    st.booleans(),
    st.one_of(st.none(), st.dates(date(1990, 1, 1), date(2040, 1, 1))),
    st.booleans(),
    st.one_of(st.none(), st.integers(0, 5000)),
    st.one_of(st.none(), st.integers(0, 5000)),
)
def test_no_factor_is_above_one(
    hint: str | None,
    phase: str,
    asker_phase: str,
    audited: bool,
    audited_on: date | None,
    small: bool,
    pupils: int | None,
    asker_pupils: int | None,
) -> None:
    s = Strength(
        item_id=1, school_id=1, school="S", phase=phase, pupils=pupils, text="t", owner=None,
        audited=audited, audited_by=None, audited_on=audited_on,
    )  # fmt: skip
    assert 0 < phase_factor(hint, phase, asker_phase) <= 1.0
    assert 0 < audit_factor(s, date(2026, 11, 23)) <= 1.0
    assert 0 < size_factor(small, pupils or None, asker_pupils or None) <= 1.0


TODAY = date(2026, 11, 23)


def plainly(
    strengths: list[Strength | None],
    found: list[tuple[int, float, bool]],
    hint: str | None,
    asker: Strength,
    small: bool,
    today: date = TODAY,
) -> list[tuple[int, float, float, bool]]:
    """What the plan did one match at a time: weigh each (best match first), keep those
    near the best, then each school's best strength, best school first."""
    scored: list[tuple[float, Strength, float, bool]] = []
    best = 0.0
    for place, match, direct in found:
        if match < max(MIN_SCORE, RELATIVE_CUTOFF * best):
            break  # no factor is above 1: nothing after this can be kept
        s = strengths[place]
        if s is None or s.school_id == asker.school_id:
            continue
        factor = phase_factor(hint, s.phase, asker.phase) * audit_factor(s, today)
        score = match * (factor * size_factor(small, s.pupils, asker.pupils))
        best = max(best, score)
        scored.append((score, s, match, direct))
    scored.sort(key=lambda x: -x[0])
    floor = max(MIN_SCORE, RELATIVE_CUTOFF * best)
    out: list[tuple[int, float, float, bool]] = []
    seen: set[int] = set()
    for score, s, match, direct in scored:
        if score >= floor and s.school_id not in seen:
            seen.add(s.school_id)
            out.append((s.item_id, score, match, direct))
    return out[:MAX_SCHOOLS]


a_strength = st.builds(
    Strength,
    item_id=st.just(0),
    school_id=st.integers(1, 14),
    school=st.just("S"),
    phase=st.sampled_from(PHASES),
    pupils=st.sampled_from([None, 105, 210, 420, 1400]),
    text=st.just("t"),
    owner=st.none(),
    audited=st.booleans(),
    audited_by=st.none(),
    audited_on=st.sampled_from([None, date(2020, 5, 1), date(2025, 3, 1), date(2026, 3, 1)]),
)


@given(st.lists(st.one_of(st.none(), a_strength), min_size=1, max_size=100), st.data())
def test_each_schools_best_is_what_a_plain_loop_finds(drawn: list[Strength | None], data: st.DataObject) -> None:
    strengths = [None if s is None else replace(s, item_id=i + 1) for i, s in enumerate(drawn)]
    keys = [i + 1 for i in range(len(strengths))]
    facts = PlaceFacts.of(keys, {s.item_id: s for s in strengths if s is not None})
    # several questions on the same facts (what they keep for one asker and day is not another's)
    first = True
    for _ in range(data.draw(st.integers(1, 4))):
        places = data.draw(st.permutations(range(len(strengths))))
        # few distinct scores, best first: ties are common, as between variants of one strength
        values = [0.2, 0.3, MIN_SCORE, 0.4, 0.5, 0.55, 0.7, 0.9, 1.0]
        scores = sorted(data.draw(st.lists(st.sampled_from(values), min_size=len(places), max_size=len(places))))
        scores.reverse()
        direct = data.draw(st.lists(st.booleans(), min_size=len(places), max_size=len(places)))
        # each question changes one thing or two (or nothing) of the one before
        if first or data.draw(st.booleans()):
            hint = data.draw(st.sampled_from([None, "primary", "secondary"]))
        if first or data.draw(st.booleans()):
            asker = data.draw(a_strength)
        if first or data.draw(st.booleans()):
            asker = replace(asker, pupils=data.draw(st.sampled_from([None, 105, 210, 420, 1400])))
        if first or data.draw(st.booleans()):
            asker = replace(asker, phase=data.draw(st.sampled_from(PHASES)))
        if first or data.draw(st.booleans()):
            small = data.draw(st.booleans())
        if first or data.draw(st.booleans()):
            today = data.draw(st.sampled_from([TODAY, date(2029, 1, 10)]))
        first = False
        found = Ranked(np.array(places, np.intp), np.array(scores), np.array(direct))
        got = best_of_each_school(
            facts, found, hint=hint, asker_school_id=asker.school_id, asker_phase=asker.phase,
            asker_pupils=asker.pupils, today=today, small=small,
        )  # fmt: skip
        expected = plainly(strengths, list(zip(places, scores, direct, strict=True)), hint, asker, small, today)
        assert [(s.item_id, score, m.score, m.direct) for s, score, m in got] == expected
        assert all(m.key == s.item_id for s, _, m in got)


def test_ties_keep_the_matches_order_among_many() -> None:
    """Sixty equal matches from fourteen schools, half of them of the asker's phase: those
    come first, and among equals each school's first in the matches' order is its best,
    the schools in that order."""
    strengths: list[Strength | None] = [
        Strength(
            item_id=i + 1,
            school_id=1 + (i * 5) % 14,
            school="S",
            phase="primary" if (i * 5) % 2 else "secondary",
            pupils=210,
            text="t",
            owner=None,
            audited=True,
            audited_by=None,
            audited_on=date(2026, 3, 1),
        )
        for i in range(60)
    ]
    facts = PlaceFacts.of([i + 1 for i in range(60)], {s.item_id: s for s in strengths if s is not None})
    places = [int(p) for p in np.random.default_rng(3).permutation(60)]
    found = Ranked(np.array(places, np.intp), np.full(60, 0.7), np.ones(60, np.bool_))
    got = best_of_each_school(
        facts, found, hint=None, asker_school_id=99, asker_phase="primary", asker_pupils=210, today=TODAY, small=False
    )
    asker = Strength(0, 99, "A", "primary", 210, "t", None, audited=True, audited_by=None, audited_on=None)
    expected = plainly(strengths, [(p, 0.7, True) for p in places], None, asker, False)
    assert len(got) == MAX_SCHOOLS
    assert [(s.item_id, score, m.score, m.direct) for s, score, m in got] == expected


def test_askable_are_in_the_group_and_not_away_leaders_first() -> None:
    """Who may be asked at a school when nobody there carries the strength itself: the
    group's members who are not away, the head first, then an executive head, then deputies
    (the school's own order among equals)."""
    people = [
        Member(1, 1, "a@x.sch.uk", "A", ("deputy",)),
        Member(2, 1, "b@x.sch.uk", "B", ("senco",)),
        Member(3, 1, "c@x.sch.uk", "C", ("deputy",), away_until=date(2026, 11, 30)),
        Member(4, 1, "d@x.sch.uk", "D", ("deputy", "exec-head")),
        Member(5, 1, "e@x.sch.uk", "E", ("head",)),
        Member(6, 1, "f@x.sch.uk", "F", ("deputy",)),
    ]
    heads = frozenset({"head", "exec-head", "deputy"})
    found, ids = askable(people, heads, TODAY)
    assert [p.id for p in found] == [5, 4, 1, 6]
    assert ids == {5, 4, 1, 6}
    found, _ = askable(people, heads, date(2026, 12, 1))  # back from being away
    assert [p.id for p in found] == [5, 4, 1, 3, 6]
    assert askable(people, frozenset({"senco"}), TODAY)[0] == [people[1]]


def test_what_is_kept_for_one_asking_is_not_used_for_another() -> None:
    """Two questions that differ in one thing the weights depend on (the reading of the
    question's phase, the asker's phase or size, "other 1FE schools", the day) weigh the
    same matches as each would on its own."""
    strengths: list[Strength | None] = [
        Strength(i + 1, 1 + i % 7, "S", phase, pupils, "t", None, audited, None, on)
        for i, (phase, pupils, audited, on) in enumerate(
            [
                ("primary", 210, True, date(2024, 1, 10)),
                ("secondary", 1400, True, date(2026, 3, 1)),
                ("special", 105, False, None),
                ("primary", 420, True, date(2026, 3, 1)),
                ("all-through", 950, True, None),
                ("middle", 630, True, date(2020, 3, 1)),
                ("secondary", 950, False, None),
            ]
        )
    ]
    found = Ranked(np.arange(7, dtype=np.intp), np.array([0.9, 0.8, 0.7, 0.6, 0.55, 0.5, 0.45]), np.ones(7, np.bool_))
    base = {"hint": None, "asker_phase": "primary", "asker_pupils": 210, "today": TODAY, "small": False}
    changes = {
        "hint": "secondary",
        "asker_phase": "secondary",
        "asker_pupils": 1400,
        "today": date(2029, 1, 10),
        "small": True,
    }

    def weigh(facts: PlaceFacts, asking: dict[str, Any]) -> list[tuple[int, float]]:
        got = best_of_each_school(facts, found, asker_school_id=99, **asking)
        return [(s.item_id, score) for s, score, _ in got]

    def fresh() -> PlaceFacts:
        return PlaceFacts.of(list(range(1, 8)), {s.item_id: s for s in strengths if s is not None})

    for name, value in changes.items():
        other = {**base, name: value}
        assert weigh(fresh(), other) != weigh(fresh(), base), name  # it does make a difference here
        shared = fresh()
        weigh(shared, base)
        assert weigh(shared, other) == weigh(fresh(), other), name


def test_the_weights_kept_stay_within_their_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """Weights are kept for at most a bounded number of askings (two here), and the
    plans are the same when they have been dropped."""
    strengths = [Strength(i + 1, 1 + i % 5, "S", PHASES[i % 9], 105 * (1 + i % 4), "t", None, True, None, None)
                 for i in range(20)]  # fmt: skip
    found = Ranked(np.arange(20, dtype=np.intp), np.linspace(1.0, 0.4, 20), np.ones(20, np.bool_))
    monkeypatch.setattr(strengths_module, "WEIGHTS_KEPT", 2 * len(strengths))
    facts = PlaceFacts.of(list(range(1, 21)), {s.item_id: s for s in strengths})
    for phase in PHASES:
        for pupils in (None, 105, 1400):
            asking: dict[str, Any] = {"hint": None, "asker_phase": phase, "asker_pupils": pupils, "small": False}
            fresh = PlaceFacts.of(list(range(1, 21)), {s.item_id: s for s in strengths})
            got = best_of_each_school(facts, found, asker_school_id=99, today=TODAY, **asking)
            assert got == best_of_each_school(fresh, found, asker_school_id=99, today=TODAY, **asking)
            assert len(facts._weights) <= 2
