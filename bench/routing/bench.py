"""Routing speed on a large network: ``python -m bench.routing.bench``.

Generates 60 schools, 400 people and 1,500 audit strengths (from the labelled set's
strengths, varied), imports them into a fresh SQLite database, and reports:

- start-up: opening the bot and building the strength index;
- p50/p99 of routing one question in process (``Router.plan``: matching, people, load),
  and of the matching alone;
- resident memory (peak RSS);
- the naive baseline in the same run: rapidfuzz ``process.extract`` of the question over
  every strength (and every knowledge-base entry, when a knowledge service is installed).

When ``bot.knowledge`` is installed (the knowledge base's branch) it is fed 20,000 entries
if it offers ``import_entries`` and its ``suggest`` is timed as part of routing; without one
the numbers are routing-only, and say so.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import random
import resource
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz, process

from bench.routing.evaluate import DATA, load_questions
from bot.app import PeerBot
from bot.clock import FrozenClock
from bot.config import config_from_dict
from bot.network import store
from bot.network.importer import import_network
from bot.network.parse import SourceFile
from bot.routing.service import router_of

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


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def bench(rounds: int) -> dict[str, Any]:
    questions = [q["text"] for q in load_questions()]
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        config = config_from_dict({"network": {"name": "Bench"}, "database": {"url": url}})
        setup = await PeerBot.open(config, clock=FrozenClock(NOW), platforms=["console"])
        async with setup.db.session() as session:
            await import_network(session, setup.network_id, now=NOW, **make_network())
        await setup.close()

        t0 = time.perf_counter()
        bot = await PeerBot.open(config, clock=FrozenClock(NOW), platforms=["console"])
        router = router_of(bot)
        async with bot.db.session() as session:
            index = await router.cache.get(session)
        startup = time.perf_counter() - t0
        texts = [s.text for s in index.strengths.values()]
        kb_note = "routing only (no knowledge service installed on this branch)"
        if bot.knowledge is not None:
            kb_note = "routing with bot.knowledge.suggest"
        try:
            async with bot.db.session() as session:
                asker = (await store.people(session, bot.network_id))[0]
                full: list[float] = []
                match_only: list[float] = []
                kb_times: list[float] = []
                for _ in range(rounds):
                    for text in questions:
                        t = time.perf_counter()
                        index.items.search(text, limit=400)
                        match_only.append(time.perf_counter() - t)
                        t = time.perf_counter()
                        await router.plan(session, asker=asker, text=text, group="heads", when=NOW)
                        if bot.knowledge is not None:
                            tk = time.perf_counter()
                            await bot.knowledge.suggest(session, text, groups=["heads"], limit=3)
                            kb_times.append(time.perf_counter() - tk)
                        full.append(time.perf_counter() - t)
            baseline: list[float] = []
            for text in questions:
                t = time.perf_counter()
                process.extract(text, texts, scorer=fuzz.WRatio, limit=3)
                baseline.append(time.perf_counter() - t)
        finally:
            await bot.close()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    p99_full, p99_base = pct(full, 0.99), pct(baseline, 0.99)
    return {
        "network": {"schools": 60, "people": 400, "strengths": len(texts)},
        "questions": len(questions) * rounds,
        "note": kb_note,
        "startup_s": round(startup, 3),
        "route_ms": {"p50": round(pct(full, 0.5) * 1e3, 2), "p99": round(p99_full * 1e3, 2)},
        "match_only_ms": {"p50": round(pct(match_only, 0.5) * 1e3, 2), "p99": round(pct(match_only, 0.99) * 1e3, 2)},
        "baseline_rapidfuzz_extract_ms": {
            "p50": round(pct(baseline, 0.5) * 1e3, 2),
            "p99": round(p99_base * 1e3, 2),
        },
        "p99_speedup_vs_baseline": round(p99_base / p99_full, 1),
        "p99_vs_slack_3s_budget": round(3.0 / p99_full, 0),
        "mean_route_ms": round(statistics.mean(full) * 1e3, 2),
        "peak_rss_mb": round(rss_mb, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="routing latency, start-up and memory on a large network")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the 178 questions (default 3)")
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(bench(args.rounds)), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
