"""``peerbot network import|show``: the network's schools, people, audit and terms."""

from __future__ import annotations

import argparse
from typing import Any

from bot.cli.common import add_config_arg, cli_actor, command, opened, print_json
from bot.network import store
from bot.network.importer import import_network, read_source


def register(sub: argparse._SubParsersAction[Any]) -> None:
    net = sub.add_parser("network", help="import or show the network")
    nsub = net.add_subparsers(dest="network_command", metavar="ACTION")
    nsub.required = True
    imp = nsub.add_parser("import", help="import schools, people, audit and term dates (all or nothing)")
    add_config_arg(imp)
    imp.add_argument("--schools", metavar="FILE", help="schools.csv")
    imp.add_argument("--people", metavar="FILE", help="people.csv")
    imp.add_argument("--audit", metavar="FILE", help="audit.csv (the Partnership Audit)")
    imp.add_argument("--terms", metavar="FILE", help="terms.csv (half-term dates), or an .ics calendar of them")
    imp.add_argument("--json", action="store_true", help="print what changed as JSON")
    imp.set_defaults(func=import_)
    show = nsub.add_parser("show", help="list the network's schools and people")
    add_config_arg(show)
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=show_)


@command
async def import_(args: argparse.Namespace) -> int:
    sources = {
        "schools": read_source(args.schools, "schools"),
        "people": read_source(args.people, "people"),
        "audit": read_source(args.audit, "audit"),
        "terms": read_source(args.terms, "terms"),
    }
    async with opened(args) as bot, bot.db.session() as session:
        summary = await import_network(
            session,
            bot.network_id,
            now=bot.clock.now(),
            actor=cli_actor(),
            on_left=lambda person: bot.person_left(session, person),
            **sources,
        )
    if args.json:
        print_json(summary.to_json())
    else:
        print("Imported." if summary.changed else "Nothing changed: the network already matches these files.")
        for line in summary.lines():
            print(f"  {line}")
    return 0


async def network_document(bot: Any) -> dict[str, Any]:
    """The ``network show --json`` document (formats.md)."""
    async with bot.db.session() as session:
        schools = await store.schools(session, bot.network_id)
        people = await store.people(session, bot.network_id)
        return {
            "network": bot.config.network_name,
            "schools": [
                {
                    "name": s.name,
                    "phase": s.phase,
                    "type": s.type,
                    "trust": s.trust,
                    "locality": s.locality,
                    "urn": s.urn,
                    "pupils": s.pupils,
                }
                for s in schools
            ],
            "people": [
                {
                    "name": p.name,
                    "email": p.email,
                    "school": p.school.name,
                    "roles": p.roles,
                    "slack_id": p.slack_id,
                    "discord_id": p.discord_id,
                }
                for p in sorted(people, key=lambda p: (p.school.name_key, p.name.casefold(), p.email))
            ],
        }


@command
async def show_(args: argparse.Namespace) -> int:
    async with opened(args) as bot:
        doc = await network_document(bot)
    if args.json:
        print_json(doc)
        return 0
    print(f"{doc['network']}: {len(doc['schools'])} schools, {len(doc['people'])} people")
    for s in doc["schools"]:
        extra = ", ".join(str(v) for v in (s["type"], s["locality"]) if v)
        print(f"  {s['name']} ({s['phase']}{', ' + extra if extra else ''})")
        for p in doc["people"]:
            if p["school"] == s["name"]:
                print(f"    {p['name']} <{p['email']}> {', '.join(p['roles'])}")
    return 0
