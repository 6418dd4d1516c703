"""Measuring search: MRR@10, Recall@5 and nDCG@10 on a labelled query set, beside plain
BM25 (SQLite FTS5) over the same entries in the same run.

The labelled set (``tests/data/kb/``) is entries as ``kb import-jsonl`` lines and queries
as ``{"query": "...", "relevant": [ref, ...]}`` lines, written the way heads type: short,
informal, acronyms and typos; some have no relevant entry at all (``"relevant": []``).
Those are scored separately: the right answer to them is no suggestion.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from knowledge.search import IndexedEntry, SearchIndex
from knowledge.vocabulary import Vocabulary, default_vocabulary

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "kb"
TODAY = date(2026, 11, 23)


@dataclass(frozen=True)
class Labelled:
    query: str
    relevant: frozenset[int]


@dataclass(frozen=True)
class Scores:
    name: str
    mrr10: float
    recall5: float
    ndcg10: float
    abstain: float | None = None  # share of no-answer queries that got no suggestion

    def row(self) -> str:
        extra = f"  abstain {self.abstain:.3f}" if self.abstain is not None else ""
        return f"{self.name:<28} MRR@10 {self.mrr10:.3f}  Recall@5 {self.recall5:.3f}  nDCG@10 {self.ndcg10:.3f}{extra}"


def load(folder: Path = DATA) -> tuple[list[IndexedEntry], list[Labelled]]:
    entries: list[IndexedEntry] = []
    ids: dict[str, int] = {}
    for n, line in enumerate((folder / "entries.jsonl").read_text(encoding="utf-8").splitlines(), 1):
        doc = json.loads(line)
        ids[doc["ref"]] = n
        entries.append(
            IndexedEntry(
                id=n,
                kind=doc["kind"],
                title=doc["title"],
                text=doc["text"],
                tags=tuple(doc.get("tags", ())),
                school=doc.get("school"),
                ref=doc["ref"],
                changed_on=TODAY,
            )
        )
    queries = [
        Labelled(query=d["query"], relevant=frozenset(ids[r] for r in d["relevant"]))
        for d in (json.loads(x) for x in (folder / "queries.jsonl").read_text(encoding="utf-8").splitlines())
    ]
    return entries, queries


Ranker = Callable[[str], Sequence[int]]


def metrics(name: str, rank: Ranker, queries: Sequence[Labelled]) -> Scores:
    mrr = recall = ndcg = 0.0
    answerable = [q for q in queries if q.relevant]
    for q in answerable:
        ranked = list(rank(q.query))[:10]
        rr = next((1.0 / (i + 1) for i, d in enumerate(ranked) if d in q.relevant), 0.0)
        mrr += rr
        recall += len(set(ranked[:5]) & q.relevant) / len(q.relevant)
        dcg = sum(1.0 / math.log2(i + 2) for i, d in enumerate(ranked) if d in q.relevant)
        ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(q.relevant), 10)))
        ndcg += dcg / ideal
    n = max(len(answerable), 1)
    return Scores(name=name, mrr10=mrr / n, recall5=recall / n, ndcg10=ndcg / n)


def peerbot_ranker(entries: Sequence[IndexedEntry], vocabulary: Vocabulary | None = None) -> tuple[SearchIndex, Ranker]:
    index = SearchIndex(vocabulary or default_vocabulary())
    index.add_many(entries)

    def rank(query: str) -> list[int]:
        return [h.id for h in index.search(query, today=TODAY, limit=10).hits]

    return index, rank


_TOKEN = re.compile(r"\w+", re.UNICODE)


def fts5_ranker(entries: Sequence[IndexedEntry], *, tokenizer: str = "unicode61") -> Ranker:
    """Plain BM25: SQLite FTS5's ``bm25()`` over title, tags and text, the query's words OR-ed."""
    db = sqlite3.connect(":memory:")
    db.execute(f"CREATE VIRTUAL TABLE kb USING fts5(title, tags, body, tokenize='{tokenizer}')")
    db.executemany(
        "INSERT INTO kb(rowid, title, tags, body) VALUES (?, ?, ?, ?)",
        [(e.id, e.title, " ".join(e.tags), e.text) for e in entries],
    )

    def rank(query: str) -> list[int]:
        return [row[0] for row in db.execute(*fts5_query(query))]

    return rank


def fts5_query(query: str, limit: int = 10) -> tuple[str, tuple[str, int]]:
    words = _TOKEN.findall(query.lower())[:32]
    match = " OR ".join(f'"{w}"' for w in words) or '""'
    return "SELECT rowid FROM kb WHERE kb MATCH ? ORDER BY bm25(kb) LIMIT ?", (match, limit)


def evaluate(folder: Path = DATA, *, min_score: float = 0.55) -> tuple[Scores, list[Scores]]:
    """peerbot's scores and the baselines', on the same entries in the same run."""
    entries, queries = load(folder)
    index, rank = peerbot_ranker(entries)
    ours = metrics("peerbot", rank, queries)
    unanswerable = [q for q in queries if not q.relevant]
    if unanswerable:
        quiet = 0
        for q in unanswerable:
            hits = index.search(q.query, today=TODAY, limit=1).hits
            quiet += not hits or hits[0].score < min_score
        ours = Scores(ours.name, ours.mrr10, ours.recall5, ours.ndcg10, abstain=quiet / len(unanswerable))
    baselines = [
        metrics("BM25 (FTS5, plain)", fts5_ranker(entries), queries),
        metrics("BM25 (FTS5, Porter stems)", fts5_ranker(entries, tokenizer="porter unicode61"), queries),
    ]
    return ours, baselines


def failures(folder: Path = DATA) -> list[tuple[str, list[str], list[str]]]:
    """Answerable queries whose first relevant entry is not ranked first: (query, wanted, got)."""
    entries, queries = load(folder)
    _, rank = peerbot_ranker(entries)
    refs = {e.id: e.ref or "" for e in entries}
    out = []
    for q in queries:
        if not q.relevant:
            continue
        ranked = list(rank(q.query))
        if not ranked or ranked[0] not in q.relevant:
            out.append((q.query, sorted(refs[i] for i in q.relevant), [refs[i] for i in ranked[:3]]))
    return out
