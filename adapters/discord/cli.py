"""``peerbot discord ...`` commands, added to the CLI through the ``peerbot.cli`` entry point."""

from __future__ import annotations

import argparse
from typing import Any

from adapters.discord.check import configured_private, run_check
from adapters.discord.privacy import group_discord_ids
from bot.app import PeerBot
from bot.cli.common import add_config_arg, command, config_of, print_json
from bot.errors import ConfigError


def register(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser("discord", help="set up and check the Discord adapter")
    dsub = parser.add_subparsers(dest="discord_command", metavar="ACTION")
    dsub.required = True
    check = dsub.add_parser("check", help="check the token, intents, server and channels; print the invite link")
    add_config_arg(check)
    check.add_argument("--json", action="store_true", help="print one JSON document")
    check.set_defaults(func=check_)


@command
async def check_(args: argparse.Namespace) -> int:
    config = config_of(args)
    # Who is in the private groups (to see who else can read their channels): the people table.
    bot = await PeerBot.open(config, modules=())
    try:
        async with bot.db.session() as session:
            group_ids = await group_discord_ids(session, config, bot.network_id, configured_private(config))
    finally:
        await bot.close()
    report = await run_check(config, group_ids=group_ids)
    if args.json:
        print_json(report.to_json())
    else:
        print(f"Discord set-up for '{config.network_name}':")
        for f in report.findings:
            print(f"  {'ok  ' if f.ok else 'FAIL'}  {f.name}: {f.detail}")
        if report.invite_url:
            print(f"Invite link (permissions {report.to_json()['permissions']}): {report.invite_url}")
        problems = report.problems
        print("OK" if not problems else f"{len(problems)} problem(s)")
    if report.problems:
        raise ConfigError(report.problems[0])
    return 0
