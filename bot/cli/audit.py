"""``peerbot audit analysis``: the Audit Analysis, as text, JSON, CSV or XLSX."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bot.audit.analysis import analyse
from bot.audit.export import write_csv, write_xlsx
from bot.cli.common import add_config_arg, command, opened, print_json


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
