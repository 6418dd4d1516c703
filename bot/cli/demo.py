"""``peerbot demo``: the demo network in a local SQLite file, and a chat in the terminal."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
from pathlib import Path
from typing import Any

from bot.app import PeerBot
from bot.cli.common import command
from bot.cli.run import serve
from bot.config import Config, load_config
from bot.demo import default_data_dir, demo_sources, write_demo_config
from bot.network.importer import import_network
from bot.plugins import load_adapter


def register(sub: argparse._SubParsersAction[Any]) -> None:
    demo = sub.add_parser("demo", help="try peerbot: a demo network and a chat in this terminal (no tokens)")
    demo.add_argument(
        "--data-dir",
        metavar="DIR",
        type=Path,
        default=None,
        help=f"where the demo keeps its config and database (default: {default_data_dir()})",
    )
    demo.add_argument("--as", dest="as_person", metavar="EMAIL", help="who you are (default: you choose)")
    demo.add_argument("--in", dest="in_place", metavar="GROUP", help="start in this group's channel (default: a DM)")
    demo.add_argument("--reset", action="store_true", help="start again from the shipped demo files")
    demo.set_defaults(func=demo_)


def _prepare_files(data_dir: Path, reset: bool) -> Config:
    if reset and data_dir.exists():
        shutil.rmtree(data_dir)
    return load_config(write_demo_config(data_dir))


@command
async def demo_(args: argparse.Namespace) -> int:
    data_dir: Path = args.data_dir or default_data_dir()
    config = await asyncio.to_thread(_prepare_files, data_dir, args.reset)
    bot = await PeerBot.open(config, platforms=["console"])
    try:
        now = bot.clock.now()
        sources = demo_sources(today=now.astimezone(config.zone).date())
        async with bot.db.session() as session:
            summary = await import_network(session, bot.network_id, now=now, actor="demo", **sources)
        if summary.changed:
            sys.stderr.write(f"Loaded the demo network into {data_dir}\n")
        factory = load_adapter("console")
        adapter: Any = factory(bot)
        await adapter.prepare(identity=args.as_person, place=args.in_place)
        await serve(bot, [adapter])
    finally:
        await bot.close()
    return 0
