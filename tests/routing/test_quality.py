"""Routing quality on the labelled set meets the issue's targets (bench/routing/evaluate.py)."""

from __future__ import annotations

from bench.routing.evaluate import TARGETS, load_questions, metrics, run


async def test_routing_meets_the_targets_on_the_labelled_set() -> None:
    questions = load_questions()
    assert len(questions) >= 150
    outcomes = await run(questions)
    m = metrics(outcomes)
    assert m["success_at_3"] >= TARGETS["success_at_3"], m
    assert m["mrr"] >= TARGETS["mrr"], m
    assert m["pupil_recall"] >= TARGETS["pupil_recall"], m
    assert m["false_alarm_rate"] <= TARGETS["false_alarm_rate"], m
    assert m["abstention"] >= 0.6, m
    held = metrics([o for o in outcomes if o.heldout])
    assert held["success_at_3"] >= 0.85 and held["mrr"] >= 0.8, held
