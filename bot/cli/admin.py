"""``peerbot admin log``: read the administrative log (who did what, and when)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from bot import admin_log
from bot.cli.common import add_config_arg, command, opened, print_json
from bot.errors import BadInput
from bot.models.network import Person


def register(sub: argparse._SubParsersAction[Any]) -> None:
    adm = sub.add_parser("admin", help="the administrative log")
    asub = adm.add_subparsers(dest="admin_command", metavar="ACTION")
    asub.required = True
    log = asub.add_parser("log", help="the latest administrative actions: imports, audit changes, exports, erasures")
    add_config_arg(log)
    log.add_argument("--limit", type=int, default=50, metavar="N", help="how many entries, newest last (default 50)")
    log.add_argument("--json", action="store_true")
    log.set_defaults(func=log_)


@command
async def log_(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise BadInput("--limit must be at least 1")
    async with opened(args) as bot, bot.db.session() as session:
        rows = await admin_log.latest(session, bot.network_id, args.limit)
        names: dict[str, str] = {}
        for row in rows:
            number = admin_log.person_id_of(row.actor)
            if number is not None and row.actor not in names:
                person = await session.get(Person, number)
                if person is not None and person.network_id == bot.network_id:
                    names[row.actor] = person.name
        zone = bot.config.zone
        entries: list[dict[str, Any]] = [
            {
                "id": r.id,
                "at": r.at.astimezone(zone).isoformat(),
                "actor": r.actor,
                "actor_name": names.get(r.actor),
                "action": r.action,
                "subject": r.subject,
                "detail": r.detail,
            }
            for r in rows
        ]
    if args.json:
        print_json({"entries": entries})
        return 0
    if not entries:
        print("The administrative log is empty.")
    for e in entries:
        who = f"{e['actor']} ({e['actor_name']})" if e["actor_name"] else e["actor"]
        detail = json.dumps(e["detail"], ensure_ascii=False, separators=(", ", ": ")) if e["detail"] else ""
        parts: list[str] = [str(e["at"])[:16].replace("T", " "), who, e["action"], e["subject"] or "", detail]
        print("  ".join(p for p in parts if p))
    return 0
