"""``peerbot audit analysis``: the Audit Analysis, as text, JSON, CSV or XLSX."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bot.audit.analysis import analyse
from bot.audit.export import write_csv, write_xlsx
from bot.audit.plan import action_from_need
from bot.cli.common import add_config_arg, cli_actor, command, opened, print_json, row_id
from bot.errors import BadInput
from bot.models.messaging import AdminLog
from bot.network import store
from bot.network.csvfile import parse_date


def register(sub: argparse._SubParsersAction[Any]) -> None:
    audit = sub.add_parser("audit", help="the Partnership Audit's analysis")
    asub = audit.add_subparsers(dest="audit_command", metavar="ACTION")
    asub.required = True
    an = asub.add_parser(
        "analysis", help="each need with the providers of support that match it; gaps; unused strengths"
    )
    add_config_arg(an)
    out = an.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true")
    out.add_argument("--csv", metavar="FILE", help="write the analysis as CSV (UTF-8, opens in Excel)")
    out.add_argument("--xlsx", metavar="FILE", help="write a printable workbook: analysis, gaps, unused strengths")
    an.set_defaults(func=analysis_)
    plan = asub.add_parser("plan", help="turn a need from the analysis into an action on the Partnership Action Plan")
    add_config_arg(plan)
    plan.add_argument("--need", type=row_id, required=True, metavar="ID", help="the need's id (analysis --json)")
    plan.add_argument("--provider", metavar="SCHOOL", help="which provider (default: the best)")
    plan.add_argument("--owner", metavar="EMAIL", help="who carries it (default: the provider's contact)")
    plan.add_argument("--review", metavar="YYYY-MM-DD", help="review date (default: the end of the half-term)")
    plan.add_argument("--action", metavar="TEXT", help="what will be done (default: the provider's support)")
    plan.add_argument("--notes", default="", metavar="TEXT")
    plan.add_argument("--json", action="store_true")
    plan.set_defaults(func=plan_)


@command
async def analysis_(args: argparse.Namespace) -> int:
    async with opened(args) as bot, bot.db.session() as session:
        result = await analyse(session, bot.network_id)
    if args.json:
        print_json(result.to_json())
    elif args.csv:
        write_csv(result.sheets()[0], Path(args.csv))
        print(f"Wrote the Audit Analysis ({len(result.needs)} needs) to {args.csv}.")
    elif args.xlsx:
        write_xlsx(result.sheets(), Path(args.xlsx))
        print(f"Wrote the Audit Analysis ({len(result.needs)} needs, {len(result.gaps)} gaps) to {args.xlsx}.")
    else:
        for n in result.needs:
            print(f"{n.school}: {n.need}")
            for p in n.providers:
                print(f"    ← {p.school}: {p.strength}  [{p.score:.2f}; {p.why}]")
            if not n.providers:
                print("    (gap: no provider in the network)")
        if result.unused_strengths:
            print("Strengths not yet needed:")
            for school, strength in result.unused_strengths:
                print(f"    {school}: {strength}")
    return 0


@command
async def plan_(args: argparse.Namespace) -> int:
    async with opened(args) as bot, bot.db.session() as session:
        owner = None
        if args.owner:
            owner = await store.person_by_email(session, bot.network_id, args.owner)
            if owner is None or not owner.active:
                raise BadInput(f"nobody in the network has the email {args.owner}")
        review = None
        if args.review:
            try:
                review = parse_date(args.review)
            except ValueError as exc:
                raise BadInput(f"--review: {exc}") from None
        row = await action_from_need(
            session,
            bot,
            item_id=args.need,
            now=bot.clock.now(),
            provider_school=args.provider,
            owner=owner,
            review_on=review,
            action=args.action,
            notes=args.notes,
        )
        session.add(
            AdminLog(
                network_id=bot.network_id,
                at=bot.clock.now(),
                actor=cli_actor(),
                action="action.add",
                subject=str(row.id),
                detail={"source": "audit"},
            )
        )
        doc = {
            "id": row.id,
            "aim": row.aim,
            "action": row.action,
            "owner": row.owner.email if row.owner else None,
            "review_on": row.review_on.isoformat(),
        }
    if args.json:
        print_json(doc)
    else:
        print(f"Added action {doc['id']}: {doc['action']} ({doc['owner']}, review {doc['review_on']}).")
    return 0
