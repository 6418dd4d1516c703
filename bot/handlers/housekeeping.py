"""Hourly housekeeping while the bot runs: apply the retention policies."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.app import PeerBot
from bot.dispatch import background
from bot.privacy.retention import apply_retention

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 3600.0


@background("housekeeping")
async def housekeeping(bot: PeerBot, stop: asyncio.Event) -> None:
    while not stop.is_set():
        async with bot.db.session() as session:
            report = await apply_retention(session, bot.network_id, bot.clock.now(), bot.config.settings.privacy)
        if report.removed:
            log.info("retention: removed %s", ", ".join(report.lines()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=INTERVAL_SECONDS)
