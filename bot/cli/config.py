"""``peerbot config check``: validate a config file without starting anything."""

from __future__ import annotations

import argparse
from typing import Any

from bot.cli.common import add_config_arg, config_of, print_json
from bot.errors import ConfigError


def register(sub: argparse._SubParsersAction[Any]) -> None:
    cfg = sub.add_parser("config", help="check the configuration")
    csub = cfg.add_subparsers(dest="config_command", metavar="ACTION")
    csub.required = True
    check = csub.add_parser("check", help="validate every setting, and that the named secrets are set")
    add_config_arg(check)
    check.add_argument("--json", action="store_true")
    check.set_defaults(func=check_)


def check_(args: argparse.Namespace) -> int:
    try:
        config = config_of(args)
    except ConfigError as exc:
        # Every problem, one line each (the error line shows the first).
        if args.json:
            print_json({"config": getattr(args, "config", None), "problems": exc.problems})
        else:
            for p in exc.problems:
                print(f"  problem: {p}")
            print(f"{len(exc.problems)} problem(s)")
        raise
    s = config.settings
    problems: list[str] = []
    try:
        url = config.database_url()
    except ConfigError as exc:
        problems.append(str(exc))
        url = "(unset)"
    for platform in s.platforms.run:
        if platform == "slack":
            keys = [("slack.bot_token_env", s.slack.bot_token_env)]
            keys.append(
                ("slack.app_token_env", s.slack.app_token_env)
                if s.slack.mode == "socket"
                else ("slack.signing_secret_env", s.slack.signing_secret_env)
            )
        elif platform == "discord":
            keys = [("discord.token_env", s.discord.token_env)]
        else:
            keys = []
        for key, env in keys:
            try:
                config.secret(key, env)
            except ConfigError as exc:
                problems.append(str(exc))
    summary = {
        "config": str(config.path),
        "network": s.network.name,
        "timezone": s.network.timezone,
        "database": url.split("@")[-1] if "@" in url else url,
        "platforms": list(s.platforms.run),
        "groups": sorted(config.enabled_groups()),
        "problems": problems,
    }
    if args.json:
        print_json(summary)
    else:
        print(f"{summary['config']}: network '{s.network.name}' ({s.network.timezone})")
        print(f"  database: {summary['database']}")
        print(f"  platforms: {', '.join(s.platforms.run)}; groups: {', '.join(summary['groups'])}")
        for p in problems:
            print(f"  problem: {p}")
        print("OK" if not problems else f"{len(problems)} problem(s)")
    if problems:
        raise ConfigError(problems[0])
    return 0
