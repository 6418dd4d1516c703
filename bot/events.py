"""What comes in: small, typed, platform-neutral events.

Adapters build these from platform payloads and hand them to
:meth:`bot.app.PeerBot.handle`. Platform ids appear only as opaque strings
(``Sender.user_id``, ``Place.channel_id``); the core maps them to people through the
people table and to role groups through the config's channel map. ``raw`` is an escape
hatch back to the platform payload, for adapters and debugging only — handlers must not
read it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Platform = Literal["console", "slack", "discord"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Sender:
    """Who did it, as the platform knows them."""

    platform: str
    user_id: str
    display_name: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Place:
    """Where it happened: a channel, a thread in a channel, or a direct conversation."""

    platform: str
    channel_id: str
    is_direct: bool = False
    thread_id: str | None = None

    def in_thread(self, thread_id: str) -> Place:
        return Place(platform=self.platform, channel_id=self.channel_id, is_direct=self.is_direct, thread_id=thread_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageRef:
    """A message the platform has: enough to reply in its thread or to edit it."""

    platform: str
    channel_id: str
    message_id: str
    thread_id: str | None = None

    @property
    def thread_root(self) -> str:
        """The id replies in this message's thread hang from."""
        return self.thread_id or self.message_id

    def to_json(self) -> dict[str, str]:
        data = {"platform": self.platform, "channel_id": self.channel_id, "message_id": self.message_id}
        if self.thread_id:
            data["thread_id"] = self.thread_id
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MessageRef:
        return cls(
            platform=str(data["platform"]),
            channel_id=str(data["channel_id"]),
            message_id=str(data["message_id"]),
            thread_id=str(data["thread_id"]) if data.get("thread_id") else None,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class IncomingFile:
    """A file someone shared with the bot, already downloaded by the adapter."""

    name: str
    data: bytes = field(repr=False)
    content_type: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of every incoming event.

    ``event_id`` is the platform's unique id for this delivery (Slack's ``event_id``, a
    Discord message or interaction id); the core drops an event whose id it has seen.
    """

    sender: Sender
    place: Place
    event_id: str | None = None
    raw: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class MessagePosted(Event):
    """A message in a channel, a thread or a direct conversation."""

    text: str
    message_id: str
    mentions_bot: bool = False
    files: tuple[IncomingFile, ...] = ()

    @property
    def ref(self) -> MessageRef:
        return MessageRef(
            platform=self.place.platform,
            channel_id=self.place.channel_id,
            message_id=self.message_id,
            thread_id=self.place.thread_id,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandInvoked(Event):
    """``/peerbot NAME TEXT`` (a slash command), or a command typed to the bot."""

    name: str
    text: str = ""
    files: tuple[IncomingFile, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ButtonPressed(Event):
    """A button the core sent was pressed. ``action`` and ``value`` are the button's own."""

    action: str
    value: str = ""
    message: MessageRef | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberJoined(Event):
    """Someone joined a channel the bot watches (or the workspace/guild: ``place`` is
    then the channel the adapter reports it in)."""


AnyEvent = MessagePosted | CommandInvoked | ButtonPressed | MemberJoined


# -- events as JSON (the inbox keeps them across a restart) ----------------------------------
_KINDS: dict[type, str] = {
    MessagePosted: "message",
    CommandInvoked: "command",
    ButtonPressed: "button",
    MemberJoined: "joined",
}


def event_to_json(event: AnyEvent) -> dict[str, Any]:
    """``event`` as JSON-ready data (:func:`event_from_json` gives it back). ``raw`` is left
    out: it is the platform's payload, for the adapter that built the event only."""
    data: dict[str, Any] = {
        "kind": _KINDS[type(event)],
        "sender": {"platform": event.sender.platform, "user_id": event.sender.user_id},
        "place": {"platform": event.place.platform, "channel_id": event.place.channel_id},
    }
    if event.sender.display_name is not None:
        data["sender"]["display_name"] = event.sender.display_name
    if event.place.is_direct:
        data["place"]["is_direct"] = True
    if event.place.thread_id is not None:
        data["place"]["thread_id"] = event.place.thread_id
    if event.event_id is not None:
        data["event_id"] = event.event_id
    if isinstance(event, MessagePosted):
        data.update(text=event.text, message_id=event.message_id, mentions_bot=event.mentions_bot)
    elif isinstance(event, CommandInvoked):
        data.update(name=event.name, text=event.text)
    elif isinstance(event, ButtonPressed):
        data.update(action=event.action, value=event.value)
        if event.message is not None:
            data["message"] = event.message.to_json()
    if isinstance(event, MessagePosted | CommandInvoked) and event.files:
        data["files"] = [
            {"name": f.name, "content_type": f.content_type, "data": base64.b64encode(f.data).decode("ascii")}
            for f in event.files
        ]
    return data


def event_from_json(data: Mapping[str, Any]) -> AnyEvent:
    """The event :func:`event_to_json` wrote (``ValueError`` for anything else)."""
    try:
        kind = data["kind"]
        s, p = data["sender"], data["place"]
        common: dict[str, Any] = {
            "sender": Sender(
                platform=str(s["platform"]),
                user_id=str(s["user_id"]),
                display_name=str(s["display_name"]) if s.get("display_name") is not None else None,
            ),
            "place": Place(
                platform=str(p["platform"]),
                channel_id=str(p["channel_id"]),
                is_direct=bool(p.get("is_direct", False)),
                thread_id=str(p["thread_id"]) if p.get("thread_id") is not None else None,
            ),
            "event_id": str(data["event_id"]) if data.get("event_id") is not None else None,
        }
        files = tuple(
            IncomingFile(
                name=str(f["name"]),
                data=base64.b64decode(f["data"]),
                content_type=str(f["content_type"]) if f.get("content_type") is not None else None,
            )
            for f in data.get("files", ())
        )
        if kind == "message":
            return MessagePosted(
                **common,
                text=str(data["text"]),
                message_id=str(data["message_id"]),
                mentions_bot=bool(data.get("mentions_bot", False)),
                files=files,
            )
        if kind == "command":
            return CommandInvoked(**common, name=str(data["name"]), text=str(data.get("text", "")), files=files)
        if kind == "button":
            message = data.get("message")
            return ButtonPressed(
                **common,
                action=str(data["action"]),
                value=str(data.get("value", "")),
                message=MessageRef.from_json(message) if message is not None else None,
            )
        if kind == "joined":
            return MemberJoined(**common)
    except (KeyError, TypeError, AttributeError, binascii.Error) as exc:
        raise ValueError(f"not a stored event ({type(exc).__name__})") from None
    raise ValueError("not a stored event (unknown kind)")
