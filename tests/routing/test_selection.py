"""Choosing among the peers who fit: ties go to whoever was asked least recently; no
factor lifts a match above its own score (a plan stops reading matches on that)."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from bot.app import PeerBot
from bot.models import Person, Question, Referral
from bot.network.importer import import_network
from bot.network.parse import SourceFile
from bot.routing.select import audit_factor, phase_factor, size_factor
from bot.routing.service import router_of
from bot.routing.strengths import Strength

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
