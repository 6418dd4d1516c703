"""Term dates corrected or replaced after meetings were planned: meetings follow them, the
convenor hears about what can no longer stand, and a bad config never stops the bot."""

from __future__ import annotations

import logging
from datetime import date

import pytest

from bot.app import PeerBot
from bot.calendar import SchoolCalendar
from bot.clock import FrozenClock
from bot.db.engine import Database
from bot.demo import demo_file
from bot.network.importer import import_network
from bot.network.parse import SourceFile
from tests.conftest import make_config
from tests.support.chat import Chat
from tests.support.meetings import CONVENOR, buttons, clock_of, meetings, posts, press, tick

DEMO_TERMS = demo_file("terms.csv").data


async def import_terms(bot: PeerBot, data: bytes) -> None:
    async with bot.db.session() as session:
        await import_network(session, bot.network_id, terms=SourceFile("terms.csv", data), now=bot.clock.now())


async def test_meetings_follow_corrected_term_dates(chat: Chat, demo_bot: PeerBot) -> None:
    await tick(demo_bot)
    before = {m.half_term: m for m in await meetings(demo_bot)}
    autumn = before["Autumn 2"]
    [reply] = await chat.command(CONVENOR, "meeting", f"book {autumn.id} 2")  # Wed 9 Dec
    assert "Booked" in reply.text
    fixed = (
        DEMO_TERMS.replace(b"Autumn 2,2026-11-02,2026-12-18", b"Autumn 2,2026-11-02,2026-12-04")
        .replace(b"Spring 1,2027-01-05", b"Spring 1,2027-01-11")
        .replace(b"Summer 2,2027-06-07,2027-07-21,2027-07-19\n", b"")
    )
    await import_terms(demo_bot, fixed)
    await tick(demo_bot)
    after = {m.half_term: m for m in await meetings(demo_bot)}
    # The booked meeting stays where it is, and the convenor is told it is now outside term.
    assert after["Autumn 2"].id == autumn.id and after["Autumn 2"].status == "booked"
    assert after["Autumn 2"].term_end == date(2026, 12, 4)
    [notice] = [s for s in chat.dms(CONVENOR) if "term dates have changed" in s.text]
    assert notice.text == (
        "The term dates have changed, and the **Heads meeting — Autumn 2** on Wed 9 Dec, 09:30–11:30 is now "
        f"outside Autumn 2 (Mon 2 Nov to Fri 4 Dec). Move it with **meeting book {autumn.id} 2026-11-18 09:30** "
        f"(any date and time), or **meeting cancel {autumn.id}**."
    )
    # The planned one moves with its half-term and is planned again from the new dates.
    spring = after["Spring 1"]
    assert spring.id == before["Spring 1"].id and spring.term_start == date(2027, 1, 11)
    assert spring.options[0].start.date() > before["Spring 1"].options[0].start.date()
    assert all(o.start.date() >= date(2027, 1, 18) for o in spring.options)
    # The half-term that went takes its plan with it.
    assert "Summer 2" not in after
    await tick(demo_bot)
    assert len([s for s in chat.dms(CONVENOR) if "term dates have changed" in s.text]) == 1


async def test_a_poll_whose_dates_fall_out_of_term_is_not_booked_there(chat: Chat, demo_bot: PeerBot) -> None:
    await tick(demo_bot)
    poll_meeting = next(m for m in await meetings(demo_bot) if m.status == "polling")
    await import_terms(
        demo_bot, DEMO_TERMS.replace(b"Autumn 2,2026-11-02,2026-12-18", b"Autumn 2,2026-11-02,2026-12-04")
    )
    await tick(demo_bot)
    [notice] = [s for s in chat.dms(CONVENOR) if "term dates have changed" in s.text]
    assert "has poll dates now outside Autumn 2 (Mon 2 Nov to Fri 4 Dec): Wed 9 Dec. I won't book those." in notice.text
    assert poll_meeting.poll_closes_at is not None
    # Everyone picks the date now out of term: it is not booked, the convenor is asked.
    [poll] = posts(chat, "which dates can you make")
    for who in ("m.kowalski@stmarys.sch.uk", "d.okafor@fairsmead.sch.uk"):
        await press(chat, who, poll, buttons(poll, "meeting.vote")[1])
    clock_of(demo_bot).set(poll_meeting.poll_closes_at)
    result = await tick(demo_bot)
    assert "nobody chose a date that is still in term" in result.closed[0]
    assert next(m for m in await meetings(demo_bot) if m.id == poll_meeting.id).status == "polling"


async def test_corrected_config_terms_replace_the_old_ones_and_a_bad_sync_never_stops_the_bot(
    database: Database, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    terms = [
        {"name": "Autumn 1", "start": date(2026, 9, 30), "end": date(2026, 10, 23)},  # a typo: the 30th
        {"name": "Autumn 2", "start": date(2026, 11, 2), "end": date(2026, 12, 18)},
    ]
    await PeerBot.open(make_config({"terms": terms}), db=database, clock=clock, migrate=False, platforms=[])
    terms[0]["start"] = date(2026, 9, 3)
    bot = await PeerBot.open(make_config({"terms": terms}), db=database, clock=clock, migrate=False, platforms=[])
    async with bot.db.session() as session:
        cal = await SchoolCalendar.load(session, bot.network_id, bot.config)
    assert [(t.name, t.start) for t in cal.terms] == [("Autumn 1", date(2026, 9, 3)), ("Autumn 2", date(2026, 11, 2))]
    # Config dates that overlap another year's, loaded from a file: said plainly, and the bot runs on.
    await import_terms(bot, b"name,start,end\nSummer 2,2027-06-07,2027-08-05\n")  # 2026-27, into August
    late = [{"name": "Autumn 1", "start": date(2027, 8, 2), "end": date(2027, 10, 22)}]  # 2027-28
    with caplog.at_level(logging.WARNING):
        again = await PeerBot.open(make_config({"terms": late}), db=database, clock=clock, migrate=False, platforms=[])
    assert again.network_id == bot.network_id
    [warning] = [r.getMessage() for r in caplog.records if "[[terms]] were not loaded" in r.getMessage()]
    assert "Autumn 1 (2027-08-02 to 2027-10-22) overlaps Summer 2 (2027-06-07 to 2027-08-05) already loaded" in warning
