"""A test front end that records *structured* output.

Unlike a transcript of rendered text, every :class:`Sent` says where it went (a reply, a
channel, a thread, a DM), to whom, whether it was private, and which buttons it carried,
so tests can assert on threads, DMs and buttons. Drive the bot as people in the demo
network::

    replies = await chat.say("p.shah@oakfield.sch.uk", "strengths oak")
    assert replies[0].private and "Phonics" in replies[0].text
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from bot.app import PeerBot
from bot.delivery import Address, DeliveryError
from bot.events import (
    AnyEvent,
    ButtonPressed,
    CommandInvoked,
    MemberJoined,
    MessagePosted,
    MessageRef,
    Place,
    Sender,
)
from bot.replies import Button, Message, OutgoingFile, Respond

SentKind = Literal["reply", "channel", "thread", "dm", "edit"]


@dataclass(frozen=True)
class Sent:
    kind: SentKind
    text: str
    ref: MessageRef
    buttons: tuple[Button, ...] = ()
    files: tuple[OutgoingFile, ...] = ()
    private: bool = False
    to: str | None = None  # the person (email) for replies and DMs, the group for channels
    key: str | None = None

    def button(self, action: str) -> Button:
        for b in self.buttons:
            if b.action == action:
                return b
        raise AssertionError(f"no button {action!r} on {self.text[:60]!r}: {[b.action for b in self.buttons]}")


@dataclass
class RecordingTransport:
    """A transport that records what it is asked to send; can be told to fail."""

    platform: str = "console"
    sent: list[Sent] = field(default_factory=list)
    failures: list[DeliveryError] = field(default_factory=list)
    calls: int = 0
    delay: float = 0.0  # seconds each send takes, as a real platform's does
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))

    async def send(self, address: Address, message: Message, *, key: str | None, attempt: int) -> MessageRef:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.failures:
            raise self.failures.pop(0)
        kind: SentKind = address.kind  # type: ignore[assignment]
        channel = f"dm:{address.user_id}" if address.kind == "dm" else address.channel_id or ""
        message_id = address.message_id if address.kind == "edit" and address.message_id else str(next(self._ids))
        ref = MessageRef(platform=self.platform, channel_id=channel, message_id=message_id, thread_id=address.thread_id)
        to = address.user_id if address.kind == "dm" else (address.label.lstrip("#") or None)
        self.sent.append(
            Sent(kind=kind, text=message.text, ref=ref, buttons=message.buttons, files=message.files, to=to, key=key)
        )
        return ref


class Chat:
    """People talking to one bot on one platform; everything sent is in :attr:`sent`."""

    def __init__(self, bot: PeerBot, *, platform: str = "console") -> None:
        self.bot = bot
        self.platform = platform
        self.transport = RecordingTransport(platform=platform)
        bot.deliverer.register(self.transport)
        self.replies: list[Sent] = []
        self._ids = itertools.count(1)

    @property
    def sent(self) -> list[Sent]:
        """Immediate replies and delivered messages, in order."""
        return [*self.replies, *self.transport.sent]

    def dms(self, email: str | None = None) -> list[Sent]:
        return [s for s in self.transport.sent if s.kind == "dm" and (email is None or s.to == email)]

    def place(self, who: str, where: str, thread: str | None = None) -> Place:
        if where == "dm":
            return Place(platform=self.platform, channel_id=f"dm:{who}", is_direct=True)
        channel = self.bot.config.group_channel(self.platform, where) or where
        return Place(platform=self.platform, channel_id=channel, thread_id=thread)

    def sender(self, who: str) -> Sender:
        return Sender(platform=self.platform, user_id=who)

    async def say(
        self,
        who: str,
        text: str,
        *,
        where: str = "dm",
        thread: str | None = None,
        mention: bool = False,
        event_id: str | None = None,
    ) -> list[Sent]:
        event = MessagePosted(
            sender=self.sender(who),
            place=self.place(who, where, thread),
            event_id=event_id or uuid.uuid4().hex,
            text=text,
            message_id=f"u{next(self._ids)}",
            mentions_bot=mention,
        )
        return await self.send_event(event)

    async def command(self, who: str, name: str, text: str = "", *, where: str = "dm") -> list[Sent]:
        event = CommandInvoked(
            sender=self.sender(who), place=self.place(who, where), event_id=uuid.uuid4().hex, name=name, text=text
        )
        return await self.send_event(event)

    async def press(self, who: str, sent: Sent, action: str | Button) -> list[Sent]:
        """Press a button of ``sent``: by its action, or one particular button (a poll's dates)."""
        if isinstance(action, Button):
            assert action in sent.buttons, f"{action} is not on {sent.text[:50]!r}"
            button = action
        else:
            button = sent.button(action)
        place = Place(
            platform=self.platform,
            channel_id=sent.ref.channel_id,
            is_direct=sent.ref.channel_id.startswith("dm:"),
            thread_id=sent.ref.thread_id,
        )
        event = ButtonPressed(
            sender=self.sender(who),
            place=place,
            event_id=uuid.uuid4().hex,
            action=button.action,
            value=button.value,
            message=sent.ref,
        )
        return await self.send_event(event)

    async def join(self, who: str, where: str) -> list[Sent]:
        return await self.send_event(
            MemberJoined(sender=self.sender(who), place=self.place(who, where), event_id=uuid.uuid4().hex)
        )

    async def send_event(self, event: AnyEvent) -> list[Sent]:
        outgoing = await self.bot.handle(event)
        got: list[Sent] = []
        for out in outgoing:
            assert isinstance(out.target, Respond), "handlers answer the event only through Respond"
            thread = None
            if isinstance(event, MessagePosted) and out.target.in_thread and not event.place.is_direct:
                thread = event.place.thread_id or event.message_id
            ref = MessageRef(
                platform=self.platform,
                channel_id=event.place.channel_id,
                message_id=f"r{next(self._ids)}",
                thread_id=thread,
            )
            got.append(
                Sent(
                    kind="reply",
                    text=out.message.text,
                    ref=ref,
                    buttons=out.message.buttons,
                    files=out.message.files,
                    private=out.target.private,
                    to=event.sender.user_id,
                )
            )
        self.replies.extend(got)
        await self.bot.deliverer.drain()
        return got


def texts(sent: Iterable[Sent]) -> list[str]:
    return [s.text for s in sent]
