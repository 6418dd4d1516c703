"""How meetings read to busy heads: UK dates, London times, short lines."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.errors import BadInput

GROUP_LABELS = {"heads": "Heads", "dsl": "DSL", "senco": "SENCO", "sbm": "SBM"}
_MONTHS = {
    m.lower(): i
    for i, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for m in names
}


def group_label(group: str) -> str:
    """``heads`` → ``Heads``, ``dsl`` → ``DSL``, ``maths-leads`` → ``Maths leads``."""
    return GROUP_LABELS.get(group, group.replace("-", " ").capitalize())


def day_text(day: date) -> str:
    """``Wed 11 Nov``."""
    return f"{day:%a} {day.day} {day:%b}"


def when_text(instant: datetime, zone: ZoneInfo) -> str:
    """``Wed 11 Nov, 09:30`` in the network's zone."""
    local = instant.astimezone(zone)
    return f"{day_text(local.date())}, {local:%H:%M}"


def span_text(start: datetime, end: datetime, zone: ZoneInfo) -> str:
    """``Wed 11 Nov, 09:30–11:30``."""
    return f"{when_text(start, zone)}–{end.astimezone(zone):%H:%M}"


def long_date(day: date) -> str:
    """``Wednesday 11 November 2026``."""
    return f"{day:%A} {day.day} {day:%B %Y}"


def duration_label(delta: timedelta) -> str:
    """``14d``, ``2d``, ``1h``, ``90m``: how a nudge offset appears in keys and logs."""
    minutes = int(delta.total_seconds() // 60)
    if minutes % (24 * 60) == 0:
        return f"{minutes // (24 * 60)}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"


_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_UK_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})$")
_WORDY_DATE = re.compile(r"^(?:[a-z]+,?\s+)?(\d{1,2})(?:st|nd|rd|th)?\s+([a-z]+)\.?(?:\s+(\d{4}))?$", re.I)
_TIME = re.compile(r"^(\d{1,2})[:.](\d{2})$")


def parse_day(text: str, *, today: date) -> date:
    """A date as a person types it: ``2027-01-15``, ``15/01/2027``, ``15 Jan``,
    ``Friday 15 January 2027``. Without a year, the next such date from ``today``.
    Raises :class:`BadInput` with an example otherwise."""
    raw = " ".join(text.strip().split())
    try:
        if m := _ISO_DATE.match(raw):
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        if m := _UK_DATE.match(raw):
            year = int(m.group(3))
            return date(year + 2000 if year < 100 else year, int(m.group(2)), int(m.group(1)))
        if m := _WORDY_DATE.match(raw):
            month = _MONTHS.get(m.group(2).lower())
            if month is not None:
                day = int(m.group(1))
                if m.group(3):
                    return date(int(m.group(3)), month, day)
                candidate = date(today.year, month, day)
                return candidate if candidate >= today else date(today.year + 1, month, day)
    except ValueError:
        raise BadInput(f"'{raw[:40]}' is not a real date") from None
    raise BadInput(f"I can't read '{raw[:40]}' as a date: try 2027-01-15 or 15 Jan")


def parse_time_of_day(text: str) -> time:
    m = _TIME.match(text.strip())
    if not m or not (0 <= int(m.group(1)) < 24 and 0 <= int(m.group(2)) < 60):
        raise BadInput(f"I can't read '{text.strip()[:20]}' as a time: try 16:00")
    return time(int(m.group(1)), int(m.group(2)))


def parse_when(text: str, *, zone: ZoneInfo, today: date) -> datetime:
    """``2026-12-02 16:00`` or ``2 Dec 16:00`` (London time) → a UTC instant."""
    parts = text.strip().split()
    if len(parts) < 2:
        raise BadInput("give a date and a time, e.g. 2026-12-02 16:00")
    day = parse_day(" ".join(parts[:-1]), today=today)
    at = parse_time_of_day(parts[-1])
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)
