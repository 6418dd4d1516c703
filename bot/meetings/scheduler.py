"""APScheduler as an alarm clock, nothing more.

An ``AsyncIOScheduler`` (APScheduler 3.x, in-memory job store) holds exactly two one-shot
jobs: run the sweeper when the rows say it next has work, and wake the deliverer when the
next outbox row falls due. Each run derives the next times from the database again, so
a restart — or a crash — loses nothing: there is no pickled job state to lose or to
replay twice. Times come from ``bot.clock`` and are converted to wall-clock delays.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger

from bot.meetings.sweep import next_outbox_due, sweep

if TYPE_CHECKING:
    from bot.app import PeerBot

log = logging.getLogger(__name__)

RETRY_AFTER_FAILURE = timedelta(minutes=1)
REARM = timedelta(seconds=1)


class MeetingScheduler:
    def __init__(self, bot: PeerBot) -> None:
        self.bot = bot
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self.sweeps = 0

    def _wall(self, due: datetime) -> datetime:
        """The wall-clock instant at which ``bot.clock`` will read ``due``."""
        delay = max(0.0, (due - self.bot.clock.now()).total_seconds())
        return datetime.now(UTC) + timedelta(seconds=delay)

    def _at(self, job_id: str, due: datetime, func: object) -> None:
        self.scheduler.add_job(
            func,
            DateTrigger(run_date=self._wall(due)),
            id=job_id,
            replace_existing=True,
            misfire_grace_time=None,
            coalesce=True,
        )

    async def run_sweep(self) -> None:
        """Sweep, then set both alarms from what the rows now say."""
        try:
            result = await sweep(self.bot)
            self.sweeps += 1
            wake = result.next_wake or self.bot.clock.now() + RETRY_AFTER_FAILURE
        except Exception:
            log.exception("meetings sweep failed; trying again shortly")
            wake = self.bot.clock.now() + RETRY_AFTER_FAILURE
        self._at("sweep", wake, self.run_sweep)
        await self.arm_deliverer()

    async def arm_deliverer(self, *, not_before: datetime | None = None) -> None:
        try:
            due = await next_outbox_due(self.bot)
        except Exception:
            log.exception("could not read the outbox's next due time")
            return
        if due is not None:
            self._at("wake-deliverer", max(due, not_before) if not_before else due, self._wake_deliverer)

    async def _wake_deliverer(self) -> None:
        self.bot.deliverer.wake()
        # What is due now is being sent; the next alarm is for the next row (rows still
        # waiting their turn are looked at again a second later, not in a tight loop).
        await self.arm_deliverer(not_before=self.bot.clock.now() + REARM)

    async def run(self, stop: asyncio.Event) -> None:
        self.scheduler.start()
        try:
            await self.run_sweep()
            await stop.wait()
        finally:
            self.scheduler.shutdown(wait=False)
