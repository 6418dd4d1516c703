"""Routing speed on a large network: ``python -m bench.routing.bench [--sparse] [--postgres URL]``.

Generates 60 schools, 400 people, 1,500 audit strengths (from the labelled set's strengths,
varied) and a knowledge base of 20,000 entries (from the knowledge base's labelled set,
recombined), writes them to a fresh database in a separate process, then reports:

- start-up: opening the bot (which reads strengths, people, load and term dates) and
  building the knowledge-base index;
- ``ask_ms``: p50/p99 of routing one question in process — the whole path the chat front
  end runs, ``flow.ask`` (as a dry run): pupil-data check, knowledge-base suggestions
  through ``bot.knowledge.suggest``, matching, the people and their load, peer selection —
  inside the event's transaction (the front end has already found who is asking). Every
  question is read from cold (what is remembered of recent texts is cleared before each
  one: real questions never repeat), after a warm-up on other text (the knowledge base's
  labelled queries). ``ask_cpu_ms`` is the process's CPU time for the same questions (a
  wall-clock tail well above it is the machine being busy); ``event_with_its_transaction_ms``
  adds beginning the transaction, finding the asker and committing; ``match_only_ms`` is
  the matching alone, as a plan runs it (before the few peers chosen are explained);
- resident memory after start-up, and the process's peak; GC pauses over 1 ms;
- the naive baseline in the same run: rapidfuzz ``process.extract`` (WRatio) of the
  question over every strength and every entry's title, for each question; and, on a
  sample, over every strength and every entry's whole text.

The background tasks that look for other processes' changes ahead of the questions
(:mod:`bot.freshness`) run throughout, as in ``peerbot run``. (Its other background tasks —
delivery, the sweeper, housekeeping — do not: they write, and on SQLite questions asked
back to back, as here, would hold them off for the whole run.)

Questions with pupil data are left out of the timings (they stop before routing, so they
would flatter the figures). ``--sparse`` makes every question look at the database for
other processes' changes (as when questions are minutes apart; by default at most every
second, and two for the knowledge base). ``--postgres URL`` runs on a PostgreSQL schema of
its own (dropped afterwards).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gc
import io
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz, process
from sqlalchemy import insert, select, text

from bench.knowledge.bench import generate as generate_entries
from bench.routing.evaluate import DATA, load_questions
from bot import pupil_data
from bot.app import PeerBot
from bot.clock import FrozenClock
from bot.config import config_from_dict
from bot.db.engine import Database
from bot.models.network import Person
from bot.network.importer import import_network
from bot.network.parse import SourceFile
from bot.roles import in_group
from bot.routing import flow
from bot.routing.select import MIN_SCORE
from bot.routing.service import router_of
from bot.routing.strengths import StrengthIndex
from knowledge.evaluation import load as load_kb_set
from knowledge.models import KbEntry
from knowledge.service import KnowledgeBase
from knowledge.store import NewEntry, content_hash

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
PHASES = ["primary"] * 36 + ["secondary"] * 16 + ["special"] * 4 + ["alternative"] * 2 + ["all-through"] * 2
VARIANTS = [
    "{s}",
    "{s}, including staff training",
    "{s} across the trust",
    "Leading {l}",
    "{s} (shared with local schools)",
    "Developing {l} with governors",
    "{s}: coaching for middle leaders",
]
KB_ENTRIES = 20_000
FULLTEXT_SAMPLE = 24
FRESHNESS_TASKS = ("routing.freshness", "kb-freshness")


def _strengths() -> list[str]:
    out = []
    for row in csv.DictReader(io.StringIO((DATA / "audit.csv").read_text(encoding="utf-8"))):
        out += [s.split("[")[0].strip() for s in row["strengths"].split(";") if s.strip()]
    return out


def make_network(seed: int = 7, schools: int = 60, people: int = 400, strengths: int = 1500) -> dict[str, SourceFile]:
    rng = random.Random(seed)
    base = _strengths()
    roles = ["head", "deputy", "dsl", "senco", "sbm", "subject:maths", "ect-lead"]
    s_rows = [["name", "phase", "pupils"]]
    p_rows = [["name", "email", "school", "roles"]]
    a_rows = [["school", "strengths", "needs", "audited_by", "audited_on"]]
    per_school = [strengths // schools + (1 if i < strengths % schools else 0) for i in range(schools)]
    per_people = [people // schools + (1 if i < people % schools else 0) for i in range(schools)]
    for i in range(schools):
        name = f"School {i:02d}"
        s_rows.append([name, PHASES[i % len(PHASES)], str(rng.choice([105, 210, 420, 630, 950, 1400]))])
        for j in range(per_people[i]):
            role = roles[j] if j < len(roles) else rng.choice(roles[1:])
            p_rows.append([f"Person {i}-{j}", f"p{i}.{j}@school{i}.sch.uk", name, role])
        combos = rng.sample([(t, v) for t in base for v in VARIANTS], per_school[i])
        items = [v.format(s=t, l=t[0].lower() + t[1:]).replace(";", ",") for t, v in combos]
        audited = rng.random() < 0.7
        a_rows.append([name, ";".join(items), "", "LA adviser" if audited else "", "2026-03-01" if audited else ""])

    def as_file(name: str, rows: list[list[str]]) -> SourceFile:
        buf = io.StringIO()
        csv.writer(buf).writerows(rows)
        return SourceFile(name=name, data=buf.getvalue().encode())

    return {
        "schools": as_file("schools.csv", s_rows),
        "people": as_file("people.csv", p_rows),
        "audit": as_file("audit.csv", a_rows),
    }


def kb_rows(network_id: int, n: int, seed: int = 11) -> list[dict[str, Any]]:
    """``n`` entries as table rows, added and updated at times spread over the past year."""
    rng = random.Random(seed)
    rows = []
    for e in generate_entries(n):
        new = NewEntry(kind=e.kind, title=e.title, text=e.text, group=e.group, tags=e.tags, review_on=e.review_on)
        added = NOW - timedelta(days=rng.uniform(1, 365))
        rows.append(
            {
                "network_id": network_id,
                "kind": e.kind,
                "title": e.title,
                "text": e.text,
                "group": e.group,
                "tags": list(e.tags),
                "source": "bench",
                "added_by": "bench",
                "revision": 1,
                "review_on": e.review_on or (added + timedelta(days=365)).date(),
                "review_interval_days": 365,
                "status": "active",
                "content_hash": content_hash(new),
                "created_at": added,
                "updated_at": added,
            }
        )
    return rows


def config_for(url: str, *, sparse: bool = False) -> Any:
    data: dict[str, Any] = {"network": {"name": "Bench"}, "database": {"url": url}}
    if sparse:  # every question looks at the database, as when questions are minutes apart
        data["routing"] = {"index_check_seconds": 0}
        data["knowledge"] = {"refresh_seconds": 0}
    return config_from_dict(data)


async def open_bot(url: str, schema: str | None, *, sparse: bool = False) -> PeerBot:
    config = config_for(url, sparse=sparse)
    db = Database(config.database_url(), schema=schema) if schema else None
    return await PeerBot.open(config, db=db, clock=FrozenClock(NOW), platforms=["console"], migrate=True)


async def make_database(url: str, schema: str | None, entries: int) -> None:
    """The generated network and knowledge base, written once (run in its own process)."""
    if schema:
        db = Database(url)
        async with db.engine.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await db.dispose()
    bot = await open_bot(url, schema)
    try:
        async with bot.db.session() as session:
            await import_network(session, bot.network_id, now=NOW, **make_network())
        rows = kb_rows(bot.network_id, entries)
        for start in range(0, len(rows), 2000):
            async with bot.db.session() as session:
                await session.execute(insert(KbEntry), rows[start : start + 2000])
    finally:
        await bot.close()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms(values: list[float]) -> dict[str, float]:
    return {"p50": round(pct(values, 0.5) * 1e3, 3), "p99": round(pct(values, 0.99) * 1e3, 3)}


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def forget_analyses(bot: PeerBot, index: StrengthIndex) -> None:
    """Clear what is remembered of recent texts, so that each question is read from cold."""
    router_of(bot).matcher.forget()
    index.items.forget()


async def bench(url: str, schema: str | None, rounds: int, *, sparse: bool = False) -> dict[str, Any]:
    questions = [q for q in load_questions() if not pupil_data.check(q["text"], today=NOW.date()).found]
    rss_before = rss_mb()
    t0 = time.perf_counter()
    bot = await open_bot(url, schema, sparse=sparse)
    router = router_of(bot)
    async with bot.db.session() as session:
        index = await router.strengths(session)
    t_strengths = time.perf_counter() - t0
    kb = bot.service(KnowledgeBase)
    async with bot.db.session() as session:
        await kb.refresh(session)
    startup = time.perf_counter() - t0
    bot.settle()  # as ``peerbot run`` does once it has started
    bot.start_background(only=FRESHNESS_TASKS)  # looking for changes ahead of the questions, as there
    rss_started = rss_mb()
    try:
        async with bot.db.session() as session:
            q = select(Person).where(Person.network_id == bot.network_id)
            people = list((await session.execute(q)).unique().scalars())
        groups = bot.config.enabled_groups()
        askers = {name: [p for p in people if in_group(p.roles, g.roles)] for name, g in groups.items()}
        full: list[float] = []
        cpu: list[float] = []  # CPU time of the process (all threads) for the same questions
        event: list[float] = []
        match_only: list[float] = []
        suggestions = peers = 0
        gc_pauses: list[float] = []
        gc_started: list[float] = []

        def on_gc(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                gc_started[:] = [time.perf_counter()]
            elif gc_started:
                gc_pauses.append(time.perf_counter() - gc_started[0])

        # Warm up on other text (the knowledge base's labelled queries): the allocator and the
        # search's scratch arrays reach their working size, as in a bot that has been running.
        _, kb_queries = load_kb_set()
        for i, kq in enumerate(kb_queries):
            async with bot.db.session() as session:
                asker = await session.get(Person, askers["heads"][i % len(askers["heads"])].id)
                assert asker is not None
                await flow.ask(bot, session, None, asker=asker, text=kq.query, group="heads", via="cli",
                               platform="console", dry_run=True)  # fmt: skip
        gc.callbacks.append(on_gc)
        slowest: list[tuple[float, str]] = []
        for r in range(rounds):
            for i, q in enumerate(questions):
                group = q.get("channel") or "heads"
                asker_id = askers[group][(i * 7 + r) % len(askers[group])].id
                forget_analyses(bot, index)
                t0 = time.perf_counter()
                async with bot.db.session() as session:
                    # The chat front end has found who is asking, in the event's transaction.
                    asker = await session.get(Person, asker_id)
                    assert asker is not None
                    t, c = time.perf_counter(), time.process_time()
                    result = await flow.ask(
                        bot, session, None, asker=asker, text=q["text"], group=group, via="cli",
                        platform="console", dry_run=True,
                    )  # fmt: skip
                    full.append(time.perf_counter() - t)
                    cpu.append(time.process_time() - c)
                    slowest.append((full[-1], q["text"]))
                event.append(time.perf_counter() - t0)
                suggestions += len(result.kb)
                peers += len(result.peers)
                forget_analyses(bot, index)
                t = time.perf_counter()
                # the matching as a plan runs it (the few peers chosen are explained afterwards)
                index.items.search(q["text"], limit=400, min_score=MIN_SCORE * 0.8, explain=False)
                match_only.append(time.perf_counter() - t)
        strengths = [s.text for s in index.strengths.values()]
        async with bot.db.session() as session:
            entries = (await session.execute(select(KbEntry.title, KbEntry.text).order_by(KbEntry.id))).all()
        titles = strengths + [title for title, _ in entries]
        whole = strengths + [f"{title}\n{body}" for title, body in entries]
        baseline: list[float] = []
        for q in questions:
            t = time.perf_counter()
            process.extract(q["text"], titles, scorer=fuzz.WRatio, limit=3)
            baseline.append(time.perf_counter() - t)
        baseline_whole: list[float] = []
        for q in questions[:: max(1, len(questions) // FULLTEXT_SAMPLE)][:FULLTEXT_SAMPLE]:
            t = time.perf_counter()
            process.extract(q["text"], whole, scorer=fuzz.WRatio, limit=3)
            baseline_whole.append(time.perf_counter() - t)
    finally:
        if on_gc in gc.callbacks:
            gc.callbacks.remove(on_gc)
        await bot.close()
    p99_full, p99_base = pct(full, 0.99), pct(baseline, 0.99)
    return {
        "database": bot.db.dialect,
        "checks": "every question looks at the database" if sparse else "defaults (look at most every 1 s / 2 s)",
        "network": {"schools": 60, "people": len(people), "strengths": len(strengths), "kb_entries": len(entries)},
        "questions_timed": len(full),
        "kb_suggestions_made": suggestions,
        "peers_suggested": peers,
        "startup_s": {"total": round(startup, 3), "bot_and_strengths": round(t_strengths, 3)},
        "ask_ms": ms(full),
        "ask_mean_ms": round(statistics.mean(full) * 1e3, 3),
        "ask_cpu_ms": ms(cpu),
        "event_with_its_transaction_ms": ms(event),
        "slowest_ms": [f"{t * 1e3:.2f} {text[:60]}" for t, text in sorted(slowest, reverse=True)[:6]],
        "gc_pauses_over_1ms": sorted(round(p * 1e3, 1) for p in gc_pauses if p > 1e-3),
        "match_only_ms": ms(match_only),
        "baseline_extract_strengths_and_titles_ms": ms(baseline),
        "baseline_extract_strengths_and_whole_entries_ms": {**ms(baseline_whole), "sample": len(baseline_whole)},
        "p99_speedup_vs_baseline": round(p99_base / p99_full, 1),
        "p99_under_slack_3s_by": round(3.0 / p99_full),
        "rss_mb": {
            "before_start": round(rss_before, 1),
            "after_start": round(rss_started, 1),
            "peak": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        },
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="routing latency, start-up and memory on a large network")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the labelled questions (default 3)")
    parser.add_argument("--entries", type=int, default=KB_ENTRIES, help="knowledge-base entries (default 20,000)")
    parser.add_argument("--postgres", metavar="URL", help="run on a fresh schema of this PostgreSQL database")
    parser.add_argument(
        "--sparse",
        action="store_true",
        help="check for other processes' changes before every question (as when questions are minutes apart)",
    )
    parser.add_argument("--make-db", nargs=2, metavar=("URL", "SCHEMA"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.make_db:
        url, schema = args.make_db
        asyncio.run(make_database(url, schema or None, args.entries))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        url = args.postgres or f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        schema = f"bench_routing_{uuid.uuid4().hex[:8]}" if args.postgres else ""
        # Setting up runs in its own process, so that the figures below are the bot's own.
        cmd = [sys.executable, "-m", "bench.routing.bench", "--entries", str(args.entries), "--make-db", url, schema]
        subprocess.run(cmd, check=True)
        try:
            report = asyncio.run(bench(url, schema or None, args.rounds, sparse=args.sparse))
        finally:
            if schema:
                asyncio.run(drop_schema(url, schema))
    print(json.dumps(report, indent=2))
    return 0


async def drop_schema(url: str, schema: str) -> None:
    db = Database(url)
    try:
        async with db.engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        await db.dispose()


if __name__ == "__main__":
    raise SystemExit(main())
