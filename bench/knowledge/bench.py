"""Knowledge-base benchmark: generated entries, index build time, memory, query latency
beside SQLite FTS5 on the same corpus in the same run, at several corpus sizes.

    .venv/bin/python bench/knowledge/bench.py                 # 25k, 50k, 100k entries
    .venv/bin/python bench/knowledge/bench.py --sizes 100000  # one size

Each size runs in a fresh process so resident memory is its own. Queries are the 215
labelled queries of tests/data/kb (short, informal, acronyms, typos), run in turn.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sqlite3
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from knowledge.evaluation import fts5_query, load  # noqa: E402
from knowledge.search import IndexedEntry, SearchIndex  # noqa: E402
from knowledge.vocabulary import default_vocabulary  # noqa: E402

TODAY = date(2026, 11, 23)
KINDS = ("answer", "policy", "resource")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def generate(n: int, seed: int = 7) -> list[IndexedEntry]:
    """Entries made of the labelled set's own sentences and words, shuffled and recombined."""
    base, _ = load()
    rng = random.Random(seed)
    sentences = [s.strip() for e in base for s in re.split(r"(?<=[.?!])\s+", e.text) if len(s.split()) > 3]
    titles = [e.title for e in base]
    words = sorted({w for e in base for w in re.findall(r"[A-Za-z]{4,}", e.text)})
    out = []
    for i in range(1, n + 1):
        body = " ".join(rng.sample(sentences, rng.randint(3, 8)))
        # a few rarer words so the vocabulary grows with the corpus, as real text does
        body += " " + " ".join(f"{rng.choice(words)}{rng.randint(0, n // 50)}" for _ in range(3))
        title = f"{rng.choice(titles)} ({rng.choice(words).lower()})"
        out.append(
            IndexedEntry(
                id=i,
                kind=rng.choice(KINDS),
                title=title,
                text=body,
                tags=tuple(rng.sample(["send", "attendance", "safeguarding", "finance", "ofsted", "eyfs"], 2)),
                group=rng.choice([None, None, None, None, "dsl", "senco"]),
                review_on=date(2026, rng.randint(1, 12), 1) if rng.random() < 0.3 else None,
                changed_on=date(2026, rng.randint(1, 11), 1),
            )
        )
    return out


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def one_size(n: int, rounds: int) -> dict[str, float]:
    entries = generate(n)
    _, labelled = load()
    queries = [q.query for q in labelled]
    before = rss_mb()
    start = time.perf_counter()
    index = SearchIndex(default_vocabulary())
    index.add_many(entries)
    build = time.perf_counter() - start
    index.search("warm up", today=TODAY)
    after = rss_mb()

    db = sqlite3.connect(":memory:")
    start = time.perf_counter()
    db.execute("CREATE VIRTUAL TABLE kb USING fts5(title, tags, body)")
    db.executemany(
        "INSERT INTO kb(rowid, title, tags, body) VALUES (?, ?, ?, ?)",
        [(e.id, e.title, " ".join(e.tags), e.text) for e in entries],
    )
    fts_build = time.perf_counter() - start
    ours: list[float] = []
    fts: list[float] = []
    for _ in range(rounds):
        for q in queries:
            t = time.perf_counter()
            index.search(q, groups=["heads", "dsl"], today=TODAY, limit=10)
            ours.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            db.execute(*fts5_query(q)).fetchall()
            fts.append((time.perf_counter() - t) * 1000)
    hostile = ["x" * 10_000, "!!!" * 300, "😀" * 500, "'; DROP TABLE kb; --" * 50]
    worst_hostile = 0.0
    for q in hostile:
        t = time.perf_counter()
        index.search(q, today=TODAY)
        worst_hostile = max(worst_hostile, (time.perf_counter() - t) * 1000)
    return {
        "entries": n,
        "build_s": round(build, 2),
        "fts5_build_s": round(fts_build, 2),
        "index_rss_mb": round(after - before, 1),
        "process_rss_mb": round(after, 1),
        "p50_ms": round(percentile(ours, 50), 3),
        "p99_ms": round(percentile(ours, 99), 3),
        "fts5_p50_ms": round(percentile(fts, 50), 3),
        "fts5_p99_ms": round(percentile(fts, 99), 3),
        "hostile_max_ms": round(worst_hostile, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="25000,50000,100000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_size(args.one, args.rounds)))
        return
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(n), "--rounds", str(args.rounds)],
            check=True,
            capture_output=True,
            text=True,
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(
            f"{r['entries']:>7} entries  build {r['build_s']:>6.2f}s (FTS5 {r['fts5_build_s']:.2f}s)  "
            f"index RSS {r['index_rss_mb']:>6.1f} MB (process {r['process_rss_mb']:.0f} MB)  "
            f"p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms  |  FTS5 p50 {r['fts5_p50_ms']:.2f} ms  "
            f"p99 {r['fts5_p99_ms']:.2f} ms  |  p99 ratio {r['p99_ms'] / r['fts5_p99_ms']:.2f}  "
            f"hostile max {r['hostile_max_ms']:.2f} ms",
            flush=True,
        )
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        scale = last["entries"] / first["entries"]
        print(
            f"growth x{scale:.0f} entries: build x{last['build_s'] / first['build_s']:.2f}, "
            f"memory x{last['index_rss_mb'] / max(first['index_rss_mb'], 0.1):.2f}, "
            f"p99 x{last['p99_ms'] / first['p99_ms']:.2f}"
        )


if __name__ == "__main__":
    main()
