"""Helpers every CLI command shares: config, opening the bot, JSON output."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from bot.app import PeerBot
from bot.config import Config, load_config
from bot.numbers import MAX_ID, whole_number

T = TypeVar("T")
Handler = Callable[[argparse.Namespace], int | None]


def add_config_arg(parser: argparse.ArgumentParser) -> None:
    """``--config`` is accepted before or after the command words."""
    parser.add_argument(
        "--config", metavar="FILE", default=argparse.SUPPRESS, help="the config file (default: $PEERBOT_CONFIG)"
    )


def row_id(text: str) -> int:
    """An argument naming a row by its number (a meeting, an action, a need, a message): a
    whole number the database can hold, or argparse's one-line error and exit 2."""
    number = whole_number(text)
    if number is None:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number from 0 to {MAX_ID:,}")
    return number


def config_of(args: argparse.Namespace) -> Config:
    return load_config(getattr(args, "config", None))


def cli_actor() -> str:
    """Who the administrative log says did something from the command line: ``cli:<OS user>``."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError, ImportError):
        user = ""
    return f"cli:{user}" if user else "cli"


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@asynccontextmanager
async def opened(args: argparse.Namespace, **kwargs: Any) -> AsyncIterator[PeerBot]:
    bot = await PeerBot.open(config_of(args), **kwargs)
    try:
        yield bot
    finally:
        await bot.close()


def print_json(document: Any, *, compact: bool = False) -> None:
    text = json.dumps(
        document,
        ensure_ascii=False,
        default=str,
        separators=(",", ":") if compact else None,
        indent=None if compact else 2,
    )
    sys.stdout.write(text + "\n")


def command(func: Callable[[argparse.Namespace], Coroutine[Any, Any, int | None]]) -> Handler:
    """Wrap an async command body so that argparse can call it."""

    def handler(args: argparse.Namespace) -> int | None:
        return run(func(args))

    return handler
