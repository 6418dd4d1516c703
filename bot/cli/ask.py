"""``peerbot ask``: route a question exactly as the chat front end would, from the shell.

Without ``--dry-run`` the question is recorded as if its asker had typed ``ask ...`` to the
bot in a DM: the question, its referrals and the load they count are saved, and the
messages (the post in the group's channel, the peers' requests) are queued in the outbox
for the running bot (``peerbot run``) to deliver. The command itself sends nothing to any
platform. ``--dry-run`` and ``--batch`` record and queue nothing at all.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.app import PeerBot
from bot.cli.common import add_config_arg, command, opened, print_json
from bot.errors import BadInput
from bot.meetings.text import when_text
from bot.network import store
from bot.routing import flow
from bot.routing.flow import Sender, Submission

MAX_QUESTION = 4000


def register(sub: argparse._SubParsersAction[Any]) -> None:
    ask = sub.add_parser("ask", help="route a question as the chat would (prints who would be asked)")
    add_config_arg(ask)
    ask.add_argument("--as", dest="asker", metavar="EMAIL", help="who is asking (a person in the network)")
    ask.add_argument("--channel", metavar="GROUP", help="the role group it is asked in (heads, dsl, senco, ...)")
    ask.add_argument("--anonymous", action="store_true", help="ask without the asker's name")
    ask.add_argument("--dry-run", action="store_true", help="record nothing, queue nothing, count no load")
    ask.add_argument("--batch", metavar="FILE", help='JSON lines {"asker", "channel", "text"}: each a dry run')
    ask.add_argument("--json", action="store_true", help="print JSON (one line per question with --batch)")
    ask.add_argument("text", nargs="?", help="the question")
    ask.set_defaults(func=ask_)


def _check_text(text: str | None) -> str:
    if not text or not text.strip():
        raise BadInput('give the question, e.g. peerbot ask --as you@school.sch.uk "how do you run annual reviews?"')
    if len(text) > MAX_QUESTION:
        raise BadInput(f"the question is too long ({len(text):,} characters; at most {MAX_QUESTION:,})")
    return text.strip()


def _check_group(bot: PeerBot, group: str | None) -> str | None:
    if group is None:
        return None
    name = group.strip().lstrip("#").lower()
    groups = bot.config.enabled_groups()
    if name not in groups:
        raise BadInput(f"there is no group '{group}' (groups: {', '.join(sorted(groups))})")
    return name


async def _one(
    bot: PeerBot, asker_email: str, group: str | None, text: str, *, dry_run: bool, anonymous: bool = False
) -> Submission:
    async with bot.db.session() as session:
        asker = await store.person_by_email(session, bot.network_id, asker_email)
        if asker is None or not asker.active:
            raise BadInput(f"there is nobody with the email {asker_email} in the network")
        sender = Sender(bot, session)
        return await flow.ask(
            bot,
            session,
            sender,
            asker=asker,
            text=text,
            group=group,
            via="cli",
            platform="cli",
            anonymous=anonymous,
            hold_for_kb=False,
            dry_run=dry_run,
        )


@dataclass(frozen=True, slots=True)
class _Line:
    where: str  # FILE:LINE
    asker: str
    channel: str | None
    text: str


def _read_batch(path: str) -> list[_Line]:
    p = Path(path)
    try:
        raw = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise BadInput(f"batch file {p} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"cannot read batch file {p}: {exc}") from None
    out = []
    for n, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadInput(f"{p.name}:{n}: is not JSON ({exc.msg})") from None
        if not isinstance(item, dict):
            raise BadInput(f"{p.name}:{n}: should be an object with asker, channel and text")
        asker, text, channel = item.get("asker"), item.get("text"), item.get("channel")
        if not isinstance(asker, str) or not asker.strip():
            raise BadInput(f"{p.name}:{n}: needs an asker (an email)")
        if not isinstance(text, str) or not text.strip():
            raise BadInput(f"{p.name}:{n}: needs the question's text")
        if channel is not None and not isinstance(channel, str):
            raise BadInput(f"{p.name}:{n}: channel should be a group name")
        if len(text) > MAX_QUESTION:
            raise BadInput(f"{p.name}:{n}: the question is too long ({len(text):,} characters)")
        out.append(_Line(f"{p.name}:{n}", asker.strip().lower(), channel, text.strip()))
    return out


async def _check_batch(bot: PeerBot, lines: list[_Line]) -> list[tuple[_Line, str | None]]:
    """Every line's asker and group, checked before anything is routed or printed: a bad
    line is reported as FILE:LINE and the batch does nothing."""
    checked: list[tuple[_Line, str | None]] = []
    async with bot.db.session() as session:
        for line in lines:
            try:
                group = _check_group(bot, line.channel)
            except BadInput as exc:
                raise BadInput(f"{line.where}: {exc}") from None
            asker = await store.person_by_email(session, bot.network_id, line.asker)
            if asker is None or not asker.active:
                raise BadInput(f"{line.where}: there is nobody with the email {line.asker} in the network")
            checked.append((line, group))
    return checked


def _print_text(result: Submission, zone: ZoneInfo) -> None:
    if result.status == "held":
        print(f"Held: it {result.flags[0]['detail']}. Nothing was sent.")
        return
    if result.topics:
        print(f"About: {', '.join(result.topics)}")
    for s in result.kb:
        print(f"Knowledge base: {s.title} ({s.score:.2f})")
    plan = result.plan
    if not result.peers and plan is not None and plan.busy:
        n = f"{plan.busy} peer{'s' if plan.busy != 1 else ''}"
        later = f"; they will be asked on {when_text(plan.retry_at, zone)}" if plan.retry_at else ""
        print(f"The {n} who fit already have enough requests waiting, so nobody is asked now{later}.")
    elif not result.peers:
        print("Nobody in the network fits this question; nobody would be asked.")
    for p in result.peers:
        print(f"{p.score:.2f}  {p.name} <{p.email}>, {p.school} ({p.role}) — {p.why}")
    if result.question is not None:
        print(f"Recorded as question {result.question.id}; the running bot delivers the requests.")


@command
async def ask_(args: argparse.Namespace) -> int:
    async with opened(args) as bot:
        if args.batch:
            if args.text:
                raise BadInput("give either --batch FILE or a question, not both")
            for line, group in await _check_batch(bot, _read_batch(args.batch)):
                result = await _one(bot, line.asker, group, line.text, dry_run=True)
                if args.json:
                    print_json(result.to_json(), compact=True)
                else:
                    print(f"# {result.text}")  # without any pupil details it held
                    _print_text(result, bot.config.zone)
            sys.stdout.flush()
            return 0
        if not args.asker:
            raise BadInput("say who is asking with --as EMAIL")
        text = _check_text(args.text)
        group = _check_group(bot, args.channel)
        result = await _one(
            bot, args.asker.strip().lower(), group, text, dry_run=args.dry_run, anonymous=args.anonymous
        )
    if args.json:
        print_json(result.to_json())
    else:
        _print_text(result, bot.config.zone)
    return 0
