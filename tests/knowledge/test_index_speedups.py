"""The index's speed-ups give exactly the answers of the plain algorithms they replace: typo
matching through character signatures, scores added up in arrays kept between searches,
postings the garbage collector never walks."""

from __future__ import annotations

import gc
import random
from datetime import date

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz import process
from rapidfuzz.distance import OSA

from knowledge.search import K1, IndexedEntry, SearchIndex, _postings
from knowledge.text import SHORT_WORD, Spellings, signature, within_reach
from knowledge.vocabulary import default_vocabulary

TODAY = date(2026, 11, 23)
LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789.é"


def edited(word: str, changes: list[tuple[int, int, str]]) -> str:
    """``word`` after each (kind, position, letter) edit: 0 delete, 1 insert, 2 substitute, 3 swap."""
    for kind, position, letter in changes:
        if kind == 1:
            i = position % (len(word) + 1)
            word = word[:i] + letter + word[i:]
            continue
        if not word:
            continue
        i = position % len(word)
        if kind == 0:
            word = word[:i] + word[i + 1 :]
        elif kind == 2:
            word = word[:i] + letter + word[i + 1 :]
        elif i + 1 < len(word):
            word = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word


edits = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 30), st.sampled_from(LETTERS)),
    max_size=3,
)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=LETTERS, min_size=1, max_size=14), edits)
def test_k_edits_change_at_most_2k_signature_bits_less_the_length_gap(
    word: str, changes: list[tuple[int, int, str]]
) -> None:
    other = edited(word, changes)
    distance = OSA.distance(word, other)
    gap = abs(len(word) - len(other))
    assert (signature(word) ^ signature(other)).bit_count() <= 2 * distance - gap
    bits = np.array([signature(word) ^ signature(other)], dtype=np.uint64)
    assert within_reach(bits, gap, distance)[0]


def random_words(n: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return sorted({"".join(rng.choice("aeioulnrstmdcpbg") for _ in range(rng.randint(3, 11))) for _ in range(n)})


WORDS = random_words(3000)


def plain_near(ix: SearchIndex, s: str) -> list[str]:
    """The typo matching the signatures replace: every index word of a near length."""
    limit = 1 if len(s) < 8 else 2
    candidates = sorted(
        (t for t in ix._postings if not t.startswith("~") and len(t) >= 3 and abs(len(t) - len(s)) <= limit),
        key=lambda t: (len(t), t),
    )
    if len(s) < SHORT_WORD:  # a short word's typo keeps its length
        candidates = [c for c in candidates if len(c) == len(s)]
    found = process.extract(s, candidates, scorer=OSA.distance, score_cutoff=limit, limit=8)
    if not found:
        return []
    best = min(int(f[1]) for f in found)
    close = [str(f[0]) for f in found if int(f[1]) == best]
    close.sort(key=lambda t: (-len(ix._postings[t]), t))
    return close[:3]


def word_index() -> SearchIndex:
    ix = SearchIndex(default_vocabulary())
    rng = random.Random(5)
    ix.add_many(
        IndexedEntry(id=i, kind="answer", title=w, text=" ".join(rng.sample(WORDS, 3))) for i, w in enumerate(WORDS, 1)
    )
    return ix


INDEX = word_index()


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(WORDS), edits)
def test_typo_matching_finds_what_scanning_every_word_finds(word: str, changes: list[tuple[int, int, str]]) -> None:
    typo = edited(word, changes).replace("é", "e")
    if len(typo) < 4:
        return
    assert INDEX._near(typo) == plain_near(INDEX, typo)


def test_typo_targets_follow_compaction() -> None:
    ix = SearchIndex(default_vocabulary())
    ix.add(IndexedEntry(id=1, kind="answer", title="Minibus rota", text="Drivers need a licence check."))
    for i in range(2, 2503):
        ix.add(IndexedEntry(id=i, kind="answer", title=f"Note {i}", text="Lunchtime supervision."))
    assert [h.id for h in ix.search("minibsu", today=TODAY).hits] == [1]
    for i in range(1, 2400):
        ix.remove(i)  # compacts: "minibus" leaves the index entirely
    assert ix.search("minibsu", today=TODAY).hits == []
    assert "minibus" not in ix._fuzzy.candidates("minibsu", 1)
    ix.add(IndexedEntry(id=9000, kind="answer", title="Minibus again", text="Back on the road."))
    assert [h.id for h in ix.search("minibsu", today=TODAY).hits] == [9000]


def test_postings_hold_nothing_for_the_garbage_collector_to_walk() -> None:
    ix = word_index()
    assert ix._postings and not any(gc.is_tracked(p) for p in ix._postings.values())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(WORDS), min_size=1, max_size=6), st.booleans())
def test_scores_are_the_same_floats_as_adding_token_by_token(query: list[str], remove_some: bool) -> None:
    ix = word_index() if remove_some else INDEX
    if remove_some:
        for i in range(1, len(WORDS), 3):
            ix.remove(i)
    plan = ix.plan(" ".join(query))
    size = len(ix._meta)
    norms = ix._norms()
    expected_scores, expected_covered = np.zeros(size), np.zeros(size)
    for token, weight in plan.tokens:  # the way the index added them before
        if not ix._postings.get(token):
            continue
        docs, counts = _postings(ix._postings[token])
        tfs = counts.astype(np.float64)
        w = weight * ix._idf(token)
        expected_scores[docs] += w * tfs * (K1 + 1.0) / (tfs + norms[docs])
        if token in plan.primary:
            expected_covered[docs] += w
    scores, covered = ix._accumulate(plan, size, norms)
    assert np.array_equal(scores, expected_scores) and np.array_equal(covered, expected_covered)  # bit for bit


def test_what_is_worked_out_once_follows_new_entries_and_the_day() -> None:
    ix = SearchIndex(default_vocabulary())
    ix.add(
        IndexedEntry(id=1, kind="policy", title="Phonics policy", text="Daily phonics.", review_on=date(2026, 12, 1))
    )
    assert [(h.id, h.expired) for h in ix.search("phonics", groups=["senco"], today=TODAY).hits] == [(1, False)]
    assert [(h.id, h.expired) for h in ix.search("phonics", today=date(2026, 12, 2)).hits] == [(1, True)]
    ix.add(IndexedEntry(id=2, kind="answer", title="Phonics for SEND", text="Keep-up phonics.", group="senco"))
    assert {h.id for h in ix.search("phonics", groups=["senco"], today=TODAY).hits} == {1, 2}
    assert {h.id for h in ix.search("phonics", groups=["dsl"], today=TODAY).hits} == {1}
    ix.remove(1)
    assert [h.id for h in ix.search("phonics", groups=["senco"], today=TODAY).hits] == [2]


SPELLINGS = Spellings(WORDS)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(WORDS), edits, st.sampled_from([1, 2]))
def test_spellings_pick_what_scanning_every_word_picks(word: str, changes: list[tuple[int, int, str]], k: int) -> None:
    typo = edited(word, changes)
    scan = process.extractOne(typo, WORDS, scorer=OSA.distance, score_cutoff=k)
    assert process.extractOne(typo, SPELLINGS.candidates(typo, k), scorer=OSA.distance, score_cutoff=k) == (
        None if scan is None else (scan[0], scan[1], SPELLINGS.candidates(typo, k).index(scan[0]))
    )


def test_what_tokens_add_is_worked_out_again_when_the_entries_change() -> None:
    ix = SearchIndex(default_vocabulary())
    entries = [
        IndexedEntry(id=i, kind="answer", title=w, text=" ".join(WORDS[i : i + 40]))
        for i, w in enumerate(WORDS[:200], 1)
    ]
    ix.add_many(entries[:100])
    query = " ".join(WORDS[30:36])
    before = ix.search(query, today=TODAY, limit=20)
    assert ix._part_cache  # kept between searches...
    ix.add_many(entries[100:])  # ...until the entries (and so the idf and the norms) change
    ix.remove(3)
    fresh = SearchIndex(default_vocabulary())
    fresh.add_many(entries[:100])
    fresh.add_many(entries[100:])
    fresh.remove(3)
    after = ix.search(query, today=TODAY, limit=20)
    assert after.hits == fresh.search(query, today=TODAY, limit=20).hits and after.hits != before.hits


def plain_snippet(text: str, highlight: frozenset[str], words: int = 28) -> str:
    """``snippet`` as it was: every word's place found before choosing the window."""
    import re

    from knowledge.search import _WORD_SPAN, SNIPPET_SCAN_CHARS, _shorten, _span_stem

    head = text[:SNIPPET_SCAN_CHARS]
    spans = [(m.start(), m.end(), _span_stem(m.group(0))) for m in _WORD_SPAN.finditer(head)]
    if not spans:
        return _shorten(" ".join(text.split()), 200)
    hits = [i for i, (_, _, s) in enumerate(spans) if s in highlight]
    start = 0
    if hits:
        best = (-1, 0)
        for i in hits:
            count = len({spans[j][2] for j in hits if i <= j < i + words})
            if count > best[0]:
                best = (count, i)
        start = max(0, best[1] - 4)
    end = min(len(spans), start + words)
    pieces: list[str] = []
    cursor = spans[start][0]
    for s_start, s_end, s in spans[start:end]:
        pieces.append(text[cursor:s_start])
        word = text[s_start:s_end]
        pieces.append(f"**{word}**" if s in highlight else word)
        cursor = s_end
    tail = re.match(r"\S*", text[cursor:])
    pieces.append(tail.group(0) if tail else "")
    rendered = " ".join("".join(pieces).split())
    if start > 0:
        rendered = "…" + rendered
    if end < len(spans) or len(text) > SNIPPET_SCAN_CHARS:
        rendered += "…"
    return rendered


def test_snippets_are_those_of_finding_every_words_place_first() -> None:
    from knowledge.evaluation import load
    from knowledge.search import snippet

    entries, queries = load()
    ix = SearchIndex(default_vocabulary())
    for q in queries:
        highlight = ix.plan(q.query).highlight
        for e in entries[:40]:
            assert snippet(e.text, highlight) == plain_snippet(e.text, highlight)
    assert snippet("", frozenset()) == plain_snippet("", frozenset()) == ""


def test_reading_a_texts_words_finds_what_reading_the_text_finds() -> None:
    from bench.routing.evaluate import load_questions
    from knowledge.evaluation import load
    from knowledge.text import words

    vocab = default_vocabulary()
    _, labelled = load()
    for text in (
        [q["text"] for q in load_questions()] + [q.query for q in labelled] + ["Y9's EHCP — re-integration/SEMH"]
    ):
        vocab.forget()
        found = vocab.find_words(words(text))
        vocab.forget()
        assert found == vocab.find(text) == vocab.find(" ".join(words(text)))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from("abcdefg"), min_size=1, max_size=120),
    st.sets(st.sampled_from("abcdefg"), min_size=1),
    st.integers(min_value=1, max_value=40),
)
def test_the_snippets_window_is_the_one_counting_every_window_finds(
    stems: list[str], highlight: set[str], words: int
) -> None:
    from knowledge.search import _best_window

    hits = [i for i, s in enumerate(stems) if s in highlight]
    if not hits:
        return
    best = (-1, 0)
    for i in hits:  # the window of each match counted afresh, as snippet() did
        count = len({stems[j] for j in hits if i <= j < i + words})
        if count > best[0]:
            best = (count, i)
    assert _best_window(stems, hits, words) == best[1]
