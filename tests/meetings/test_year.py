"""Time travel through a whole school year, and the clock changes.

The clock jumps from one due time to the next (a sweep's next event, the outbox's next
due row) from July 2026 to the end of the 2026-27 year on the demo network. Heads answer
each poll as it appears. Every half-term gets its meeting, every nudge goes once at the
London time it was planned for, and nothing goes at night, at weekends or in the holidays.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from bot import outbox
from bot.app import PeerBot
from bot.calendar import SchoolCalendar
from bot.clock import FrozenClock
from bot.db.engine import Database
from bot.delivery import Address
from bot.events import MessageRef
from bot.meetings import service
from bot.meetings.sweep import sweep
from bot.replies import Message
from tests.conftest import make_config
from tests.support.chat import Chat, RecordingTransport
from tests.support.meetings import buttons, clock_of, meetings, outbox_rows, press

VOTERS = ["m.kowalski@stmarys.sch.uk", "d.okafor@fairsmead.sch.uk", "k.lloyd@hollybrook.sch.uk"]
LONDON_EIGHT_THIRTY = time(8, 30)


@dataclass
class TimedTransport(RecordingTransport):
    clock: FrozenClock | None = None
    times: dict[str, list[datetime]] = field(default_factory=dict)

    async def send(self, address: Address, message: Message, *, key: str | None, attempt: int) -> MessageRef:
        ref = await super().send(address, message, key=key, attempt=attempt)
        assert self.clock is not None
        self.times.setdefault(key or "", []).append(self.clock.now())
        return ref


async def next_due(bot: PeerBot) -> datetime | None:
    async with bot.db.session() as session:
        return await outbox.next_due(session, platforms=["console"])


async def test_a_school_year_of_meetings(chat: Chat, demo_bot: PeerBot) -> None:
    clock = clock_of(demo_bot)
    clock.set(datetime(2026, 7, 1, 9, 0, tzinfo=UTC))
    transport = TimedTransport(clock=clock)
    demo_bot.deliverer.register(transport)
    chat.transport = transport
    polls_seen: set[str] = set()
    end = datetime(2027, 7, 25, tzinfo=UTC)
    steps = 0
    while clock.now() < end:
        steps += 1
        assert steps < 400, "the walk should take a few dozen steps, not hundreds"
        result = await sweep(demo_bot)
        await demo_bot.deliverer.drain()
        for sent in list(transport.sent):
            if sent.key and sent.key.endswith(":poll") and sent.key not in polls_seen:
                polls_seen.add(sent.key)
                options = buttons(sent, "meeting.vote")
                for voter in VOTERS:
                    await press(chat, voter, sent, options[min(1, len(options) - 1)])
        upcoming = [t for t in (result.next_event, await next_due(demo_bot)) if t is not None and t > clock.now()]
        if not upcoming:
            break
        clock.set(min(upcoming))

    rows = await meetings(demo_bot)
    assert [(m.half_term, m.status) for m in rows] == [
        ("Autumn 1", "held"),
        ("Autumn 2", "held"),
        ("Spring 1", "held"),
        ("Spring 2", "held"),
        ("Summer 1", "held"),
        ("Summer 2", "held"),
    ]
    async with demo_bot.db.session() as session:
        cal = await SchoolCalendar.load(session, demo_bot.network_id, demo_bot.config)
    rules = demo_bot.config.settings.nudges
    # Booked on the second poll date each time (the heads' choice), at 09:30 London all year.
    for m in rows:
        assert m.start == m.options[min(1, len(m.options) - 1)].start
        assert m.start is not None and m.start.astimezone(cal.zone).time() == time(9, 30)
        assert cal.is_term_day(m.start.astimezone(cal.zone).date())
    # Every message went exactly once, at an allowed London time.
    counts = Counter(s.key for s in transport.sent if s.kind != "edit")
    assert counts and max(counts.values()) == 1, [k for k, n in counts.items() if n > 1]
    for key, times in transport.times.items():
        for t in times:
            assert cal.nudge_allowed(t, rules), (key, t.astimezone(cal.zone))
    # Each meeting's nudges went at exactly the time planned, "starting soon" at 08:30 London.
    nudges = [r for r in await outbox_rows(demo_bot, "meeting:") if ":nudge:" in r.key]
    assert {r.status for r in nudges} == {"sent"}
    for r in nudges:
        assert transport.times[r.key] == [r.not_before]
    soon = sorted(r.not_before for r in nudges if ":nudge:1h:" in r.key)
    assert len(soon) == 6 and all(t.astimezone(cal.zone).time() == LONDON_EIGHT_THIRTY for t in soon)
    assert {t.utcoffset() for t in (s.astimezone(cal.zone) for s in soon)} == {timedelta(0), timedelta(hours=1)}
    agendas = [r for r in nudges if ":nudge:2d:" in r.key]
    assert len(agendas) == 6
    # Nothing at all went out in the summer holidays before term started.
    first_sent = min(t for times in transport.times.values() for t in times)
    assert first_sent.astimezone(cal.zone).date() >= date(2026, 9, 3)
    # Each held meeting asked for actions once.
    assert len([k for k in counts if k.endswith(":actions")]) == 6


async def test_a_meeting_keeps_its_london_time_across_both_clock_changes(database: Database) -> None:
    terms = [
        {"name": "Autumn", "start": date(2026, 9, 1), "end": date(2026, 12, 18)},
        {"name": "Spring", "start": date(2027, 1, 5), "end": date(2027, 4, 23)},
    ]
    clock = FrozenClock(datetime(2026, 9, 10, 9, 0, tzinfo=UTC))
    config = make_config({"terms": terms, "groups": {"heads": {"roles": ["head"], "meetings": {"cadence": "none"}}}})
    bot = await PeerBot.open(config, db=database, clock=clock, migrate=False, platforms=["console"])
    from bot.demo import demo_sources
    from bot.network.importer import import_network

    async with bot.db.session() as session:  # people only: the terms come from the config
        await import_network(
            session, bot.network_id, now=bot.clock.now(), **{k: v for k, v in demo_sources().items() if k != "terms"}
        )
        cal = await SchoolCalendar.load(session, bot.network_id, config)
        assert [t.name for t in cal.terms] == ["Autumn", "Spring"]
    zone = cal.zone
    for day in (date(2026, 11, 4), date(2027, 4, 7)):  # just after October's and March's switches
        start = datetime.combine(day, time(16, 0), tzinfo=zone).astimezone(UTC)
        async with bot.db.session() as session:
            from bot.models import Meeting

            meeting = Meeting(
                network_id=bot.network_id,
                group_name="heads",
                half_term="x",
                term_start=day,
                term_end=day,
                title="Heads meeting",
                status="planned",
                uid=f"{day}@test",
                options=[],
            )
            session.add(meeting)
            await session.flush()
            await service.book(session, bot, meeting, start, start + timedelta(hours=2), clock.now())
            mid = meeting.id
        rows = {r.key.split(":")[3]: r.not_before for r in await outbox_rows(bot, f"meeting:{mid}:nudge:")}
        # 14 days before crosses the switch: still 16:00 on the wall clock, an hour apart in UTC.
        fourteen = rows["14d"].astimezone(zone)
        assert fourteen.time() == time(16, 0) and fourteen.date() == day - timedelta(days=14)
        assert rows["14d"].utcoffset() == timedelta(0)
        assert (start - rows["14d"]) != timedelta(days=14)
        assert rows["1h"].astimezone(zone).time() == time(15, 0)
        [booked] = await outbox_rows(bot, f"meeting:{mid}:booked:")
        from icalendar import Calendar

        [event] = Calendar.from_ical(Message.from_json(booked.message).files[0].data).walk("VEVENT")
        assert event["DTSTART"].dt.time() == time(16, 0) and event["DTSTART"].dt.astimezone(UTC) == start
    bot._stop.set()
