"""The one query that tells routing's memory whether the database moved: what moves it, what
does not, and what a quiet question costs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select

from bot.app import PeerBot
from bot.models import InsetDay, OutboxMessage, Person, PersonRole, Question, Referral, Term
from bot.routing import changes
from bot.routing.looks import Fingerprints, Looks, read_fingerprints
from bot.routing.service import router_of
from tests.support.routing import Timer

ASKER = "e.evans@beacon.sch.uk"
PA = "how are people getting PA down? we're at 22% and the LA are on at us"


@pytest.fixture
def routing_settings() -> dict[str, Any]:
    return {"index_check_seconds": 1.0}


async def fingerprints(bot: PeerBot) -> Fingerprints:
    since = bot.clock.now() - timedelta(days=1)
    async with bot.db.session() as session:
        return await read_fingerprints(session, bot.network_id, since)


async def moves(bot: PeerBot, change: Callable[[Any], Awaitable[None]]) -> set[str]:
    """Which parts of the fingerprints ``change`` (made in its own transaction) moves."""
    before = await fingerprints(bot)
    async with bot.db.session() as session:
        await change(session)
    after = await fingerprints(bot)
    parts = ("strengths", "people", "open", "recent", "terms")
    return {part for part in parts if getattr(before, part) != getattr(after, part)}


async def test_each_change_moves_its_part_and_nothing_else(net_bot: PeerBot) -> None:
    now = net_bot.clock.now()
    people = {p.email: p.id for p in await _people(net_bot)}
    ids: dict[str, int] = {}

    async def ask(session: Any) -> None:
        question = Question(
            network_id=net_bot.network_id, asker_id=people[ASKER], via="cli", platform="console", text="?"
        )
        session.add(question)
        await session.flush()
        ids["question"] = question.id

    async def refer(session: Any) -> None:
        referral = Referral(question_id=ids["question"], person_id=people["b.brown@ashgrove.sch.uk"], asked_at=now)
        session.add(referral)
        await session.flush()
        ids["referral"] = referral.id

    async def decline(session: Any) -> None:
        (await session.get(Referral, ids["referral"])).status = "declined"

    async def reopen_and_close(session: Any) -> None:
        (await session.get(Referral, ids["referral"])).status = "asked"
        await session.flush()

    async def close_question(session: Any) -> None:
        (await session.get(Question, ids["question"])).status = "closed"

    async def away(session: Any) -> None:
        (await session.get(Person, people[ASKER])).away_until = date(2026, 12, 1)

    async def roles(session: Any) -> None:
        (await session.get(Person, people[ASKER])).role_rows = [PersonRole(role="head"), PersonRole(role="dsl")]

    async def term_end(session: Any) -> None:
        term = (await session.execute(select(Term).where(Term.name == "Autumn 2"))).scalar_one()
        term.end = term.end - timedelta(days=1)

    async def inset(session: Any) -> None:
        term = (await session.execute(select(Term).where(Term.name == "Autumn 2"))).scalar_one()
        term.inset_rows = [InsetDay(day=date(2026, 11, 27))]

    async def outbox(session: Any) -> None:
        session.add(
            OutboxMessage(
                network_id=net_bot.network_id, key="x", platform="console", target={}, message={}, not_before=now
            )
        )

    assert await moves(net_bot, ask) == set()  # nobody's load changes until someone is asked
    assert await moves(net_bot, refer) == {"open", "recent"}
    assert await moves(net_bot, decline) == {"open"}
    assert await moves(net_bot, reopen_and_close) == {"open"}
    assert await moves(net_bot, close_question) == {"open"}
    assert await moves(net_bot, away) == {"people"}
    assert await moves(net_bot, roles) == {"people"}
    assert await moves(net_bot, term_end) == {"terms"}
    assert await moves(net_bot, inset) == {"terms"}
    assert await moves(net_bot, outbox) == set()


async def test_a_quiet_question_after_the_interval_costs_one_query(net_bot: PeerBot) -> None:
    router = router_of(net_bot)
    timer = Timer()
    router.looks.timer = timer
    asker = next(p for p in await _people(net_bot) if p.email == ASKER)
    seen: list[str] = []

    def record(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
        seen.append(statement)

    async def plan() -> None:
        async with net_bot.db.session() as session:
            await router.plan(session, asker=asker, text=PA, group="heads", when=net_bot.clock.now())
            await router.calendars.get(session)

    await plan()
    timer.now += 5
    event.listen(net_bot.db.engine.sync_engine, "before_cursor_execute", record)
    try:
        await plan()
        timer.now += 0.5
        within = len(seen)
        await plan()
    finally:
        event.remove(net_bot.db.engine.sync_engine, "before_cursor_execute", record)
    selects = [s for s in seen if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1 and len(seen) == within  # one look; nothing at all within the interval


async def test_a_transaction_with_changes_of_its_own_keeps_its_look_to_itself(net_bot: PeerBot) -> None:
    looks = Looks(net_bot.network_id, net_bot.config.zone, check_every=3600)
    async with net_bot.db.session() as session:
        shared = await looks.current(session)

    class Undo(Exception):
        pass

    with pytest.raises(Undo):
        async with net_bot.db.session() as session:
            person = (await session.execute(select(Person).where(Person.email == ASKER))).unique().scalar_one()
            person.away_until = date(2026, 12, 1)
            own = await looks.current(session)  # sees its own change...
            assert own.people != shared.people
            raise Undo  # ...which is then rolled back
    async with net_bot.db.session() as session:
        assert await looks.current(session) is shared  # and nobody else ever saw it


async def _people(bot: PeerBot) -> list[Person]:
    async with bot.db.session() as session:
        q = select(Person).where(Person.network_id == bot.network_id)
        return list((await session.execute(q)).unique().scalars())


async def test_a_flush_is_made_only_when_something_is_pending(net_bot: PeerBot) -> None:
    async with net_bot.db.session() as session:
        person = (await session.execute(select(Person).where(Person.email == ASKER))).unique().scalar_one()
        flushes: list[object] = []
        event.listen(session.sync_session, "after_flush", lambda *_: flushes.append(1))
        await changes.flush(session)
        assert flushes == [] and not changes.changed_here(session, "people")
        person.away_until = date(2026, 12, 1)
        await changes.flush(session)
        assert flushes == [1] and changes.changed_here(session, "people")
