"""A real bot process for the crash tests: ``python -m tests.meetings.worker ...``.

It opens the bot on the given database with the wall clock shifted by ``--offset``
seconds, delivers through a transport that appends each message's key to a file, and
runs exactly what ``peerbot run`` runs in the background (the deliverer and the meetings
scheduler). The transport behaves as the platform contract asks: on a retry
(``attempt > 1``) it first looks for the key among what was already posted — as the
Slack adapter looks at channel history and Discord enforces a nonce — and does not post
it twice.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, or_, select

from bot.app import PeerBot
from bot.config import config_from_dict
from bot.db.engine import Database
from bot.delivery import Address
from bot.events import MessageRef
from bot.models import OutboxMessage
from bot.replies import Message


class OffsetClock:
    def __init__(self, offset: float) -> None:
        self.offset = timedelta(seconds=offset)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


class FileTransport:
    platform = "console"

    def __init__(self, path: Path, delay: float) -> None:
        self.path = path
        self.delay = delay

    def _posted(self) -> set[str]:
        if not self.path.exists():
            return set()
        return {line.split(" ", 1)[0] for line in self.path.read_text().splitlines() if line}

    async def send(self, address: Address, message: Message, *, key: str | None, attempt: int) -> MessageRef:
        ref = MessageRef(
            platform="console", channel_id=address.channel_id or f"dm:{address.user_id}", message_id=key or ""
        )
        if attempt > 1 and key in self._posted():
            return ref  # already posted before a crash: say so instead of posting again
        await asyncio.sleep(self.delay)
        with self.path.open("a") as f:
            f.write(f"{key} {os.getpid()}\n")
            f.flush()
            os.fsync(f.fileno())
        return ref


async def busy(bot: PeerBot) -> int:
    now = bot.clock.now()
    async with bot.db.session() as session:
        q = select(func.count()).where(
            or_(
                (OutboxMessage.status == "pending") & (OutboxMessage.not_before <= now),
                OutboxMessage.status == "sending",
            )
        )
        return int((await session.execute(q)).scalar_one())


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--schema")
    parser.add_argument("--log", required=True, type=Path)
    parser.add_argument("--offset", type=float, default=0.0)
    parser.add_argument("--delay", type=float, default=0.05)
    parser.add_argument("--exit-when-idle", action="store_true")
    args = parser.parse_args()
    config = config_from_dict({"network": {"name": "Test Network"}})
    db = Database(args.url, schema=args.schema)
    bot = await PeerBot.open(config, db=db, clock=OffsetClock(args.offset), migrate=False, platforms=["console"])
    bot.deliverer.register(FileTransport(args.log, args.delay))
    bot.start_background()
    try:
        while True:
            await asyncio.sleep(0.2)
            if args.exit_when_idle and await busy(bot) == 0:
                return
    finally:
        await bot.close()


if __name__ == "__main__":
    asyncio.run(main())
