"""The school calendar: term days, school hours, and time that counts only in school."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.app import PeerBot
from bot.calendar import HalfTerm, SchoolCalendar

LONDON = ZoneInfo("Europe/London")
TERMS = [
    HalfTerm("Autumn 1", date(2026, 9, 3), date(2026, 10, 23), (date(2026, 9, 14),)),
    HalfTerm("Autumn 2", date(2026, 11, 2), date(2026, 12, 18)),
    HalfTerm("Spring 1", date(2027, 1, 5), date(2027, 2, 12)),
    HalfTerm("Spring 2", date(2027, 2, 22), date(2027, 3, 25)),
    HalfTerm("Summer 1", date(2027, 4, 12), date(2027, 5, 28)),
]
CAL = SchoolCalendar(zone=LONDON, terms=TERMS)


def london(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=LONDON)


def test_term_days() -> None:
    assert CAL.is_term_day(date(2026, 11, 23))  # a Monday in Autumn 2
    assert not CAL.is_term_day(date(2026, 11, 22))  # Sunday
    assert not CAL.is_term_day(date(2026, 10, 28))  # half-term week
    assert not CAL.is_term_day(date(2026, 9, 14))  # INSET
    assert CAL.is_working_day(date(2026, 9, 14))
    assert not CAL.is_term_day(date(2027, 5, 3))  # early May bank holiday, inside Summer 1
    assert not CAL.is_term_day(date(2027, 8, 2))  # no term loaded: summer holiday


def test_school_hours_respect_the_clock_change() -> None:
    # 26 Oct 2026 is after the clocks go back (25 Oct): 08:00 London is 08:00 UTC, not 07:00.
    assert CAL.at(date(2026, 11, 2), CAL.day_start) == datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    assert CAL.at(date(2026, 10, 1), CAL.day_start) == datetime(2026, 10, 1, 7, 0, tzinfo=UTC)
    assert CAL.is_school_time(london(2026, 10, 1, 8, 30))
    assert not CAL.is_school_time(london(2026, 10, 1, 17, 30))


def test_escalation_time_skips_nights_weekends_and_holidays() -> None:
    # Friday 16:00 + 4 school hours = Monday 11:00.
    assert CAL.add_school_time(london(2026, 11, 27, 16), timedelta(hours=4)) == london(2026, 11, 30, 11)
    # Asked on a Saturday: the clock starts Monday 08:00.
    assert CAL.add_school_time(london(2026, 11, 28, 10), timedelta(hours=1)) == london(2026, 11, 30, 9)
    # The last afternoon of Autumn 1: continues after half-term.
    assert CAL.add_school_time(london(2026, 10, 23, 15), timedelta(hours=3)) == london(2026, 11, 2, 9)
    # Across Christmas.
    assert CAL.add_school_time(london(2026, 12, 18, 16, 30), timedelta(hours=1)) == london(2027, 1, 5, 8, 30)
    # Past the last loaded term there is no answer rather than a guess.
    assert CAL.add_school_time(london(2027, 5, 28, 16), timedelta(hours=3)) is None


def test_time_between_counts_only_school_time() -> None:
    assert CAL.school_time_between(london(2026, 11, 27, 16), london(2026, 11, 30, 11)) == timedelta(hours=4)


def test_without_terms_weekdays_count() -> None:
    cal = SchoolCalendar(zone=LONDON)
    assert not cal.has_terms
    assert cal.is_term_day(date(2027, 8, 2)) and not cal.is_term_day(date(2027, 8, 30))  # bank holiday


@settings(max_examples=150, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2026, 9, 1), max_value=datetime(2027, 4, 30), timezones=st.just(UTC)),
    hours=st.integers(min_value=0, max_value=40),
)
def test_added_school_time_is_measured_back_exactly(start: datetime, hours: int) -> None:
    end = CAL.add_school_time(start, timedelta(hours=hours))
    if end is not None:
        assert CAL.school_time_between(start, end) == timedelta(hours=hours)
        assert end >= start


async def test_loads_the_networks_terms(demo_bot: PeerBot) -> None:
    async with demo_bot.db.session() as session:
        cal = await SchoolCalendar.load(session, demo_bot.network_id, demo_bot.config)
    assert [t.name for t in cal.terms][:2] == ["Autumn 1", "Autumn 2"]
    assert not cal.is_term_day(date(2026, 9, 14))


def test_nudges_wait_for_a_sensible_time() -> None:
    from bot.config import NudgeSettings

    rules = NudgeSettings()
    assert CAL.next_nudge_time(london(2026, 11, 23, 23, 0), rules) == london(2026, 11, 24, 7, 30)  # not at 11pm
    assert CAL.next_nudge_time(london(2026, 11, 28, 12), rules) == london(2026, 11, 30, 7, 30)  # not at weekends
    assert CAL.next_nudge_time(london(2026, 12, 20, 12), rules) == london(2027, 1, 5, 7, 30)  # not in holidays
    assert CAL.next_nudge_time(london(2026, 9, 14, 12), rules) == london(2026, 9, 14, 12)  # INSET: staff are in
    relaxed = NudgeSettings(weekends=True, holidays=True)
    assert CAL.next_nudge_time(london(2026, 12, 20, 12), relaxed) == london(2026, 12, 20, 12)
