"""Looking for other processes' changes ahead of the questions (bot.freshness): while
questions come in the looks happen in the background, so a question finds routing's state
and the knowledge-base index fresh and pays for no query; an idle bot looks at nothing."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import pytest
from sqlalchemy import event, select, update

from bot.app import PeerBot
from bot.clock import FrozenClock
from bot.db.engine import Database
from bot.freshness import keep_fresh
from bot.models import Person
from bot.routing.service import router_of
from knowledge import store
from knowledge.service import KnowledgeBase
from tests.conftest import make_config
from tests.support.routing import Timer, another_process, load_network
from tests.support.waiting import eventually

ASKER = "e.evans@beacon.sch.uk"
PA = "how are people getting PA down? we're at 22% and the LA are on at us"
CHECK = 0.3  # seconds: how fresh routing's state and the index must be, in these tests


@contextmanager
def selects(bot: PeerBot) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(bot.db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(bot.db.engine.sync_engine, "before_cursor_execute", record)


async def person(bot: PeerBot, email: str) -> Person:
    async with bot.db.session() as session:
        return (await session.execute(select(Person).where(Person.email == email))).unique().scalar_one()


async def plan_emails(bot: PeerBot, asker: Person) -> list[str]:
    async with bot.db.session() as session:
        plan = await router_of(bot).plan(session, asker=asker, text=PA, group="heads", when=bot.clock.now())
        await router_of(bot).calendars.get(session)
    return [p.email for p in plan.peers]


@pytest.fixture
async def running(database: Database, clock: FrozenClock) -> AsyncIterator[tuple[PeerBot, Timer]]:
    """The bot on the labelled network with its background looks running; routing's clock
    (``Timer``) moves by hand."""
    config = make_config({"routing": {"index_check_seconds": CHECK}, "knowledge": {"refresh_seconds": CHECK}})
    bot = await PeerBot.open(config, db=database, clock=clock, migrate=False, platforms=["console"])
    await load_network(bot)
    timer = Timer()
    router_of(bot).looks.timer = timer
    bot.start_background(only=("routing.freshness", "kb-freshness"))
    try:
        yield bot, timer
    finally:
        bot._stop.set()
        for task in bot._tasks:
            task.cancel()


async def test_while_questions_come_in_another_process_change_is_read_ahead_of_them(
    running: tuple[PeerBot, Timer],
) -> None:
    bot, timer = running
    router = router_of(bot)
    asker = await person(bot, ASKER)
    before = await plan_emails(bot, asker)  # a question: the bot is busy
    assert before
    first = await person(bot, before[0])
    with another_process():  # the first peer goes away, elsewhere
        async with bot.db.session() as session:
            (await session.get(Person, first.id)).away_until = date(2027, 1, 31)  # type: ignore[union-attr]
    looks, reads = router.looks.count, router.people.people_reads
    timer.now += CHECK  # the interval passes: the next question would have to look
    await eventually(lambda: router.people.people_reads > reads)  # looked, and read the people again
    assert router.looks.count > looks
    with selects(bot) as seen:
        after = await plan_emails(bot, asker)
    assert seen == []  # the question itself looked at nothing...
    assert first.email not in after  # ...and yet knew of the change


async def test_a_quiet_question_still_looks_for_itself(running: tuple[PeerBot, Timer]) -> None:
    bot, timer = running
    router = router_of(bot)
    assert router.used == -math.inf  # nobody has asked anything: no looks in the background
    count = router.looks.count
    timer.now += CHECK
    await asyncio.sleep(CHECK)
    assert router.looks.count == count
    with selects(bot) as seen:
        await plan_emails(bot, await person(bot, ASKER))
    assert len(seen) >= 1 and router.looks.count == count + 1  # the look, on the question's own path


async def test_the_index_finds_another_workers_entry_before_the_next_search(running: tuple[PeerBot, Timer]) -> None:
    bot, _ = running
    kb = bot.service(KnowledgeBase)
    async with bot.db.session() as session:
        await kb.search(session, "attendance")  # builds the index, and counts as a use
    with another_process():
        async with bot.db.session() as session:
            entry, _ = await store.save(
                session,
                bot.network_id,
                store.NewEntry(kind="answer", title="Minibus rota", text="Drivers need a licence check."),
                now=bot.clock.now(),
                today=bot.clock.now().date(),
                settings=kb.settings,
                actor="test",
            )
    assert entry.id not in kb.index
    await eventually(lambda: entry.id in kb.index)  # found in the background: no search needed


async def test_keep_fresh_looks_only_while_busy_and_not_at_all_when_every_use_looks(database: Database) -> None:
    looked: list[float] = []
    used = [0.0]
    now = [0.0]

    async def look(_session: Any, ahead: float) -> None:
        looked.append(ahead)

    stop = asyncio.Event()
    await asyncio.wait_for(
        keep_fresh(database, stop, every=0, last_used=lambda: used[0], look=look), timeout=1
    )  # returns at once: with an interval of 0 every use looks for itself
    task = asyncio.create_task(
        keep_fresh(database, stop, every=0.1, last_used=lambda: used[0], look=look, busy_for=10, timer=lambda: now[0])
    )
    await asyncio.sleep(0.3)
    busy = len(looked)
    assert busy >= 2 and set(looked) == {0.05}  # every half interval, looking that far ahead
    now[0] = 11.0  # ten seconds and more since the last use
    await asyncio.sleep(0.05)
    idle = len(looked)
    await asyncio.sleep(0.3)
    assert len(looked) == idle  # an idle bot looks at nothing
    used[0] = 10.5  # a question
    await asyncio.sleep(0.2)
    assert len(looked) > idle
    stop.set()
    await asyncio.wait_for(task, timeout=1)


async def test_a_failed_look_is_logged_and_tried_again(database: Database, caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    async def look(_session: Any, _ahead: float) -> None:
        calls.append(1)
        raise RuntimeError("database gone")

    stop = asyncio.Event()
    task = asyncio.create_task(
        keep_fresh(database, stop, every=0.1, last_used=lambda: 0.0, look=look, timer=lambda: 1.0)
    )
    await asyncio.sleep(0.25)
    stop.set()
    await asyncio.wait_for(task, timeout=1)
    assert len(calls) >= 2
    assert "looking for changes in the background failed" in caplog.text


async def test_a_reading_session_holds_no_writer_up(net_bot: PeerBot) -> None:
    bot = net_bot
    async with bot.db.reading() as reader:
        person_id = (await reader.execute(select(Person.id).where(Person.email == ASKER))).scalar_one()

        async def write() -> None:
            async with bot.db.session() as session:
                (await session.get(Person, person_id)).away_until = date(2027, 1, 4)  # type: ignore[union-attr]

        await asyncio.wait_for(write(), timeout=5)  # while the reader's transaction is open
    async with bot.db.session() as session:
        assert (await session.get(Person, person_id)).away_until == date(2027, 1, 4)  # type: ignore[union-attr]


async def test_what_a_reading_session_writes_is_not_kept(net_bot: PeerBot) -> None:
    bot = net_bot
    async with bot.db.reading() as reader:
        await reader.execute(update(Person).where(Person.email == ASKER).values(name="Changed"))
        assert (await reader.execute(select(Person.name).where(Person.email == ASKER))).scalar_one() == "Changed"
    async with bot.db.session() as session:
        assert (await session.execute(select(Person.name).where(Person.email == ASKER))).scalar_one() != "Changed"
