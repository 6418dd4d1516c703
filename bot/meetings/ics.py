"""Meeting invitations as RFC 5545 iCalendar files, built with ``icalendar``.

One meeting keeps one ``UID`` for life; every change that people's calendars must follow
(a new time, a cancellation) raises ``SEQUENCE``, so Outlook and Google Calendar update
the event they already have instead of adding a second one. Times are written in the
network's zone with its ``VTIMEZONE`` (a 16:00 meeting stays 16:00 across the clock
changes), ``METHOD:REQUEST`` for an invitation or an update and ``METHOD:CANCEL`` with
``STATUS:CANCELLED`` for a cancellation (RFC 5546).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vCalAddress, vText

PRODID = "-//peerbot//half-termly meetings//EN"
FALLBACK_ORGANIZER = "noreply@peerbot.invalid"
ICS_CONTENT_TYPE = "text/calendar; charset=utf-8"


@dataclass(frozen=True, slots=True, kw_only=True)
class Invite:
    uid: str
    sequence: int
    title: str
    start: datetime
    end: datetime
    zone: ZoneInfo
    stamp: datetime
    description: str = ""
    location: str = ""
    url: str = ""
    organizer: tuple[str, str] | None = None  # (name, email)
    attendees: Sequence[tuple[str, str]] = ()


def _address(name: str, email: str) -> vCalAddress:
    address = vCalAddress(f"mailto:{email}")
    address.params["cn"] = vText(name)
    return address


def build_ics(invite: Invite, method: Literal["REQUEST", "CANCEL"] = "REQUEST") -> bytes:
    """The .ics file for ``invite``: an invitation/update, or its cancellation."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method)
    event = Event()
    event.add("uid", invite.uid)
    event.add("sequence", invite.sequence)
    event.add("dtstamp", invite.stamp)
    event.add("dtstart", invite.start.astimezone(invite.zone))
    event.add("dtend", invite.end.astimezone(invite.zone))
    event.add("summary", invite.title)
    if invite.description:
        event.add("description", invite.description)
    location = invite.location or invite.url
    if location:
        event.add("location", location)
    if invite.url:
        event.add("url", invite.url)
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    event.add("transp", "OPAQUE")
    name, email = invite.organizer or ("peerbot", FALLBACK_ORGANIZER)
    event.add("organizer", _address(name, email))
    for attendee_name, attendee_email in invite.attendees:
        address = _address(attendee_name, attendee_email)
        address.params["role"] = vText("REQ-PARTICIPANT")
        address.params["partstat"] = vText("NEEDS-ACTION")
        address.params["rsvp"] = vText("FALSE")
        event.add("attendee", address, encode=False)
    cal.add_component(event)
    # Only the transitions around the meeting: a small file every client accepts.
    cal.add_missing_timezones(first_date=date(invite.start.year - 1, 1, 1), last_date=date(invite.end.year + 1, 12, 31))
    return bytes(cal.to_ical())
