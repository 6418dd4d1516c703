"""The matcher's array scoring gives exactly the scores of the plain loop it replaced, on
the labelled questions and on generated ones (typos, stages, fragments)."""

from __future__ import annotations

import random

import pytest

from bench.routing.bench import VARIANTS, _strengths
from bench.routing.evaluate import load_questions
from bot.routing import matcher
from bot.routing.matcher import GENERIC_TERMS, STAGE_ONLY_CREDIT, ItemIndex, Match, Matcher


def plain_search(index: ItemIndex[int], text: str, limit: int, min_score: float) -> list[Match[int]]:
    """``ItemIndex.search`` as it was: every candidate scored in one Python loop."""
    q = index.matcher.analyse(text)
    if q.empty:
        return []
    terms = index._correct_terms(q.terms)
    candidates: set[int] = set()
    for c in q.concepts | q.related:
        candidates.update(index._by_concept.get(c, ()))
    for t in terms:
        if t not in GENERIC_TERMS:
            candidates.update(index._by_term.get(t, ()))
    vocab = index.matcher.vocabulary
    asked = [
        (
            c,
            index.concept_idf(c) * (STAGE_ONLY_CREDIT if c in q.stage_only else 1.0),
            vocab.concepts[c].weight >= 1.0,
            vocab.concepts[c].topic,
        )
        for c in q.concepts
    ]
    weights = {t: index.term_idf(t) for t in terms}
    scored = index._scores_plain(
        q, asked, terms, weights, candidates, sum(w for _, w, _, _ in asked), sum(weights.values()) or 1.0
    )
    out = [
        Match(index.keys[i], s, *index._explain(q, terms, index.analyses[i], index._term_sets[i]), d)
        for i, s, d in scored
        if s > min_score
    ]
    out.sort(key=lambda m: -m.score)
    return out[:limit]


def texts() -> list[str]:
    rng = random.Random(3)
    labelled = [q["text"] for q in load_questions()]
    words = " ".join(labelled).split()
    made = []
    for _ in range(300):
        picked = rng.sample(words, rng.randint(1, 10))
        i = rng.randrange(len(picked))
        if len(picked[i]) > 5 and rng.random() < 0.5:  # a typo: a letter dropped
            j = rng.randrange(1, len(picked[i]) - 1)
            picked[i] = picked[i][:j] + picked[i][j + 1 :]
        made.append(" ".join(picked))
    stages = ["in Year 12", "key stage 4", "reception", "Y6 to Y7 transition", "EYFS", "sixth form"]
    return labelled + made + [f"{rng.choice(labelled)} {s}" for s in stages for _ in range(5)]


@pytest.fixture(scope="module")
def index() -> ItemIndex[int]:
    base = _strengths()
    items = [
        (i, v.format(s=t, l=t[0].lower() + t[1:])) for i, (t, v) in enumerate((t, v) for t in base for v in VARIANTS)
    ]
    return ItemIndex.build(Matcher(), items)


@pytest.mark.parametrize(("limit", "min_score"), [(400, 0.0), (50, 0.272)])
def test_array_scoring_matches_the_plain_loop_float_for_float(
    index: ItemIndex[int], limit: int, min_score: float
) -> None:
    for text in texts():
        got = index.search(text, limit=limit, min_score=min_score)
        assert got == plain_search(index, text, limit, min_score), text


def test_the_credits_kept_stay_within_their_bound(index: ItemIndex[int], monkeypatch: pytest.MonkeyPatch) -> None:
    """What each concept adds to the items is kept within a bound (three concepts' worth
    here), and scores are the same when it has been dropped."""
    monkeypatch.setattr(matcher, "CREDIT_KEPT", 3 * len(index))
    index._credit_cache.clear()
    for text in texts()[:60]:
        assert index.search(text, limit=400) == plain_search(index, text, 400, 0.0), text
        assert len(index._credit_cache) <= 3
