"""Helpers for the meetings tests: move the clock, sweep, deliver, press a poll's buttons."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from bot.app import PeerBot
from bot.clock import FrozenClock
from bot.meetings.sweep import SweepResult, sweep
from bot.models import Meeting, OutboxMessage
from bot.replies import Button
from tests.support.chat import Chat, Sent

CONVENOR = "p.shah@oakfield.sch.uk"  # a head and the convenor
HEAD = "k.lloyd@hollybrook.sch.uk"
SENCO = "h.cole@oakfield.sch.uk"  # not in the heads group


def clock_of(bot: PeerBot) -> FrozenClock:
    assert isinstance(bot.clock, FrozenClock)
    return bot.clock


async def tick(bot: PeerBot) -> SweepResult:
    """One sweep, then deliver everything due."""
    result = await sweep(bot)
    await bot.deliverer.drain()
    return result


async def meetings(bot: PeerBot) -> list[Meeting]:
    async with bot.db.session() as session:
        return list((await session.execute(select(Meeting).order_by(Meeting.term_start, Meeting.id))).scalars())


async def outbox_rows(bot: PeerBot, prefix: str = "") -> list[OutboxMessage]:
    async with bot.db.session() as session:
        q = select(OutboxMessage).where(OutboxMessage.key.startswith(prefix)).order_by(OutboxMessage.id)
        return list((await session.execute(q)).scalars())


def posts(chat: Chat, contains: str) -> list[Sent]:
    return [s for s in chat.transport.sent if contains in s.text]


async def press(chat: Chat, who: str, sent: Sent, button: Button) -> list[Sent]:
    """Press one particular button of a delivered message."""
    return await chat.press(who, sent, button)


def buttons(sent: Sent, action: str) -> list[Button]:
    return [b for b in sent.buttons if b.action == action]


def at(clock: FrozenClock, when: datetime) -> None:
    clock.set(when)
