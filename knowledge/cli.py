"""``peerbot kb ...``: add, import, search, and keep the knowledge base current (formats.md)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from bot.app import PeerBot
from bot.cli.common import add_config_arg, command, opened, print_json
from bot.errors import BadInput, ImportProblems
from bot.models.network import Person
from bot.network import store as network_store
from knowledge import store
from knowledge.handlers import kb_of
from knowledge.ingest import SUPPORTED, UnreadableFile, read_path
from knowledge.models import KINDS, KbEntry

MAX_LIMIT = 100
MAX_JSONL_LINE = 2_000_000


def register(sub: argparse._SubParsersAction[Any]) -> None:
    kb = sub.add_parser("kb", help="the knowledge base: add, import, search, review")
    ksub = kb.add_subparsers(dest="kb_command", metavar="ACTION")
    ksub.required = True

    add = ksub.add_parser("add", help="add one entry from text or a file")
    add_config_arg(add)
    add.add_argument("--title", help="the entry's title (default: the file's own title)")
    add.add_argument("--kind", required=True, choices=KINDS)
    add.add_argument("--school", help="the school it comes from (its name, or part of it)")
    add.add_argument("--tags", help="tags separated by ';'")
    add.add_argument("--ref", help="an outside identifier, returned in search results")
    add.add_argument("--group", help="only this role group may see it (e.g. dsl)")
    add.add_argument("--owner", metavar="EMAIL", help="who is reminded to review it (default: the school's head)")
    source = add.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", help="the entry's text")
    source.add_argument("--file", metavar="PATH", help="a Markdown, text, Word (.docx) or PDF file")
    add.add_argument("--json", action="store_true")
    add.set_defaults(func=add_)

    imp = ksub.add_parser("import", help="import every Markdown, text, Word and PDF file in a folder")
    add_config_arg(imp)
    imp.add_argument("dir", metavar="DIR")
    imp.add_argument("--kind", choices=KINDS, help="what the files are (default: policies when they look like one)")
    imp.add_argument("--school", help="the school they come from")
    imp.add_argument("--group", help="only this role group may see them")
    imp.add_argument("--json", action="store_true")
    imp.set_defaults(func=import_)

    jl = ksub.add_parser("import-jsonl", help="add entries from JSON lines (all or nothing)")
    add_config_arg(jl)
    jl.add_argument("file", metavar="FILE")
    jl.add_argument("--json", action="store_true")
    jl.set_defaults(func=import_jsonl)

    search = ksub.add_parser("search", help="search the knowledge base")
    add_config_arg(search)
    search.add_argument("query", nargs="?", help="what to look for")
    search.add_argument("--json", action="store_true")
    search.add_argument("--limit", type=int, default=10, help=f"how many results (1-{MAX_LIMIT}, default 10)")
    search.add_argument("--batch", metavar="FILE", help='one query a line, {"query": "..."}; one output a line')
    search.add_argument("--as", dest="as_email", metavar="EMAIL", help="search as this person (their groups only)")
    search.set_defaults(func=search_)

    due = ksub.add_parser("due", help="entries due (or overdue) for review")
    add_config_arg(due)
    due.add_argument("--within", metavar="DAYS", type=int, help="look this many days ahead (default: nudges)")
    due.add_argument("--json", action="store_true")
    due.set_defaults(func=due_)

    stats = ksub.add_parser("stats", help="how current the knowledge base is")
    add_config_arg(stats)
    stats.add_argument("--json", action="store_true")
    stats.set_defaults(func=stats_)


def _check_group(bot: PeerBot, group: str | None) -> str | None:
    if group is None:
        return None
    if group not in bot.config.enabled_groups():
        raise BadInput(f"there is no group '{group}' (groups: {', '.join(sorted(bot.config.enabled_groups()))})")
    return group


async def _owner(session: Any, bot: PeerBot, email: str | None, school: Any) -> Person | None:
    if email:
        person = await network_store.person_by_email(session, bot.network_id, email)
        if person is None:
            raise BadInput(f"nobody in the network has the email {email}")
        return person
    return await store.default_owner(session, bot.network_id, school)


@command
async def add_(args: argparse.Namespace) -> int:
    doc = None
    if args.file:
        doc = read_path(Path(args.file))
    async with opened(args) as bot, bot.db.session() as session:
        group = _check_group(bot, args.group)
        school = await store.school_by_name(session, bot.network_id, args.school)
        owner = await _owner(session, bot, args.owner, school)
        kb = kb_of(bot)
        new = store.NewEntry(
            kind=args.kind,
            title=args.title or (doc.best_title if doc else ""),
            text=doc.text if doc else args.text,
            school_id=school.id if school else None,
            group=group,
            tags=store.parse_tags(args.tags),
            ref=args.ref,
            source=Path(args.file).name if args.file else "cli",
            version=doc.version if doc else None,
            adopted_on=doc.adopted_on if doc else None,
            review_on=doc.review_on if doc else None,
        )
        entry, outcome = await store.save(
            session,
            bot.network_id,
            new,
            now=bot.clock.now(),
            today=kb.today(),
            settings=bot.config.settings.knowledge,
            owner=owner,
            actor="cli",
        )
        summary = _entry_json(entry, outcome)
    if args.json:
        print_json(summary)
    else:
        print(f"{outcome.capitalize()} #{summary['id']}: {summary['title']} ({summary['kind']})")
    return 0


def _entry_json(entry: KbEntry, outcome: str) -> dict[str, Any]:
    return {
        "id": entry.id,
        "outcome": outcome,
        "title": entry.title,
        "kind": entry.kind,
        "ref": entry.ref,
        "review_on": entry.review_on.isoformat() if entry.review_on else None,
    }


@command
async def import_(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    folder = Path(args.dir)
    files = _list_folder(folder)
    readable = [p for p in files if p.suffix.lower() in SUPPORTED]
    skipped = [p for p in files if p.suffix.lower() not in SUPPORTED]
    results: list[dict[str, Any]] = []
    problems: list[str] = []
    async with opened(args) as bot:
        group = _check_group(bot, args.group)
        kb = kb_of(bot)
        async with bot.db.session() as session:
            school = await store.school_by_name(session, bot.network_id, args.school)
            owner = await _owner(session, bot, None, school)
            school_id, owner_id = (school.id if school else None), (owner.id if owner else None)
        progress = Progress(
            TextColumn("[bold]Importing"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[name]}"),
            TimeRemainingColumn(),
            console=_stderr_console(),
            transient=True,
        )
        with progress:
            task = progress.add_task("import", total=len(readable), name="")
            for path in readable:
                rel = path.relative_to(folder).as_posix()
                progress.update(task, name=rel[-40:])
                try:
                    doc = read_path(path, max_bytes=bot.config.settings.knowledge.max_file_bytes)
                except UnreadableFile as exc:
                    problems.append(f"{rel}: {exc.reason}")
                    progress.advance(task)
                    continue
                kind = args.kind or ("policy" if doc.review_on or "policy" in doc.best_title.lower() else "resource")
                new = store.NewEntry(
                    kind=kind,
                    title=doc.best_title,
                    text=doc.text,
                    school_id=school_id,
                    group=group,
                    ref=f"file:{rel}"[: store.MAX_REF_CHARS],
                    source=rel[:300],
                    version=doc.version,
                    adopted_on=doc.adopted_on,
                    review_on=doc.review_on,
                )
                async with bot.db.session() as session:
                    owner_row = await session.get(Person, owner_id) if owner_id else None
                    try:
                        entry, outcome = await store.save(
                            session,
                            bot.network_id,
                            new,
                            now=bot.clock.now(),
                            today=kb.today(),
                            settings=bot.config.settings.knowledge,
                            owner=owner_row,
                            actor="import",
                        )
                    except BadInput as exc:
                        problems.append(f"{rel}: {exc}")
                        progress.advance(task)
                        continue
                    results.append({**_entry_json(entry, outcome), "file": rel})
                progress.advance(task)
    summary = {
        "added": sum(r["outcome"] == "added" for r in results),
        "updated": sum(r["outcome"] == "updated" for r in results),
        "unchanged": sum(r["outcome"] == "unchanged" for r in results),
        "problems": problems,
        "skipped": [p.relative_to(folder).as_posix() for p in skipped],
        "entries": results,
    }
    if args.json:
        print_json(summary)
    else:
        print(
            f"Imported {len(results)} of {len(readable)} files: {summary['added']} added, "
            f"{summary['updated']} updated, {summary['unchanged']} unchanged."
        )
        for p in problems:
            print(f"  not imported: {p}")
        if skipped:
            print(f"  skipped {len(skipped)} file(s) of other types (e.g. {skipped[0].name})")
    if problems and not results:
        return 2
    return 0


def _list_folder(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise BadInput(f"{folder} is not a folder")
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def _read_bytes(name: str) -> bytes:
    try:
        return Path(name).read_bytes()
    except OSError as exc:
        raise BadInput(f"cannot read {name}: {exc.strerror}") from None


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def parse_jsonl_line(name: str, number: int, line: str) -> dict[str, Any]:
    """One ``kb import-jsonl`` line, checked: ``{"ref","kind","school","title","text","tags"}``."""
    where = f"{name}:{number}"
    if len(line) > MAX_JSONL_LINE:
        raise BadInput(f"{where}: the line is too long ({len(line):,} characters)")
    try:
        doc = json.loads(line)
    except json.JSONDecodeError as exc:
        raise BadInput(f"{where}: not valid JSON ({exc.msg})") from None
    if not isinstance(doc, dict):
        raise BadInput(f"{where}: each line should be a JSON object")
    unknown = set(doc) - {"ref", "kind", "school", "title", "text", "tags", "group", "version", "review_on"}
    if unknown:
        raise BadInput(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    for key in ("kind", "title", "text"):
        if not isinstance(doc.get(key), str) or not doc[key].strip():
            raise BadInput(f"{where}: '{key}' is required and must be text")
    for key in ("ref", "school", "group", "version", "review_on"):
        if doc.get(key) is not None and not isinstance(doc[key], str):
            raise BadInput(f"{where}: '{key}' must be text")
    tags = doc.get("tags")
    if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
        raise BadInput(f"{where}: 'tags' must be a list of text")
    return doc


@command
async def import_jsonl(args: argparse.Namespace) -> int:
    from datetime import date

    path = Path(args.file)
    raw = _read_bytes(args.file)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadInput(f"{path.name}: is not UTF-8 text") from None
    problems: list[str] = []
    docs: list[tuple[int, dict[str, Any]]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            docs.append((number, parse_jsonl_line(path.name, number, line)))
        except BadInput as exc:
            problems.append(str(exc))
    if problems:
        raise ImportProblems(problems)
    if not docs:
        raise BadInput(f"{path.name}: has no entries")
    counts = {"added": 0, "updated": 0, "unchanged": 0}
    async with opened(args) as bot, bot.db.session() as session:
        kb = kb_of(bot)
        schools = {s.name_key: s for s in await network_store.schools(session, bot.network_id)}
        people = await network_store.people(session, bot.network_id)
        prepared: list[tuple[store.NewEntry, Person | None]] = []
        for number, doc in docs:
            where = f"{path.name}:{number}"
            school = None
            if doc.get("school"):
                from bot.models.network import name_key

                school = schools.get(name_key(doc["school"]))
            review_on = None
            if doc.get("review_on"):
                try:
                    review_on = date.fromisoformat(doc["review_on"])
                except ValueError:
                    problems.append(f"{where}: review_on should be a date like 2027-09-01")
                    continue
            try:
                group = _check_group(bot, doc.get("group"))
                new = store.check(
                    store.NewEntry(
                        kind=doc["kind"],
                        title=doc["title"],
                        text=doc["text"],
                        school_id=school.id if school else None,
                        school_name=None if school else doc.get("school"),
                        group=group,
                        tags=store.parse_tags(doc.get("tags")),
                        ref=doc.get("ref"),
                        source=path.name,
                        version=doc.get("version"),
                        review_on=review_on,
                    ),
                    today=kb.today(),
                )
            except BadInput as exc:
                problems.append(f"{where}: {exc}")
                continue
            owner = None
            if school is not None:
                from bot.network.owners import carriers

                found = carriers(None, [p for p in people if p.school_id == school.id])
                owner = found[0] if found else None
            prepared.append((new, owner))
        if problems:
            raise ImportProblems(problems)
        for new, owner in prepared:
            _, outcome = await store.save(
                session,
                bot.network_id,
                replace(new),
                now=bot.clock.now(),
                today=kb.today(),
                settings=bot.config.settings.knowledge,
                owner=owner,
                actor="import",
            )
            counts[outcome] += 1
    if args.json:
        print_json(counts)
    else:
        print(f"{counts['added']} added, {counts['updated']} updated, {counts['unchanged']} unchanged.")
    return 0


async def _searcher_groups(session: Any, bot: PeerBot, email: str | None) -> list[str] | None:
    if email is None:
        return None  # the command line is the convenor's: it sees every entry
    person = await network_store.person_by_email(session, bot.network_id, email)
    if person is None:
        raise BadInput(f"nobody in the network has the email {email}")
    from bot.roles import in_group

    return [n for n, g in bot.config.enabled_groups().items() if in_group(person.roles, g.roles)]


@command
async def search_(args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= MAX_LIMIT:
        raise BadInput(f"--limit must be between 1 and {MAX_LIMIT}")
    if args.batch and args.query:
        raise BadInput("give either a query or --batch FILE, not both")
    if not args.batch and args.query is None:
        raise BadInput('what should I search for? e.g. peerbot kb search "attendance policy"')
    queries: list[str | BadInput] = []
    if args.batch:
        try:
            lines = _read_bytes(args.batch).decode("utf-8-sig").splitlines()
        except UnicodeDecodeError:
            raise BadInput(f"{args.batch}: is not UTF-8 text") from None
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
            except json.JSONDecodeError:
                queries.append(BadInput(f"line {number}: not valid JSON"))
                continue
            if not isinstance(doc, dict) or not isinstance(doc.get("query"), str):
                queries.append(BadInput(f'line {number}: expected {{"query": "..."}}'))
                continue
            queries.append(doc["query"])
    else:
        queries.append(args.query)
    async with opened(args) as bot, bot.db.session() as session:
        groups = await _searcher_groups(session, bot, args.as_email)
        kb = kb_of(bot)
        outputs: list[dict[str, Any]] = []
        for q in queries:
            if isinstance(q, BadInput):
                outputs.append({"results": [], "error": str(q)})
                continue
            page = await kb.search(session, q, groups=groups, limit=args.limit)
            outputs.append({"results": [r.to_json() for r in page.results]})
    if args.batch:
        for out in outputs:
            print_json(out, compact=True)
        return 0
    if args.json:
        print_json(outputs[0])
        return 0
    results = outputs[0]["results"]
    if not results:
        print("Nothing found.")
    for r in results:
        school = f", {r['school']}" if r["school"] else ""
        flag = " [review overdue]" if r.get("expired") else ""
        print(f"#{r['id']}  {r['score']:.2f}  {r['title']} ({r['kind']}{school}){flag}")
        if r["snippet"]:
            print(f"      {r['snippet']}")
    return 0


@command
async def due_(args: argparse.Namespace) -> int:
    from datetime import timedelta

    async with opened(args) as bot, bot.db.session() as session:
        kb = kb_of(bot)
        today = kb.today()
        ahead = timedelta(days=args.within) if args.within is not None else bot.config.settings.nudges.kb_review_before
        entries = await store.due(session, bot.network_id, until=today + ahead)
        people = {p.id: p for p in await network_store.people(session, bot.network_id, active_only=False)}
        schools = {s.id: s.name for s in await network_store.schools(session, bot.network_id, active_only=False)}
        doc = {
            "entries": [
                {
                    "id": e.id,
                    "title": e.title,
                    "kind": e.kind,
                    "school": schools.get(e.school_id) if e.school_id else e.school_name,
                    "owner": people[e.owner_id].email if e.owner_id in people else None,
                    "review_on": e.review_on.isoformat() if e.review_on else None,
                    "overdue": bool(e.review_on and e.review_on < today),
                }
                for e in entries
            ]
        }
    if args.json:
        print_json(doc)
        return 0
    if not doc["entries"]:
        print("Nothing is due for review.")
    for e in doc["entries"]:
        state = "OVERDUE" if e["overdue"] else "due"
        print(f"#{e['id']}  {state} {e['review_on']}  {e['title']} ({e['kind']}) — {e['owner'] or 'no owner'}")
    return 0


@command
async def stats_(args: argparse.Namespace) -> int:
    async with opened(args) as bot, bot.db.session() as session:
        kb = kb_of(bot)
        s = await store.stats(
            session, bot.network_id, today=kb.today(), soon=bot.config.settings.nudges.kb_review_before
        )
    if args.json:
        print_json(s.to_json())
        return 0
    kinds = ", ".join(f"{n} {k}{'s' if n != 1 else ''}" for k, n in s.by_kind.items())
    print(f"{s.active} active entries ({kinds}); {s.retired} retired.")
    print(
        f"Within their review date: {s.current} ({s.current_share:.0%}); overdue: {s.overdue}; due soon: {s.due_soon}."
    )
    print(f"Confirmed or updated at least once: {s.confirmed}; without an owner: {s.without_owner}.")
    sys.stdout.flush()
    return 0
