"""``peerbot run``: start the configured platform adapters (the console when none)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence
from typing import Any

from bot.app import PeerBot
from bot.cli.common import add_config_arg, command, config_of
from bot.plugins import Adapter, load_adapter

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[Any]) -> None:
    run = sub.add_parser("run", help="run the bot on the configured platforms")
    add_config_arg(run)
    run.set_defaults(func=run_)


async def serve(bot: PeerBot, adapters: Sequence[Adapter]) -> None:
    """Run adapters until one finishes (console input ends) or a signal arrives."""
    bot.start_background()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(a.run(), name=f"adapter:{a.platform}") for a in adapters]
    stopper = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not stopper and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        for a in adapters:
            with contextlib.suppress(Exception):
                await a.stop()
        for task in [*tasks, stopper]:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)


@command
async def run_(args: argparse.Namespace) -> int:
    config = config_of(args)
    factories = [load_adapter(p) for p in config.settings.platforms.run]
    bot = await PeerBot.open(config)
    try:
        adapters = [factory(bot) for factory in factories]
        bot.settle()
        log.info("peerbot running for %s on %s", config.network_name, ", ".join(a.platform for a in adapters))
        await serve(bot, adapters)
    finally:
        await bot.close()
    return 0
