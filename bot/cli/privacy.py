"""``peerbot privacy export|erase``: a person's data, for subject access and erasure."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bot.cli.common import add_config_arg, cli_actor, command, opened, print_json
from bot.errors import BadInput
from bot.models.messaging import AdminLog
from bot.privacy import ErasureOptions, erase_person, export_person
from bot.privacy.retention import apply_retention


def register(sub: argparse._SubParsersAction[Any]) -> None:
    priv = sub.add_parser("privacy", help="export or erase one person's data (UK GDPR)")
    psub = priv.add_subparsers(dest="privacy_command", metavar="ACTION")
    psub.required = True
    exp = psub.add_parser("export", help="everything held about a person, as readable JSON")
    add_config_arg(exp)
    exp.add_argument("email")
    where = exp.add_mutually_exclusive_group()
    where.add_argument("--out", metavar="FILE", help="write to FILE instead of printing")
    where.add_argument("--json", action="store_true", help="print the export document on stdout (the default)")
    exp.set_defaults(func=export_)
    era = psub.add_parser("erase", help="remove or anonymise everything held about a person")
    add_config_arg(era)
    era.add_argument("email")
    era.add_argument("--dry-run", action="store_true", help="say what would change, change nothing")
    era.add_argument("--json", action="store_true")
    era.set_defaults(func=erase_)
    ret = psub.add_parser("retention", help="remove what is past the retention periods in the config")
    add_config_arg(ret)
    ret.add_argument("--dry-run", action="store_true", help="say what would go, change nothing")
    ret.add_argument("--json", action="store_true")
    ret.set_defaults(func=retention_)


@command
async def export_(args: argparse.Namespace) -> int:
    out = Path(args.out) if args.out else None
    if out is not None and (out.is_dir() or not out.parent.exists()):
        raise BadInput(f"cannot write the export to {out}: no such folder, or it is a folder")
    async with opened(args) as bot, bot.db.session() as session:
        person, document = await export_person(session, bot.network_id, bot.config.network_name, args.email)
        session.add(
            AdminLog(
                network_id=bot.network_id,
                at=bot.clock.now(),
                actor=cli_actor(),
                action="privacy.export",
                subject=f"person #{person.id}",
            )
        )
        text = json.dumps(document, ensure_ascii=False, indent=2, default=str)
        if out is not None:
            try:
                out.write_text(text + "\n", encoding="utf-8")
            except OSError as exc:
                raise BadInput(f"cannot write the export to {out}: {exc.strerror}") from None
    if out is None:
        print_json(document)
    else:
        print(f"Wrote everything held about {args.email} to {out}.")
    return 0


@command
async def erase_(args: argparse.Namespace) -> int:
    async with opened(args) as bot:
        options = ErasureOptions(
            now=bot.clock.now(),
            keep_contributions=bot.config.settings.privacy.keep_answers_after_erasure,
            dry_run=args.dry_run,
        )
        async with bot.db.sessions() as session, session.begin() as tx:
            report = await erase_person(
                session, bot.network_id, args.email, options, on_left=lambda p: bot.person_left(session, p)
            )
            if args.dry_run:
                await tx.rollback()
            else:
                session.add(
                    AdminLog(
                        network_id=bot.network_id,
                        at=bot.clock.now(),
                        actor=cli_actor(),
                        action="privacy.erase",
                        subject=f"person #{report.person_id}",
                        detail=report.actions,
                    )
                )
    if args.json:
        print_json({"dry_run": args.dry_run, "person_id": report.person_id, "actions": report.actions})
    else:
        head = "Would erase" if args.dry_run else "Erased"
        print(f"{head} {args.email}:")
        for line in report.lines():
            print(f"  {line}")
    return 0


@command
async def retention_(args: argparse.Namespace) -> int:
    async with opened(args) as bot, bot.db.sessions() as session, session.begin() as tx:
        report = await apply_retention(session, bot.network_id, bot.clock.now(), bot.config.settings.privacy)
        if args.dry_run:
            await tx.rollback()
        elif report.removed:
            session.add(
                AdminLog(
                    network_id=bot.network_id,
                    at=bot.clock.now(),
                    actor=cli_actor(),
                    action="privacy.retention",
                    detail=report.removed,
                )
            )
    if args.json:
        print_json({"dry_run": args.dry_run, "removed": report.removed})
    else:
        print(("Would remove: " if args.dry_run else "Removed: ") + "; ".join(report.lines()))
    return 0
