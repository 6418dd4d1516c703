"""Term dates from an .ics calendar (formats.md: "terms.csv, or an .ics calendar of the same").

Each event is read, with ``icalendar``, as one of:

- an **INSET day** (or several): a summary mentioning INSET, a training day or a staff
  development day — every weekday it covers is an INSET day of the half-term around it;
- a **holiday**: a summary mentioning a holiday, a break or a closure, or ending in "half
  term" ("October half term": the week off, as school calendars often mark it). It is not
  a half-term itself; a holiday of at least three weekdays inside another event splits it;
- otherwise a **half-term** named by its summary, from its first to its last day. A whole
  term ("Autumn Term", 2 Sep to 17 Dec) with a holiday inside it ("October half term")
  becomes the half-terms either side of the break ("Autumn 1", "Autumn 2"), each starting
  and ending on a weekday.

All-day events end the day before their ``DTEND`` (RFC 5545); timed events are taken in
the network's zone. The checks are the CSV's — reversed or overlapping dates, INSET days
outside a half-term or at a weekend — reported as ``FILE:LINE`` where LINE is the line of
the event's ``BEGIN:VEVENT``. A file that is not a calendar, or a calendar with no term
dates in it, is one clear error.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar

from bot.network.csvfile import MAX_FILE_BYTES, Problems
from bot.network.parse import TermRecord

_INSET = re.compile(r"\b(inset|training day|staff development|professional development day|pd day)\b", re.I)
_HOLIDAY = re.compile(r"\b(holiday|holidays|break|closed|closure)\b|\bhalf[- ]?term(\s+week)?\s*$", re.I)
_SEASON = re.compile(r"\b(autumn|spring|summer)\b", re.I)
MAX_NAME = 100
MIN_BREAK_WEEKDAYS = 3  # a holiday this long inside a term event splits it (a bank holiday does not)
LONDON = ZoneInfo("Europe/London")


def looks_like_ics(name: str, data: bytes) -> bool:
    """An .ics file by its name, or by its first line whatever it is called."""
    head = data[:64].lstrip(b"\xef\xbb\xbf").lstrip().upper()
    return name.lower().endswith((".ics", ".ical", ".icalendar")) or head.startswith(b"BEGIN:VCALENDAR")


@dataclass(frozen=True)
class _Event:
    line: int
    summary: str
    first: date
    last: date
    recurring: bool


def _event_lines(text: str) -> list[int]:
    """The line number of each ``BEGIN:VEVENT``, in order."""
    return [i for i, line in enumerate(text.splitlines(), 1) if line.strip().upper() == "BEGIN:VEVENT"]


def _as_day(value: object, zone: ZoneInfo) -> tuple[date, bool] | None:
    """(the day, whether it was a date-only value)."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=zone)
        return moment.astimezone(zone).date(), False
    if isinstance(value, date):
        return value, True
    return None


def _local_time_is_midnight(value: datetime, zone: ZoneInfo) -> bool:
    moment = value if value.tzinfo else value.replace(tzinfo=zone)
    return moment.astimezone(zone).time() == datetime.min.time()


def parse_terms_ics(data: bytes, filename: str, problems: Problems, *, zone: ZoneInfo = LONDON) -> list[TermRecord]:
    if len(data) > MAX_FILE_BYTES:
        problems.add(filename, None, f"is too large ({len(data):,} bytes; the limit is {MAX_FILE_BYTES:,})")
        return []
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        problems.add(filename, None, "is not UTF-8 text, so it cannot be an iCalendar (.ics) file")
        return []
    if not text.lstrip().upper().startswith("BEGIN:VCALENDAR"):
        problems.add(filename, 1, "is not an iCalendar file (it should start with BEGIN:VCALENDAR)")
        return []
    try:
        calendar = Calendar.from_ical(text)
    except Exception as exc:  # a third-party parser on untrusted input: any failure is bad input
        problems.add(filename, None, f"cannot be read as an iCalendar file ({str(exc)[:120]})")
        return []
    if isinstance(calendar, list):  # several VCALENDARs in one file
        problems.add(filename, None, "holds more than one calendar: export a single calendar")
        return []
    lines = _event_lines(text)
    events: list[_Event] = []
    for index, component in enumerate(calendar.walk("VEVENT")):
        line = lines[index] if index < len(lines) else None
        try:
            event = _event(component, line, zone, filename, problems)
        except Exception as exc:  # a malformed property (a date that is not a date, ...)
            problems.add(filename, line, f"cannot read this event ({str(exc)[:80]})")
            continue
        if event is not None:
            events.append(event)
    before = len(problems.lines)
    records = _records(events, filename, problems)
    if not records and len(problems.lines) == before:
        problems.add(
            filename,
            None,
            f"no term dates found in {filename}: name each half-term's event like 'Autumn 1' "
            "(or give whole terms with their holidays)",
        )
    return records


def _event(component: Any, line: int | None, zone: ZoneInfo, filename: str, problems: Problems) -> _Event | None:
    summary = " ".join(str(component.get("SUMMARY", "")).split())
    start_prop = component.get("DTSTART")
    start = _as_day(start_prop.dt, zone) if start_prop is not None else None
    if start is None:
        problems.add(filename, line, f"event '{summary[:40] or '(no summary)'}' has no start date (DTSTART)")
        return None
    first, _ = start
    end_prop = component.get("DTEND")
    if end_prop is not None:
        end = _as_day(end_prop.dt, zone)
        if end is None:
            problems.add(filename, line, f"event '{summary[:40]}' has an end (DTEND) that is not a date")
            return None
        last = end[0]
        if end[1]:
            last -= timedelta(days=1)  # an all-day event's DTEND is the day after it
        elif _local_time_is_midnight(end_prop.dt, zone):
            last -= timedelta(days=1)
        if last == first - timedelta(days=1):
            last = first  # a zero-length event is its one day
    else:
        last = first
    return _Event(line or 0, summary, first, last, component.get("RRULE") is not None)


def _weekdays(first: date, last: date) -> int:
    return sum(1 for i in range((last - first).days + 1) if (first + timedelta(days=i)).weekday() < 5)


def _split(term: _Event, breaks: list[_Event]) -> list[_Event]:
    """``term`` without the holidays inside it: the pieces either side of each break, each
    moved in from the break to a weekday (the Friday before, the Monday after)."""
    pieces = [(term.first, term.last)]
    for b in sorted(breaks, key=lambda b: b.first):
        if b.last < term.first or b.first > term.last:
            continue
        kept = []
        for first, last in pieces:
            if b.last < first or b.first > last:
                kept.append((first, last))
                continue
            if b.first > first:
                end = b.first - timedelta(days=1)
                while end.weekday() >= 5 and end > first:
                    end -= timedelta(days=1)
                kept.append((first, end))
            if b.last < last:
                begin = b.last + timedelta(days=1)
                while begin.weekday() >= 5 and begin < last:
                    begin += timedelta(days=1)
                kept.append((begin, last))
        pieces = kept
    pieces = [(f, la) for f, la in pieces if _weekdays(f, la)]
    if pieces == [(term.first, term.last)]:
        return [term]
    season = _SEASON.search(term.summary)
    out = []
    for i, (first, last) in enumerate(pieces, 1):
        if len(pieces) == 1:
            name = term.summary
        elif season:
            name = f"{season.group(1).capitalize()} {i}"
        else:
            name = f"{term.summary}, part {i}"
        out.append(_Event(term.line, name, first, last, term.recurring))
    return out


def _records(events: list[_Event], filename: str, problems: Problems) -> list[TermRecord]:
    halves: list[_Event] = []
    insets: list[_Event] = []
    holidays: list[_Event] = []
    terms: list[_Event] = []
    for e in events:
        line = e.line or None
        if e.recurring:
            problems.add(filename, line, f"'{e.summary[:40]}' repeats (RRULE): give each half-term as its own event")
            continue
        if e.last < e.first:
            problems.add(filename, line, f"'{e.summary[:40]}' ends ({e.last}) before it starts ({e.first})")
            continue
        if _INSET.search(e.summary):
            insets.append(e)
        elif _HOLIDAY.search(e.summary):
            holidays.append(e)
        elif not e.summary:
            problems.add(filename, line, "an event has no name (SUMMARY): name each half-term, e.g. Autumn 1")
        elif len(e.summary) > MAX_NAME:
            problems.add(filename, line, f"the name '{e.summary[:40]}…' is longer than {MAX_NAME} characters")
        else:
            terms.append(e)
    breaks = [h for h in holidays if _weekdays(h.first, h.last) >= MIN_BREAK_WEEKDAYS]
    for term in terms:
        for e in _split(term, breaks):
            if (e.last - e.first).days > 120:
                problems.add(
                    filename,
                    e.line or None,
                    f"'{e.summary}' runs {(e.last - e.first).days} days: a half-term is a few weeks",
                )
            else:
                halves.append(e)
    ordered = sorted(halves, key=lambda e: e.first)
    for a, b in itertools.pairwise(ordered):
        if b.first <= a.last:
            problems.add(
                filename, b.line or None, f"{b.summary} ({b.first} to {b.last}) overlaps {a.summary} on line {a.line}"
            )
    inset_days: dict[date, list[date]] = {h.first: [] for h in halves}
    for e in insets:
        day = e.first
        while day <= e.last:
            home = next((h for h in halves if h.first <= day <= h.last), None)
            if day.weekday() >= 5:
                if e.first == e.last:
                    problems.add(filename, e.line or None, f"inset day {day} is a {day.strftime('%A')}")
            elif home is None:
                problems.add(filename, e.line or None, f"inset day {day} is outside every half-term in the file")
            elif day not in inset_days[home.first]:
                inset_days[home.first].append(day)
            day += timedelta(days=1)
    return [
        TermRecord(line=h.line, name=h.summary, start=h.first, end=h.last, inset=tuple(sorted(inset_days[h.first])))
        for h in halves
    ]
