"""Planning rules, without a database: weekdays, INSET days, bank holidays, edge weeks,
clashes, short half-terms, cadences, poll windows and nudge placement."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.calendar import HalfTerm, SchoolCalendar
from bot.meetings.nudges import meeting_nudges, nudge_kinds, reminder_time
from bot.meetings.plan import (
    Existing,
    Slot,
    meeting_half_terms,
    plan_network,
    possible_days,
    spread,
    term_and_half,
)
from tests.conftest import make_config

LONDON = ZoneInfo("Europe/London")
YEAR = [
    HalfTerm("Autumn 1", date(2026, 9, 3), date(2026, 10, 23), (date(2026, 9, 16),)),
    HalfTerm("Autumn 2", date(2026, 11, 2), date(2026, 12, 18)),
    HalfTerm("Spring 1", date(2027, 1, 5), date(2027, 2, 12)),
    HalfTerm("Spring 2", date(2027, 2, 22), date(2027, 3, 25)),
    HalfTerm("Summer 1", date(2027, 4, 12), date(2027, 5, 28)),
    HalfTerm("Summer 2", date(2027, 6, 7), date(2027, 7, 21)),
]
YEAR_2027 = [
    HalfTerm("Autumn 1", date(2027, 9, 2), date(2027, 10, 22)),
    HalfTerm("Autumn 2", date(2027, 11, 1), date(2027, 12, 17)),
    HalfTerm("Spring 1", date(2028, 1, 4), date(2028, 2, 11)),
]
SUMMER = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)


def config(**groups):  # type: ignore[no-untyped-def]
    return make_config({"groups": groups} if groups else None)


def calendar(cfg, terms=YEAR) -> SchoolCalendar:  # type: ignore[no-untyped-def]
    return SchoolCalendar.from_config(cfg, terms)


def test_candidates_avoid_inset_bank_holidays_and_the_edge_weeks() -> None:
    cal = calendar(config())
    autumn1 = YEAR[0]
    days = possible_days(cal, autumn1, "wednesday")
    assert days[0] == date(2026, 9, 23)  # 3 Sep + 7 days; Wed 16 Sep is an INSET day
    assert days[-1] == date(2026, 10, 14)  # the last week (from 16 Oct) is out
    assert date(2026, 9, 16) not in days
    summer1 = YEAR[4]
    mondays = possible_days(cal, summer1, "monday")
    assert date(2027, 5, 3) not in mondays  # the early May bank holiday
    assert date(2027, 4, 19) in mondays


def test_a_two_week_half_term_has_no_possible_date_and_says_why() -> None:
    short = [HalfTerm("Autumn 2", date(2026, 11, 2), date(2026, 11, 13))]
    cfg = config()
    [plan] = plan_network(calendar(cfg, short), cfg, [], SUMMER)
    assert plan.candidates == () and plan.problem is not None
    assert "no Wednesday that is a school day outside its first and last weeks" in plan.problem


def test_no_half_term_length_is_assumed() -> None:
    long = [HalfTerm("Autumn", date(2026, 9, 3), date(2026, 12, 18))]
    cfg = config()
    [plan] = plan_network(calendar(cfg, long), cfg, [], SUMMER)
    assert len(plan.candidates) == 3
    assert plan.candidates[0].start.date() == date(2026, 9, 16)
    assert plan.candidates[-1].start.date() == date(2026, 12, 9)


def test_groups_do_not_clash_with_each_other() -> None:
    cfg = config(
        dsl={"roles": ["dsl"], "meetings": {"cadence": "half-termly", "weekday": "wednesday", "time": "10:00"}}
    )
    plans = plan_network(calendar(cfg), cfg, [], SUMMER)
    heads = next(p for p in plans if p.group == "heads" and p.term.name == "Autumn 2")
    dsl = next(p for p in plans if p.group == "dsl" and p.term.name == "Autumn 2")
    assert heads.candidates and dsl.candidates
    for a in heads.candidates:
        assert not any(a.overlaps(b) for b in dsl.candidates)
    booked = Existing(
        id=1,
        group="heads",
        term_start=date(2026, 11, 2),
        status="booked",
        start=dsl.candidates[0].start,
        end=dsl.candidates[0].end,
    )
    replanned = plan_network(calendar(cfg), cfg, [booked], SUMMER)
    dsl2 = next(p for p in replanned if p.group == "dsl" and p.term.name == "Autumn 2")
    assert dsl.candidates[0] not in dsl2.candidates


def test_termly_meets_in_the_first_half_of_each_term() -> None:
    assert [t.name for t in meeting_half_terms("termly", YEAR)] == ["Autumn 1", "Spring 1", "Summer 1"]
    assert meeting_half_terms("none", YEAR) == []
    # A year loaded from Spring 2 onwards: its first halves are known by name, not position.
    assert [t.name for t in meeting_half_terms("termly", YEAR[3:])] == ["Summer 1"]
    assert [t.name for t in meeting_half_terms("termly", YEAR[3:] + YEAR_2027)] == ["Summer 1", "Autumn 1", "Spring 1"]
    # Names that say nothing of the half are read by the month they start in.
    numbered = [HalfTerm(f"Term {i}", t.start, t.end) for i, t in enumerate(YEAR[1:], 2)]
    assert [t.name for t in meeting_half_terms("termly", numbered)] == ["Term 3", "Term 5"]
    lettered = [HalfTerm(n, t.start, t.end) for n, t in zip(["Autumn A", "Autumn B", "Spring A"], YEAR, strict=False)]
    assert [t.name for t in meeting_half_terms("termly", lettered)] == ["Autumn A", "Spring A"]


@given(st.sampled_from(YEAR), st.text(max_size=30))
def test_a_half_terms_name_never_breaks_the_termly_reading(term: HalfTerm, noise: str) -> None:
    which, half = term_and_half(HalfTerm(f"{noise} {term.name}", term.start, term.end))
    assert which in (0, 1, 2) and half in (1, 2)
    assert term_and_half(term) == (YEAR.index(term) // 2, YEAR.index(term) % 2 + 1)


def test_past_half_terms_are_not_planned_and_booked_rows_are_kept() -> None:
    cfg = config()
    now = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
    existing = Existing(
        id=9,
        group="heads",
        term_start=date(2027, 2, 22),
        status="booked",
        start=datetime(2027, 3, 10, 9, 30, tzinfo=UTC),
        end=datetime(2027, 3, 10, 11, 30, tzinfo=UTC),
    )
    plans = plan_network(calendar(cfg), cfg, [existing], now)
    assert [p.term.name for p in plans] == ["Spring 2", "Summer 1", "Summer 2"]
    assert plans[0].fixed and plans[0].meeting_id == 9 and plans[0].provisional == Slot(existing.start, existing.end)  # type: ignore[arg-type]


def test_poll_windows_respect_the_holidays() -> None:
    cfg = config()
    plans = {p.term.name: p for p in plan_network(calendar(cfg), cfg, [], SUMMER)}
    cal = calendar(cfg)
    rules = cfg.settings.nudges
    for plan in plans.values():
        assert plan.poll_opens_at and plan.poll_closes_at
        assert cal.nudge_allowed(plan.poll_opens_at, rules) and cal.nudge_allowed(plan.poll_closes_at, rules)
        assert plan.poll_closes_at - plan.poll_opens_at >= timedelta(days=2)
        assert all(c.start >= plan.poll_closes_at + timedelta(days=1) for c in plan.candidates)
    # Spring 1's ideal opening (28 days before 13 Jan) is in the Christmas holidays: it opens before the break.
    spring = plans["Spring 1"]
    assert spring.poll_opens_at is not None and spring.poll_opens_at.date() <= date(2026, 12, 18)


@given(st.lists(st.integers(0, 100), min_size=0, max_size=30).map(sorted), st.integers(1, 6))
def test_spread_picks_in_order_from_first_to_last(values: list[int], n: int) -> None:
    slots = [
        Slot(datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=v), datetime(2026, 1, 2, tzinfo=UTC)) for v in values
    ]
    chosen = spread(slots, n)
    assert len(chosen) == min(n, len(slots))
    assert chosen == sorted(chosen, key=lambda s: s.start)
    if len(slots) > n > 1:
        assert chosen[0] == slots[0] and chosen[-1] == slots[-1]


def test_nudge_kinds_follow_the_offsets() -> None:
    d = timedelta(days=1)
    assert nudge_kinds([14 * d, 2 * d, timedelta(hours=1)]) == [
        (14 * d, "call"),
        (2 * d, "agenda"),
        (timedelta(hours=1), "soon"),
    ]
    assert nudge_kinds([7 * d]) == [(7 * d, "agenda")]


def test_nudges_move_out_of_weekends_and_holidays() -> None:
    cfg = config()
    cal = calendar(cfg)
    rules = cfg.settings.nudges
    # A Monday 09:30 meeting: its 2-day nudge would be on Saturday, so it goes on Friday at 18:30.
    start = cal.at(date(2026, 11, 23), time(9, 30))
    plans = {p.kind: p for p in meeting_nudges(cal, rules, start, now=SUMMER)}
    assert plans["agenda"].at == cal.at(date(2026, 11, 20), rules.latest)
    # Its 14-day nudge falls on Monday 9 Nov, a school day: on time.
    assert plans["call"].at == cal.at(date(2026, 11, 9), time(9, 30))
    assert plans["call"].expires_at == plans["agenda"].at
    # An 08:00 meeting: "starting soon" cannot go at 07:00, so it goes at 07:30.
    early = cal.at(date(2026, 11, 25), time(8, 0))
    soon = next(p for p in meeting_nudges(cal, rules, early, now=SUMMER) if p.kind == "soon")
    assert soon.at == cal.at(date(2026, 11, 25), time(7, 30)) and soon.expires_at == early
    # A 07:45 meeting: "starting at 07:45 today" goes at 07:30 that morning, never the evening before.
    breakfast = cal.at(date(2026, 11, 25), time(7, 45))
    soon = next(p for p in meeting_nudges(cal, rules, breakfast, now=SUMMER, seed="m:1") if p.kind == "soon")
    assert cal.at(date(2026, 11, 25), time(7, 30)) <= soon.at < breakfast
    # A 07:15 meeting: no allowed time on its day before it starts, so no "starting soon" at all.
    dawn = cal.at(date(2026, 11, 25), time(7, 15))
    assert [p.kind for p in meeting_nudges(cal, rules, dawn, now=SUMMER)] == ["call", "agenda"]
    # A 20:00 meeting: at 18:30 (latest) that day.
    evening = cal.at(date(2026, 11, 25), time(20, 0))
    soon = next(p for p in meeting_nudges(cal, rules, evening, now=SUMMER) if p.kind == "soon")
    assert soon.at == cal.at(date(2026, 11, 25), time(18, 30))
    # A meeting just after half-term: the 14-day nudge would be in the break, so it goes on the first day back.
    after_break = cal.at(date(2026, 11, 11), time(9, 30))
    call = next(p for p in meeting_nudges(cal, rules, after_break, now=SUMMER) if p.kind == "call")
    assert call.at == cal.at(date(2026, 11, 2), rules.earliest)


def test_review_reminders() -> None:
    cfg = config()
    cal = calendar(cfg)
    rules = cfg.settings.nudges
    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert reminder_time(cal, rules, date(2027, 1, 20), timedelta(days=7), now=now) == cal.at(
        date(2027, 1, 13), time(9)
    )
    # Review date in 3 days: the reminder goes that morning rather than in the past.
    assert reminder_time(cal, rules, date(2026, 11, 26), timedelta(days=7), now=now) == cal.at(
        date(2026, 11, 26), time(9)
    )
    assert reminder_time(cal, rules, date(2026, 11, 23), timedelta(days=7), now=now) is None
    # A week before a review on 5 Jan is in the holidays: it goes before the break.
    at = reminder_time(cal, rules, date(2027, 1, 5), timedelta(days=7), now=now)
    assert at is not None and at.date() == date(2026, 12, 18)


@settings(max_examples=60, deadline=None)
@given(
    st.dates(min_value=date(2026, 9, 3), max_value=date(2027, 7, 21)),
    st.integers(6, 20),
    st.sampled_from([0, 15, 30, 45]),
)
def test_every_nudge_lands_at_an_allowed_time_before_the_meeting(day: date, hour: int, minute: int) -> None:
    cfg = config()
    cal = calendar(cfg)
    rules = cfg.settings.nudges
    start = cal.at(day, time(hour, minute))
    for plan in meeting_nudges(cal, rules, start, now=SUMMER, seed=f"meeting:{day}"):
        assert cal.nudge_allowed(plan.at, rules)
        assert plan.at < start and plan.at < plan.expires_at <= start
        if plan.kind == "soon":
            assert cal.local(plan.at).date() == day  # "starts at ... today" goes on the day
