"""Measured, not assumed: the labelled query set beside plain BM25 (SQLite FTS5), same run."""

from __future__ import annotations

from knowledge.evaluation import evaluate, load


def test_the_labelled_set_is_big_and_realistic_enough() -> None:
    entries, queries = load()
    assert len(entries) >= 80
    assert len(queries) >= 100
    assert any(not q.relevant for q in queries)


def test_search_beats_plain_bm25_by_a_clear_margin() -> None:
    ours, baselines = evaluate()
    plain = baselines[0]
    assert ours.mrr10 >= 0.85, ours.row()
    assert ours.mrr10 - plain.mrr10 >= 0.10, f"{ours.row()}\n{plain.row()}"
    assert ours.recall5 >= plain.recall5 and ours.ndcg10 >= plain.ndcg10
