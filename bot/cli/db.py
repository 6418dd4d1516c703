"""``peerbot db upgrade|status``: the database schema."""

from __future__ import annotations

import argparse
from typing import Any

from bot.cli.common import add_config_arg, command, config_of, print_json
from bot.db.engine import Database


def register(sub: argparse._SubParsersAction[Any]) -> None:
    db = sub.add_parser("db", help="the database schema")
    dsub = db.add_subparsers(dest="db_command", metavar="ACTION")
    dsub.required = True
    up = dsub.add_parser("upgrade", help="apply every migration not yet applied (safe to repeat)")
    add_config_arg(up)
    up.set_defaults(func=upgrade)
    st = dsub.add_parser("status", help="show the schema's revision and the newest one")
    add_config_arg(st)
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=status)


@command
async def upgrade(args: argparse.Namespace) -> int:
    db = Database(config_of(args).database_url())
    try:
        before, head = await db.revision()
        await db.upgrade()
    finally:
        await db.dispose()
    if before == head:
        print(f"The database is up to date (revision {head}).")
    else:
        print(f"Upgraded the database from {before or 'empty'} to {head}.")
    return 0


@command
async def status(args: argparse.Namespace) -> int:
    db = Database(config_of(args).database_url())
    try:
        current, head = await db.revision()
    finally:
        await db.dispose()
    if args.json:
        print_json({"database": db.display_url, "current": current, "head": head, "up_to_date": current == head})
    else:
        state = "up to date" if current == head else "needs `peerbot db upgrade`"
        print(f"{db.display_url}: revision {current or '(empty)'}, newest {head}: {state}.")
    return 0
