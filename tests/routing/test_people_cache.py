"""People and their load kept in memory: the same answers as the database, another process's
changes counted once the check interval has passed, this process's at once."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select

from bot.app import PeerBot
from bot.models import Person, PersonRole, Question, Referral
from bot.models.questions import QUESTION_STATUSES, REFERRAL_STATUSES
from bot.routing.looks import Looks
from bot.routing.people import FromDatabase, Load, PeopleCache, Snapshot
from bot.routing.service import router_of
from tests.support.chat import Chat
from tests.support.routing import Timer, another_process

ASKER = "e.evans@beacon.sch.uk"
PA = "how are people getting PA down? we're at 22% and the LA are on at us"


@pytest.fixture
def routing_settings() -> dict[str, Any]:
    return {"index_check_seconds": 3600}  # nothing looks again by the clock in these tests


async def everyone(bot: PeerBot) -> list[Person]:
    async with bot.db.session() as session:
        q = select(Person).where(Person.network_id == bot.network_id).order_by(Person.id)
        return list((await session.execute(q)).unique().scalars())


async def refer(bot: PeerBot, person_id: int, asked_at: datetime, *, status: str = "asked", q: str = "open") -> int:
    async with bot.db.session() as session:
        asker = (await everyone(bot))[0]
        question = Question(
            network_id=bot.network_id, asker_id=asker.id, via="cli", platform="console", text="?", status=q
        )
        session.add(question)
        await session.flush()
        session.add(Referral(question_id=question.id, person_id=person_id, status=status, asked_at=asked_at))
        return question.id


async def test_the_snapshot_agrees_with_the_database(net_bot: PeerBot) -> None:
    rng = random.Random(4)
    now = net_bot.clock.now()
    people = await everyone(net_bot)
    async with net_bot.db.session() as session:
        for p in rng.sample(people, 6):
            (await session.get(Person, p.id)).away_until = (now + timedelta(days=rng.randint(-3, 3))).date()  # type: ignore[union-attr]
        for _ in range(40):
            question = Question(
                network_id=net_bot.network_id,
                asker_id=rng.choice(people).id,
                via="cli",
                platform="console",
                text="?",
                status=rng.choice(QUESTION_STATUSES),
            )
            session.add(question)
            await session.flush()
            for p in rng.sample(people, rng.randint(1, 4)):
                at = now + timedelta(hours=rng.randint(-24 * 4, 30))
                session.add(
                    Referral(question_id=question.id, person_id=p.id, status=rng.choice(REFERRAL_STATUSES), asked_at=at)
                )
    cache = PeopleCache(Looks(net_bot.network_id, net_bot.config.zone, check_every=3600))
    ids = [p.id for p in people]
    schools = sorted({p.school_id for p in people})
    seen: list[Load] = []
    for when in (now, now + timedelta(hours=20), now + timedelta(days=1, hours=2)):
        async with net_bot.db.session() as session:
            snap = await cache.people(session, when)
            assert isinstance(snap, Snapshot)
            direct = FromDatabase(session, net_bot.config.zone)
            assert await snap.members(schools) == await direct.members(schools)
            owners = [None, "senco", "sbm", "dsl", "subject:maths", people[0].email, "nobody@example.org"]
            for owner in owners:  # each kind of owner: the head, a role (vacant or not), an email
                for school in schools:
                    assert snap.carriers(owner, school) == direct.carriers(owner, school)
                    assert snap.carriers(owner, school) is snap.carriers(owner, school)  # worked out once
            assert any(snap.carriers("senco", school) for school in schools)
            got, want = await snap.load(ids, when), await direct.load(ids, when)
            assert got == want
            seen += want.values()
    assert sum(v.today for v in seen) > 10 and sum(v.open for v in seen) > 10  # a real test of both
    assert any(v.last_asked for v in seen) and any(v.last_asked is None for v in seen)


async def test_another_process_counts_after_the_interval_and_this_one_at_once(net_bot: PeerBot) -> None:
    timer = Timer()
    looks = Looks(net_bot.network_id, net_bot.config.zone, check_every=1.0, timer=timer)
    cache = PeopleCache(looks)
    now = net_bot.clock.now()
    ben, faye, carl, *_ = await everyone(net_bot)

    async def load(person: Person) -> Load:
        async with net_bot.db.session() as session:
            return (await (await cache.people(session, now)).load([person.id], now))[person.id]

    assert await load(ben) == Load(0, 0, None)
    with another_process():
        await refer(net_bot, ben.id, now)
    timer.now += 0.5
    assert await load(ben) == Load(0, 0, None)  # within the interval: not looked yet
    timer.now += 0.6
    assert await load(ben) == Load(1, 1, now)

    # Another process marks Faye away; then, alone, changes Carl's roles.
    async def members() -> dict[int, Any]:
        async with net_bot.db.session() as session:
            found = await (await cache.people(session, now)).members([faye.school_id, carl.school_id])
        return {m.id: m for ms in found.values() for m in ms}

    with another_process():
        async with net_bot.db.session() as session:
            f = await session.get(Person, faye.id)
            assert f is not None
            f.away_until = now.date() + timedelta(days=7)
    timer.now += 1.1
    assert (await members())[faye.id].away_until == now.date() + timedelta(days=7)
    with another_process():
        async with net_bot.db.session() as session:
            c = await session.get(Person, carl.id)
            assert c is not None
            c.role_rows = [PersonRole(role="sbm")]
    reads = cache.people_reads
    timer.now += 1.1
    assert (await members())[carl.id].roles == ("sbm",)
    assert cache.people_reads == reads + 1
    timer.now += 1.1
    await members()
    assert cache.people_reads == reads + 1  # nobody changed: people are not read again

    # This process's own commit counts at once, without waiting for the interval.
    count = looks.count
    await refer(net_bot, faye.id, now + timedelta(minutes=5))
    assert (await load(faye)).today == 1 and looks.count == count + 1
    # And a quiet question inside the interval reads nothing at all.
    assert (await load(faye)).today == 1 and looks.count == count + 1


async def test_a_transaction_that_changed_referrals_reads_them_itself(net_bot: PeerBot) -> None:
    cache = PeopleCache(Looks(net_bot.network_id, net_bot.config.zone, check_every=3600))
    now = net_bot.clock.now()
    ben = (await everyone(net_bot))[0]
    async with net_bot.db.session() as session:
        assert isinstance(await cache.people(session, now), Snapshot)
    async with net_bot.db.session() as session:
        question = Question(network_id=net_bot.network_id, asker_id=ben.id, via="cli", platform="console", text="?")
        session.add(question)
        await session.flush()
        assert isinstance(await cache.people(session, now), Snapshot)  # a new question changes nobody's load
        session.add(Referral(question_id=question.id, person_id=ben.id, status="asked", asked_at=now))
        source = await cache.people(session, now)  # not flushed yet: looking flushes it
        assert isinstance(source, FromDatabase)
        assert (await source.load([ben.id], now))[ben.id] == Load(1, 1, now)


async def test_the_history_is_read_again_after_a_deletion_here(net_bot: PeerBot) -> None:
    cache = PeopleCache(Looks(net_bot.network_id, net_bot.config.zone, check_every=3600))
    now = net_bot.clock.now()
    ben = (await everyone(net_bot))[0]
    await refer(net_bot, ben.id, now - timedelta(days=40), status="declined", q="closed")
    latest = await refer(net_bot, ben.id, now - timedelta(days=20), status="declined", q="closed")

    async def last() -> datetime | None:
        async with net_bot.db.session() as session:
            return (await (await cache.people(session, now)).load([ben.id], now))[ben.id].last_asked

    assert await last() == now - timedelta(days=20)
    async with net_bot.db.session() as session:
        await session.delete(await session.get(Question, latest))
    assert await last() == now - timedelta(days=40)


async def test_two_questions_in_a_row_respect_the_daily_limit_with_a_long_check_interval(
    net: Chat, net_bot: PeerBot
) -> None:
    assert router_of(net_bot).looks.check_every == 3600
    [first] = await net.say(ASKER, PA, where="heads")
    assert "Ben Brown" in first.text
    [second] = await net.say("c.doyle@hazelwood.sch.uk", "persistent absence - graduated response?", where="heads")
    assert "Ben Brown" not in second.text and "already have several requests waiting" in second.text


async def test_a_warm_question_sends_no_query_about_people_or_load(net: Chat, net_bot: PeerBot) -> None:
    await net.say(ASKER, "anyone got a good trip risk assessment template?", where="heads")
    seen: list[str] = []

    def record(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
        seen.append(statement)

    router = router_of(net_bot)
    asker = next(p for p in await everyone(net_bot) if p.email == ASKER)
    event.listen(net_bot.db.engine.sync_engine, "before_cursor_execute", record)
    try:
        async with net_bot.db.session() as session:
            await router.plan(session, asker=asker, text=PA, group="heads", when=net_bot.clock.now())
            looked = list(seen)  # the question above was this process's commit: the caches look once
            seen.clear()
            plan = await router.plan(session, asker=asker, text=PA, group="heads", when=net_bot.clock.now())
    finally:
        event.remove(net_bot.db.engine.sync_engine, "before_cursor_execute", record)
    assert any("people" in s for s in looked) and any("referrals" in s for s in looked)
    assert plan.peers and seen == []


async def test_start_up_reads_what_the_first_question_needs(net_bot: PeerBot) -> None:
    from bot.routing.select import Router

    router = Router(net_bot.config, router_of(net_bot).cache)
    async with net_bot.db.session() as session:
        await router.prepare(session, net_bot.clock.now())
    assert router.looks.count == 1 and router.people.people_reads == 1 and router.calendars.reads == 1
