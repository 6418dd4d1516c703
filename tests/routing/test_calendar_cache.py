"""The term dates routing keeps in memory: read in one query, the same as the calendar's own
loader, another process's import seen after the check interval, this process's at once."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from bot.app import PeerBot
from bot.calendar import SchoolCalendar
from bot.models import InsetDay, Term
from bot.network.importer import import_network
from bot.network.parse import SourceFile
from bot.routing.calendars import CalendarCache, read_terms
from bot.routing.looks import Looks
from tests.support.routing import Timer, another_process

TERMS = b"name,start,end,inset\nAutumn 1,2026-09-03,2026-10-23,2026-09-14\nAutumn 2,2026-11-02,2026-12-18,\n"


async def test_one_query_reads_what_the_calendar_loads(demo_bot: PeerBot) -> None:
    async with demo_bot.db.session() as session:
        loaded = await SchoolCalendar.load(session, demo_bot.network_id, demo_bot.config)
        assert tuple(loaded.terms) == await read_terms(session, demo_bot.network_id)
        assert any(t.inset for t in loaded.terms) and any(not t.inset for t in loaded.terms)


async def test_new_term_dates_count_after_the_interval_or_at_once_when_made_here(demo_bot: PeerBot) -> None:
    timer = Timer()
    cache = CalendarCache(demo_bot.config, Looks(demo_bot.network_id, demo_bot.config.zone, timer=timer))
    inset = date(2026, 11, 27)

    async def is_term_day() -> bool:
        async with demo_bot.db.session() as session:
            return (await cache.get(session)).is_term_day(inset)

    assert await is_term_day()
    with another_process():  # the convenor adds an INSET day with the CLI
        async with demo_bot.db.session() as session:
            term = (await session.execute(select(Term).where(Term.name == "Autumn 2"))).scalar_one()
            term.inset_rows = [InsetDay(day=inset)]
    timer.now += 0.5
    assert await is_term_day() and cache.reads == 1  # within the interval: not read again
    timer.now += 0.6
    assert not await is_term_day() and cache.reads == 2

    async with demo_bot.db.session() as session:  # this process imports term dates without it
        await import_network(
            session, demo_bot.network_id, terms=SourceFile(name="terms.csv", data=TERMS), now=demo_bot.clock.now()
        )
        assert (await cache.get(session)).is_term_day(inset)  # this transaction sees its own change
    assert await is_term_day() and cache.reads == 3  # and so does everyone, at once
    assert await is_term_day() and cache.reads == 3
