"""iCalendar in and out: invitations parse back as valid RFC 5545, term calendars import."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from icalendar import Calendar, Event

from bot.app import PeerBot
from bot.calendar import SchoolCalendar
from bot.errors import ImportProblems
from bot.meetings.ics import Invite, build_ics
from bot.network.csvfile import Problems
from bot.network.ics_terms import parse_terms_ics
from bot.network.importer import import_network
from bot.network.parse import SourceFile

LONDON = ZoneInfo("Europe/London")


def invite(start: datetime, **kw) -> Invite:  # type: ignore[no-untyped-def]
    return Invite(
        uid="1b4e28ba-2fa1-11d2-883f-0016d3cca427@peerbot",
        sequence=kw.pop("sequence", 0),
        title="Heads meeting — Autumn 2",
        start=start,
        end=start + timedelta(hours=2),
        zone=LONDON,
        stamp=datetime(2026, 10, 1, 12, tzinfo=UTC),
        organizer=("Priya Shah", "p.shah@oakfield.sch.uk"),
        attendees=[("Karen Lloyd", "k.lloyd@hollybrook.sch.uk")],
        **kw,
    )


@pytest.mark.parametrize(
    ("start", "utc_hour"),
    [
        (datetime(2026, 11, 11, 16, 0, tzinfo=LONDON), 16),  # GMT
        (datetime(2027, 6, 16, 16, 0, tzinfo=LONDON), 15),  # BST
    ],
)
def test_an_invitation_parses_back_with_its_zone(start: datetime, utc_hour: int) -> None:
    data = build_ics(invite(start.astimezone(UTC), url="https://meet.example/abc", location="Oakfield"))
    assert data.startswith(b"BEGIN:VCALENDAR\r\n") and data.endswith(b"END:VCALENDAR\r\n")
    cal = Calendar.from_ical(data)
    assert str(cal["VERSION"]) == "2.0" and str(cal["METHOD"]) == "REQUEST" and cal.get("PRODID")
    [tz] = cal.walk("VTIMEZONE")
    assert str(tz["TZID"]) == "Europe/London"
    [event] = cal.walk("VEVENT")
    for required in ("UID", "DTSTAMP", "DTSTART", "DTEND", "SEQUENCE", "ORGANIZER", "SUMMARY"):
        assert required in event, required
    assert b"DTSTART;TZID=Europe/London:" in data and b"T160000" in data
    dt = event["DTSTART"].dt
    assert (dt.hour, dt.astimezone(UTC).hour) == (16, utc_hour)
    assert event["DTEND"].dt - dt == timedelta(hours=2)
    assert str(event["STATUS"]) == "CONFIRMED" and str(event["URL"]) == "https://meet.example/abc"
    assert str(event["LOCATION"]) == "Oakfield"
    [attendee] = [event["ATTENDEE"]] if not isinstance(event["ATTENDEE"], list) else event["ATTENDEE"]
    assert attendee.params["RSVP"] == "FALSE" and str(attendee) == "mailto:k.lloyd@hollybrook.sch.uk"
    # The embedded zone gives the same UTC instant as zoneinfo does.
    assert event["DTSTART"].dt.astimezone(UTC) == start.astimezone(UTC)


def test_a_cancellation_keeps_the_uid_and_raises_the_sequence() -> None:
    start = datetime(2026, 11, 11, 9, 30, tzinfo=UTC)
    first = Calendar.from_ical(build_ics(invite(start))).walk("VEVENT")[0]
    cancel_cal = Calendar.from_ical(build_ics(invite(start, sequence=2), "CANCEL"))
    cancel = cancel_cal.walk("VEVENT")[0]
    assert str(cancel_cal["METHOD"]) == "CANCEL" and str(cancel["STATUS"]) == "CANCELLED"
    assert str(cancel["UID"]) == str(first["UID"]) and int(cancel["SEQUENCE"]) == 2


def ics_calendar(events: list[tuple[str, date, date]]) -> bytes:
    cal = Calendar()
    cal.add("prodid", "-//test//EN")
    cal.add("version", "2.0")
    for i, (name, first, last) in enumerate(events):
        e = Event()
        e.add("uid", f"{i}@test")
        e.add("summary", name)
        e.add("dtstart", first)
        e.add("dtend", last + timedelta(days=1))
        e.add("dtstamp", datetime(2026, 1, 1, tzinfo=UTC))
        cal.add_component(e)
    return bytes(cal.to_ical())


DEMO_YEAR = [
    ("Autumn 1", date(2026, 9, 3), date(2026, 10, 23)),
    ("INSET day", date(2026, 9, 14), date(2026, 9, 14)),
    ("October half term", date(2026, 10, 26), date(2026, 10, 30)),
    ("Autumn 2", date(2026, 11, 2), date(2026, 12, 18)),
    ("Christmas holidays", date(2026, 12, 19), date(2027, 1, 4)),
    ("Spring 1", date(2027, 1, 5), date(2027, 2, 12)),
    ("Staff training day", date(2027, 1, 29), date(2027, 1, 29)),
    ("Spring 2", date(2027, 2, 22), date(2027, 3, 25)),
    ("Summer 1", date(2027, 4, 12), date(2027, 5, 28)),
    ("Summer 2", date(2027, 6, 7), date(2027, 7, 21)),
]


async def test_importing_an_ics_term_calendar(bot: PeerBot) -> None:
    source = SourceFile(name="terms.ics", data=ics_calendar(DEMO_YEAR))
    async with bot.db.session() as session:
        summary = await import_network(session, bot.network_id, terms=source, now=bot.clock.now())
        assert summary.counts["terms"] == {"added": 6}
        cal = await SchoolCalendar.load(session, bot.network_id, bot.config)
    assert [t.name for t in cal.half_terms_in(2026)] == [
        "Autumn 1",
        "Autumn 2",
        "Spring 1",
        "Spring 2",
        "Summer 1",
        "Summer 2",
    ]
    assert cal.terms[0].inset == (date(2026, 9, 14),) and cal.terms[2].inset == (date(2027, 1, 29),)
    async with bot.db.session() as session:  # the same file again changes nothing
        assert not (await import_network(session, bot.network_id, terms=source, now=bot.clock.now())).changed


WHOLE_TERMS = [
    ("Autumn Term", date(2026, 9, 2), date(2026, 12, 17)),
    ("INSET day", date(2026, 9, 14), date(2026, 9, 14)),
    ("October half term", date(2026, 10, 26), date(2026, 10, 30)),
    ("Spring Term", date(2027, 1, 5), date(2027, 3, 26)),
    ("February half term", date(2027, 2, 15), date(2027, 2, 19)),
    ("Summer Term", date(2027, 4, 12), date(2027, 7, 21)),
    ("Early May bank holiday", date(2027, 5, 3), date(2027, 5, 3)),  # a day off, not a break
    ("Half term holiday", date(2027, 5, 29), date(2027, 6, 6)),  # Saturday to Sunday
]


def test_whole_terms_are_split_around_the_holidays_inside_them() -> None:
    problems = Problems()
    records = parse_terms_ics(ics_calendar(WHOLE_TERMS), "terms.ics", problems)
    assert problems.lines == []
    assert [(r.name, r.start, r.end, r.inset) for r in records] == [
        ("Autumn 1", date(2026, 9, 2), date(2026, 10, 23), (date(2026, 9, 14),)),  # to the Friday before
        ("Autumn 2", date(2026, 11, 2), date(2026, 12, 17), ()),  # from the Monday after
        ("Spring 1", date(2027, 1, 5), date(2027, 2, 12), ()),
        ("Spring 2", date(2027, 2, 22), date(2027, 3, 26), ()),
        ("Summer 1", date(2027, 4, 12), date(2027, 5, 28), ()),
        ("Summer 2", date(2027, 6, 7), date(2027, 7, 21), ()),
    ]
    other = [("Term 1", date(2026, 9, 2), date(2026, 12, 17)), ("Half term", date(2026, 10, 26), date(2026, 10, 30))]
    names = [r.name for r in parse_terms_ics(ics_calendar(other), "t.ics", Problems())]
    assert names == ["Term 1, part 1", "Term 1, part 2"]


@settings(max_examples=80, deadline=None)
@given(
    st.integers(0, 6),
    st.integers(40, 110),
    st.lists(st.tuples(st.integers(0, 110), st.integers(0, 16)), max_size=3),
)
def test_a_term_split_around_its_breaks_keeps_every_school_day_outside_them(
    offset: int, length: int, breaks: list[tuple[int, int]]
) -> None:
    first = date(2026, 9, 1) + timedelta(days=offset)
    last = first + timedelta(days=length)
    events = [("Autumn Term", first, last)]
    events += [
        (f"Break {i} holiday", first + timedelta(days=a), first + timedelta(days=a + n))
        for i, (a, n) in enumerate(breaks)
    ]
    problems = Problems()
    records = parse_terms_ics(ics_calendar(events), "t.ics", problems)
    off = {
        first + timedelta(days=a + i)
        for a, n in breaks
        if sum(1 for i in range(n + 1) if (first + timedelta(days=a + i)).weekday() < 5) >= 3
        for i in range(n + 1)
    }
    weekdays = {first + timedelta(days=i) for i in range(length + 1)} - off
    weekdays = {d for d in weekdays if d.weekday() < 5}
    covered = {r.start + timedelta(days=i) for r in records for i in range((r.end - r.start).days + 1)}
    assert {d for d in covered if d.weekday() < 5} == weekdays  # every school day, none in a break
    assert not problems.lines or not weekdays
    for r in records:
        assert first <= r.start <= r.end <= last
        assert r.start == first or r.start.weekday() < 5
        assert r.end == last or r.end.weekday() < 5


async def test_meetings_are_never_offered_in_a_break_inside_a_whole_term_event(bot: PeerBot) -> None:
    from bot.meetings.plan import plan_network

    async with bot.db.session() as session:
        await import_network(
            session, bot.network_id, terms=SourceFile("terms.ics", ics_calendar(WHOLE_TERMS)), now=bot.clock.now()
        )
        cal = await SchoolCalendar.load(session, bot.network_id, bot.config)
    plans = plan_network(cal, bot.config, [], datetime(2026, 7, 1, tzinfo=UTC))
    assert len(plans) == 6
    for plan in plans:
        for slot in plan.candidates:
            day = slot.start.astimezone(LONDON).date()
            assert plan.term.start <= day <= plan.term.end and cal.is_term_day(day), (plan.term.name, day)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n", "terms.ics: no term dates found in terms.ics"),
        (ics_calendar([("Christmas holidays", date(2026, 12, 19), date(2027, 1, 4))]), "no term dates found"),
        (b"name,start,end\n", None),  # named .ics but it is a CSV: it is not a calendar
        (b"\x89PNG\r\n\x1a\n\x00\x00", "is not UTF-8"),
        (b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:x\r\nDTSTART:notadate\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", None),
        (
            ics_calendar(
                [("Autumn 1", date(2026, 9, 3), date(2026, 10, 23)), ("Autumn 2", date(2026, 10, 1), date(2026, 12, 1))]
            ),
            "overlaps Autumn 1",
        ),
        (
            ics_calendar(
                [("Autumn 1", date(2026, 9, 3), date(2026, 10, 23)), ("INSET", date(2026, 11, 5), date(2026, 11, 5))]
            ),
            "outside every half-term",
        ),
    ],
)
async def test_a_bad_term_calendar_changes_nothing(bot: PeerBot, data: bytes, problem: str | None) -> None:
    with pytest.raises(ImportProblems) as err:
        async with bot.db.session() as session:
            await import_network(
                session, bot.network_id, terms=SourceFile(name="terms.ics", data=data), now=bot.clock.now()
            )
    assert str(err.value).startswith("terms.ics")
    if problem:
        assert problem in str(err.value)
    async with bot.db.session() as session:
        assert not (await SchoolCalendar.load(session, bot.network_id, bot.config)).has_terms


def test_a_reversed_event_and_a_recurring_one_are_reported_with_their_lines() -> None:
    text = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n"
        "BEGIN:VEVENT\r\nUID:1\r\nSUMMARY:Autumn 1\r\n"
        "DTSTART;VALUE=DATE:20261023\r\nDTEND;VALUE=DATE:20260903\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:2\r\nSUMMARY:Autumn 2\r\n"
        "DTSTART;VALUE=DATE:20261102\r\nRRULE:FREQ=YEARLY\r\nEND:VEVENT\r\n"
        "END:VCALENDAR\r\n"
    )
    problems = Problems()
    assert parse_terms_ics(text.encode(), "t.ics", problems) == []
    assert problems.lines == [
        "t.ics:4: 'Autumn 1' ends (2026-09-02) before it starts (2026-10-23)",
        "t.ics:10: 'Autumn 2' repeats (RRULE): give each half-term as its own event",
    ]


half_terms = st.lists(st.tuples(st.integers(0, 20), st.integers(10, 60), st.integers(1, 30)), min_size=1, max_size=8)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(half_terms)
def test_term_calendars_round_trip(spec: list[tuple[int, int, int]]) -> None:
    day = date(2026, 9, 1)
    events = []
    for i, (gap, length, _) in enumerate(spec):
        first = day + timedelta(days=gap)
        last = first + timedelta(days=length)
        events.append((f"Half-term {i + 1}", first, last))
        day = last + timedelta(days=1)
    problems = Problems()
    records = parse_terms_ics(ics_calendar(events), "t.ics", problems)
    assert problems.lines == []
    assert [(r.name, r.start, r.end) for r in records] == events


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400) | st.text(max_size=400).map(lambda t: ("BEGIN:VCALENDAR\r\n" + t).encode()))
def test_any_bytes_give_problems_or_records_never_a_crash(data: bytes) -> None:
    problems = Problems()
    records = parse_terms_ics(data, "t.ics", problems)
    assert records == [] or not problems.lines or all(line.startswith("t.ics") for line in problems.lines)
    assert all(line.startswith("t.ics") for line in problems.lines)
