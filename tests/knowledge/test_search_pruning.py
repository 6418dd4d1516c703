"""Setting aside the matches that cannot reach the best few changes no ranking: pruned and
unpruned searches give the same hits, scores and totals, on the labelled queries and the
routing questions and on generated ones, for several groups, limits and offsets."""

from __future__ import annotations

import random
from datetime import date

import pytest

from bench.knowledge.bench import generate
from bench.routing.evaluate import load_questions
from knowledge.evaluation import load
from knowledge.search import SearchIndex
from knowledge.vocabulary import default_vocabulary

TODAY = date(2026, 11, 23)


@pytest.fixture(scope="module")
def index() -> SearchIndex:
    ix = SearchIndex(default_vocabulary())
    ix.add_many(generate(3000))
    for i in range(1, 3000, 7):  # some removed: dead slots stay until compaction
        ix.remove(i)
    return ix


def queries() -> list[str]:
    _, labelled = load()
    texts = [q.query for q in labelled] + [q["text"] for q in load_questions()]
    words = " ".join(texts).split()
    rng = random.Random(9)
    return texts + [" ".join(rng.sample(words, rng.randint(1, 8))) for _ in range(200)]


@pytest.mark.parametrize(
    ("groups", "limit", "offset"), [(None, 10, 0), (["dsl"], 3, 0), ([], 1, 0), (["senco", "dsl"], 5, 5)]
)
def test_pruned_rankings_are_the_unpruned_ones(
    index: SearchIndex, groups: list[str] | None, limit: int, offset: int
) -> None:
    for query in queries():
        plan = index.plan(query)
        pruned = index.search(plan, groups=groups, today=TODAY, limit=limit, offset=offset)
        whole = index.search(plan, groups=groups, today=TODAY, limit=limit, offset=offset, prune=False)
        assert (pruned.hits, pruned.total) == (whole.hits, whole.total), query


def test_ties_at_the_cut_are_kept_and_broken_by_id() -> None:
    ix = SearchIndex(default_vocabulary())
    ix.add_many(generate(400))
    from knowledge.search import IndexedEntry

    ix.add_many(IndexedEntry(id=1000 + i, kind="answer", title="Same", text="identical words") for i in range(120))
    hits = ix.search("identical words", today=TODAY, limit=3).hits
    assert [h.id for h in hits] == [1000, 1001, 1002]
    assert ix.search("identical words", today=TODAY, limit=3, prune=False).hits == hits
