"""What goes out: a :class:`Message` and where it goes (a target).

Text uses a small, neutral markup that every adapter renders in its platform's idiom:
``**bold**``, ``_italic_``, lines starting ``- `` as bullets, and bare URLs.

Targets name people and groups, never platform ids:

- :class:`Respond` — back to whoever triggered the event being handled (optionally
  privately: Slack ephemeral, Discord ephemeral or DM, console "(only you see this)").
  Only valid as an immediate reply from a handler.
- :class:`ToGroup` — the group's channel (``heads``, ``dsl``, ...), per the config.
- :class:`ToPerson` — a direct message to a person in the people table.
- :class:`ToThread` — a reply in the thread of a message the core knows.
- :class:`EditMessage` — replace an earlier message (by its ref, or by the outbox key
  it was queued under), e.g. "Jo from Oak took this one" on the other referrals.

Everything except :class:`Respond` can be queued durably through the outbox.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from bot.events import MessageRef

ButtonStyle = Literal["default", "primary", "danger"]

MAX_TEXT = 3500  # below Slack's 4,000 and Discord's 4,096 (embeds) limits, with room


@dataclass(frozen=True, slots=True, kw_only=True)
class Button:
    """A button. ``action`` names the handler (``referral.accept``); ``value`` is its data.

    Both must be short (Slack caps values at 2,000 chars, Discord custom_ids at 100):
    carry ids, never text.
    """

    label: str
    action: str
    value: str = ""
    style: ButtonStyle = "default"

    def __post_init__(self) -> None:
        if len(self.action) + len(self.value) > 90:
            raise ValueError("button action and value must fit in 90 characters together")
        if ":" in self.action:
            raise ValueError("a button action may not contain ':'")


@dataclass(frozen=True, slots=True, kw_only=True)
class OutgoingFile:
    name: str
    data: bytes = field(repr=False)
    content_type: str = "application/octet-stream"


@dataclass(frozen=True, slots=True, kw_only=True)
class CalendarEvent:
    """A meeting as a platform-native event (a Discord guild scheduled event).

    Platforms without one ignore it; the message's text and .ics file still go out.
    ``key`` is stable for the meeting, so updates and cancellations find the event.
    """

    key: str
    title: str
    start: datetime
    end: datetime
    description: str = ""
    location: str = ""
    cancelled: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    text: str
    buttons: tuple[Button, ...] = ()
    files: tuple[OutgoingFile, ...] = ()
    calendar: CalendarEvent | None = None

    def __post_init__(self) -> None:
        if len(self.text) > MAX_TEXT:
            object.__setattr__(self, "text", self.text[: MAX_TEXT - 1] + "…")

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"text": self.text}
        if self.buttons:
            data["buttons"] = [
                {"label": b.label, "action": b.action, "value": b.value, "style": b.style} for b in self.buttons
            ]
        if self.files:
            data["files"] = [
                {"name": f.name, "content_type": f.content_type, "data": base64.b64encode(f.data).decode()}
                for f in self.files
            ]
        if self.calendar:
            c = self.calendar
            data["calendar"] = {
                "key": c.key,
                "title": c.title,
                "start": c.start.isoformat(),
                "end": c.end.isoformat(),
                "description": c.description,
                "location": c.location,
                "cancelled": c.cancelled,
            }
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Message:
        cal = data.get("calendar")
        return cls(
            text=str(data["text"]),
            buttons=tuple(
                Button(label=b["label"], action=b["action"], value=b.get("value", ""), style=b.get("style", "default"))
                for b in data.get("buttons", ())
            ),
            files=tuple(
                OutgoingFile(name=f["name"], content_type=f["content_type"], data=base64.b64decode(f["data"]))
                for f in data.get("files", ())
            ),
            calendar=(
                CalendarEvent(
                    key=cal["key"],
                    title=cal["title"],
                    start=datetime.fromisoformat(cal["start"]),
                    end=datetime.fromisoformat(cal["end"]),
                    description=cal.get("description", ""),
                    location=cal.get("location", ""),
                    cancelled=bool(cal.get("cancelled", False)),
                )
                if cal
                else None
            ),
        )


@dataclass(frozen=True, slots=True)
class Respond:
    private: bool = False
    in_thread: bool = True


@dataclass(frozen=True, slots=True)
class ToGroup:
    group: str


@dataclass(frozen=True, slots=True)
class ToPerson:
    """A direct message. ``fallback`` is a thread to mention them in instead, when the
    platform will not deliver the DM (closed DMs on Discord).

    ``anonymous``: the message is about something the person did anonymously (a question
    they asked without their name), so it never falls back to a thread, and a failed
    delivery is recorded without their name."""

    person_id: int
    fallback: MessageRef | None = None
    anonymous: bool = False


@dataclass(frozen=True, slots=True)
class ToThread:
    ref: MessageRef


@dataclass(frozen=True, slots=True)
class EditMessage:
    ref: MessageRef | None = None
    key: str | None = None

    def __post_init__(self) -> None:
        if (self.ref is None) == (self.key is None):
            raise ValueError("EditMessage needs exactly one of ref or key")


Target = Respond | ToGroup | ToPerson | ToThread | EditMessage
DurableTarget = ToGroup | ToPerson | ToThread | EditMessage


@dataclass(frozen=True, slots=True)
class Outgoing:
    target: Target
    message: Message


def target_to_json(target: DurableTarget) -> dict[str, Any]:
    match target:
        case ToGroup(group):
            return {"kind": "group", "group": group}
        case ToPerson(person_id, fallback, anonymous):
            data: dict[str, Any] = {"kind": "person", "person_id": person_id}
            if fallback is not None:
                data["fallback"] = fallback.to_json()
            if anonymous:
                data["anonymous"] = True
            return data
        case ToThread(ref):
            return {"kind": "thread", "ref": ref.to_json()}
        case EditMessage(ref, key):
            return {"kind": "edit", "ref": ref.to_json() if ref else None, "key": key}
    raise TypeError(f"not a durable target: {target!r}")


def target_from_json(data: Mapping[str, Any]) -> DurableTarget:
    kind = data.get("kind")
    if kind == "group":
        return ToGroup(str(data["group"]))
    if kind == "person":
        fallback = data.get("fallback")
        return ToPerson(
            int(data["person_id"]),
            MessageRef.from_json(fallback) if fallback else None,
            anonymous=bool(data.get("anonymous", False)),
        )
    if kind == "thread":
        return ToThread(MessageRef.from_json(data["ref"]))
    if kind == "edit":
        ref = data.get("ref")
        return EditMessage(ref=MessageRef.from_json(ref) if ref else None, key=data.get("key"))
    raise ValueError(f"unknown target kind {kind!r}")


def replies_to_json(replies: Sequence[Outgoing]) -> list[dict[str, Any]]:
    """The immediate replies (``Respond``) among ``replies``, JSON-ready; the rest were queued."""
    return [
        {"private": out.target.private, "in_thread": out.target.in_thread, "message": out.message.to_json()}
        for out in replies
        if isinstance(out.target, Respond)
    ]


def replies_from_json(data: Sequence[Mapping[str, Any]]) -> list[Outgoing]:
    return [
        Outgoing(
            Respond(private=bool(r.get("private", False)), in_thread=bool(r.get("in_thread", True))),
            Message.from_json(r["message"]),
        )
        for r in data
    ]
