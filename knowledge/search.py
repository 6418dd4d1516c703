"""The search index: in memory, built from the database, the same on every backend.

Ranking is BM25 over one field-weighted bag of terms (a title word counts three times, a
tag twice, a body word once), with:

- the shared analysis of :mod:`knowledge.text` (fold, stop words, Snowball stems);
- the education vocabulary: each entry also carries a token per concept it mentions
  (``~c:ebsa`` for "emotionally based school avoidance"), so "EBSA", "school refusal" and
  the long form find each other; related concepts count a little;
- typo tolerance: a query word the index has never seen, and that is not an ordinary
  English word (:mod:`knowledge.english`), is matched to the index's nearest words
  (rapidfuzz, one edit, two for long words);
- coverage: an entry matching more of what was asked beats one repeating one word;
- freshness: an entry past its review date ranks lower and is marked expired; recently
  added or confirmed entries get a small lift.

Scores are computed with numpy over postings held in compact byte buffers (8 bytes a
posting, and nothing the garbage collector has to walk: a large index adds no pauses),
deterministically: the same entries give the same scores and order, whatever database
they came from. Ties go to the older entry (lower id).
"""

from __future__ import annotations

import math
import re
import struct
import zlib
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from itertools import islice

import numpy as np
import numpy.typing as npt
from rapidfuzz import process
from rapidfuzz.distance import OSA

from knowledge.english import is_english_stem
from knowledge.text import SHORT_WORD, STOPWORDS, fold, signature, stem, within_reach, words
from knowledge.vocabulary import Vocabulary

MAX_QUERY_CHARS = 500  # a longer query is cut here: nobody types more, and it stays fast
MAX_QUERY_TERMS = 24
MAX_FUZZY_TERMS = 6
TITLE_WEIGHT = 3.0
TAG_WEIGHT = 2.0
BODY_WEIGHT = 1.0
CONCEPT_PREFIX = "~c:"
TOPIC_PREFIX = "~t:"
CONCEPT_WEIGHT = 0.8
TOPIC_WEIGHT = 0.15
RELATED_WEIGHT = 0.3
K1 = 1.2
B = 0.6
EXPIRED_FACTOR = 0.7
RECENT_DAYS = 365
RECENT_LIFT = 0.05
SNIPPET_WORDS = 28
SNIPPET_SCAN_CHARS = 40_000
PART_CACHE_POSTINGS = 2_000_000  # what tokens add to their entries, kept between searches (32 MB at most)
# At most this many of the strongest matches are ranked first, to set aside those that cannot
# reach the best: those within this share of the best score (the first share that gives enough).
PRUNE_SAMPLE = 64
SAMPLE_RATIOS = (0.5, 0.25, 0.0)

_WORD_SPAN = re.compile(r"[^\W_]+(?:['’.][^\W_]+)*", re.UNICODE)


@dataclass(frozen=True, slots=True)
class IndexedEntry:
    """An entry as the index reads it (it keeps the text compressed, for snippets)."""

    id: int
    kind: str
    title: str
    text: str
    tags: tuple[str, ...] = ()
    group: str | None = None
    school: str | None = None
    ref: str | None = None
    review_on: date | None = None
    changed_on: date | None = None  # added, updated or confirmed
    revision: int = 1


@dataclass(frozen=True, slots=True)
class Hit:
    id: int
    kind: str
    title: str
    school: str | None
    ref: str | None
    group: str | None
    score: float  # 0..1: how much of the query it matches, and how strongly
    expired: bool
    review_on: date | None


@dataclass(frozen=True, slots=True)
class QueryPlan:
    """A query cut into weighted tokens, with the words to highlight in snippets."""

    tokens: tuple[tuple[str, float], ...]  # (token, weight), sorted for determinism
    ideal: float  # the weight a perfect match reaches (for the 0..1 score)
    primary: frozenset[str]  # tokens that count towards coverage
    highlight: frozenset[str]  # stems to highlight in snippets

    @property
    def empty(self) -> bool:
        return not self.tokens


@dataclass(frozen=True, slots=True)
class SearchResult:
    hits: list[Hit]
    total: int  # how many visible entries matched at all
    plan: QueryPlan


# One posting: the entry's slot and the token's weighted count in it, packed in a bytearray
# per token (a bytearray holds no references, so the garbage collector never walks it).
_POSTING = np.dtype([("slot", "<i4"), ("tf", "<f4")])
_PACK = struct.Struct("<if")


def _postings(buf: bytearray) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]:
    """The slots and counts of one token's postings (copies: the buffer may grow later)."""
    both = np.frombuffer(bytes(buf), dtype=_POSTING)
    return both["slot"], both["tf"]


@dataclass(frozen=True, slots=True)
class _TokenPostings:
    """One query token's postings: the slots it is in (in order), what it adds to each."""

    docs: npt.NDArray[np.intp]
    parts: npt.NDArray[np.float64]
    weight: float  # its weight in the query times its idf
    primary: bool  # counts towards coverage


class _Scratch:
    """Arrays a search writes into and reuses, grown as needed, so that a search allocates
    nothing the size of the corpus (freeing such arrays hands their pages back to the system,
    and taking them again costs a page fault each: more than the arithmetic)."""

    def __init__(self) -> None:
        self._arrays: dict[str, npt.NDArray[np.float64]] = {}

    def floats(self, name: str, n: int) -> npt.NDArray[np.float64]:
        found = self._arrays.get(name)
        if found is None or len(found) < n:
            found = self._arrays[name] = np.zeros(max(n, 1024, 2 * len(found) if found is not None else 0))
        return found[:n]


class _FuzzyTerms:
    """The index's words by length, with their character signatures, for typo matching."""

    def __init__(self) -> None:
        self._terms: dict[int, list[str]] = {}
        self._signatures: dict[int, _Growable] = {}

    def add(self, term: str) -> None:
        n = len(term)
        terms = self._terms.setdefault(n, [])
        sigs = self._signatures.setdefault(n, _Growable(np.uint64, 64))
        sigs.ensure(len(terms) + 1)
        sigs.data[len(terms)] = signature(term)
        terms.append(term)

    def candidates(self, term: str, limit: int, *, same_length: bool = False) -> list[str]:
        """Words that may be within ``limit`` edits of ``term``, by length then alphabetically
        (``same_length``: only those of its own length)."""
        sig = np.uint64(signature(term))
        out: list[str] = []
        lengths = (len(term),) if same_length else range(len(term) - limit, len(term) + limit + 1)
        for n in lengths:
            terms = self._terms.get(n)
            if not terms:
                continue
            near = within_reach(self._signatures[n].data[: len(terms)] ^ sig, abs(n - len(term)), limit)
            out.extend(sorted(terms[i] for i in np.flatnonzero(near).tolist()))
        return out


class _Growable:
    """A numpy array that grows by doubling."""

    def __init__(self, dtype: npt.DTypeLike, capacity: int = 1024) -> None:
        self.data = np.zeros(capacity, dtype=dtype)

    def ensure(self, size: int) -> None:
        if size > len(self.data):
            new = np.zeros(max(size, 2 * len(self.data)), dtype=self.data.dtype)
            new[: len(self.data)] = self.data
            self.data = new


class SearchIndex:
    def __init__(self, vocabulary: Vocabulary) -> None:
        self.vocabulary = vocabulary
        self._postings: dict[str, bytearray] = {}
        self._slot_of: dict[int, int] = {}  # entry id → slot
        self._meta: list[tuple[int, str, str, str | None, str | None, str | None, int]] = []
        self._texts: list[bytes] = []  # per slot: the entry's text, zlib-compressed (for snippets)
        self._alive = _Growable(np.bool_)
        self._dl = _Growable(np.float32)
        self._group = _Growable(np.int16)
        self._review = _Growable(np.int32)  # date ordinal, 0 = none
        self._changed = _Growable(np.int32)
        self._ids = _Growable(np.int64)
        self._groups: dict[str | None, int] = {None: 0}
        self._live = 0
        self._dead = 0
        self._dl_sum = 0.0
        self._norm: npt.NDArray[np.float64] | None = None
        self._fuzzy = _FuzzyTerms()
        self._idfs: dict[str, float] = {}
        self._part_cache: dict[tuple[str, float], tuple[npt.NDArray[np.intp], npt.NDArray[np.float64], float]] = {}
        self._part_postings = 0  # postings in _part_cache (see _parts)
        self._scratch = _Scratch()
        self._highlights: dict[str, frozenset[str]] = {}  # concept → stems to highlight (the vocabulary's)
        # Per-slot arrays worked out once until the entries change: which slots a set of
        # groups may see, and (for a day) which are expired and how much recency lifts them.
        self._visible_for: dict[frozenset[str] | None, npt.NDArray[np.bool_]] = {}
        self._fresh: tuple[int, npt.NDArray[np.bool_], npt.NDArray[np.float64]] | None = None

    # -- building ------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._live

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._slot_of

    def text_of(self, entry_id: int) -> str | None:
        """The text the entry was indexed with (``None`` when it is not in the index)."""
        slot = self._slot_of.get(entry_id)
        return None if slot is None else zlib.decompress(self._texts[slot]).decode("utf-8")

    def revision_of(self, entry_id: int) -> int | None:
        slot = self._slot_of.get(entry_id)
        return None if slot is None else self._meta[slot][6]

    def add(self, entry: IndexedEntry) -> None:
        """Index ``entry``, replacing any earlier version of it."""
        self.remove(entry.id)
        counts = self.analyse(entry)
        slot = len(self._meta)
        for arr in (self._alive, self._dl, self._group, self._review, self._changed, self._ids):
            arr.ensure(slot + 1)
        group_code = self._groups.setdefault(entry.group, len(self._groups))
        length = sum(c for t, c in counts.items() if not t.startswith("~"))
        self._alive.data[slot] = True
        self._dl.data[slot] = max(length, 1.0)
        self._group.data[slot] = group_code
        self._review.data[slot] = entry.review_on.toordinal() if entry.review_on else 0
        self._changed.data[slot] = entry.changed_on.toordinal() if entry.changed_on else 0
        self._ids.data[slot] = entry.id
        self._meta.append((entry.id, entry.kind, entry.title, entry.school, entry.ref, entry.group, entry.revision))
        self._texts.append(zlib.compress(entry.text.encode("utf-8"), 1))
        for token, tf in counts.items():
            p = self._postings.get(token)
            if p is None:
                p = self._postings[token] = bytearray()
                if _fuzzy_candidate(token):
                    self._fuzzy.add(token)
            p += _PACK.pack(slot, tf)
        self._slot_of[entry.id] = slot
        self._live += 1
        self._dl_sum += float(self._dl.data[slot])
        self._norm = None
        self._changed_slots()

    def add_many(self, entries: Iterable[IndexedEntry]) -> None:
        for e in entries:
            self.add(e)

    def remove(self, entry_id: int) -> None:
        slot = self._slot_of.pop(entry_id, None)
        if slot is None:
            return
        self._alive.data[slot] = False
        self._live -= 1
        self._dead += 1
        self._dl_sum -= float(self._dl.data[slot])
        self._norm = None
        self._changed_slots()
        if self._dead > 1000 and self._dead > self._live:
            self._compact()

    def _compact(self) -> None:
        """Drop the postings of removed entries (rebuilds the arrays, keeps the order)."""
        keep = np.flatnonzero(self._alive.data[: len(self._meta)])
        remap = np.full(len(self._meta), -1, dtype=np.int64)
        remap[keep] = np.arange(len(keep))
        for token in list(self._postings):
            both = np.frombuffer(bytes(self._postings[token]), dtype=_POSTING).copy()
            both["slot"] = remap[both["slot"]]
            both = both[both["slot"] >= 0]
            if not len(both):
                del self._postings[token]
                continue
            self._postings[token] = bytearray(both.tobytes())
        for arr in (self._alive, self._dl, self._group, self._review, self._changed, self._ids):
            kept = arr.data[keep].copy()
            arr.data = np.zeros(max(1024, len(kept) * 2), dtype=arr.data.dtype)
            arr.data[: len(kept)] = kept
        self._meta = [self._meta[int(i)] for i in keep]
        self._texts = [self._texts[int(i)] for i in keep]
        self._slot_of = {m[0]: i for i, m in enumerate(self._meta)}
        self._dead = 0
        self._fuzzy = _FuzzyTerms()
        for token in sorted(self._postings):
            if _fuzzy_candidate(token):
                self._fuzzy.add(token)
        self._norm = None
        self._changed_slots()

    def analyse(self, entry: IndexedEntry) -> dict[str, float]:
        """The entry's weighted token counts: stems, concept and topic tokens."""
        counts: dict[str, float] = {}
        for weight, text in (
            (TITLE_WEIGHT, entry.title),
            (TAG_WEIGHT, " ; ".join(entry.tags)),
            (BODY_WEIGHT, entry.text),
        ):
            all_words = words(text)
            stems = [stem(w) for w in all_words]
            for w, s in zip(all_words, stems, strict=True):
                if w not in STOPWORDS:
                    counts[s] = counts.get(s, 0.0) + weight
            for mention in self.vocabulary.find_in_stems(stems, all_words):
                c = CONCEPT_PREFIX + mention.concept.id
                counts[c] = counts.get(c, 0.0) + weight
                topic = TOPIC_PREFIX + mention.concept.topic
                counts[topic] = counts.get(topic, 0.0) + weight
        return counts

    # -- querying ------------------------------------------------------------------------
    def plan(self, query: str) -> QueryPlan:
        """Cut a query into weighted tokens (stems, typo corrections, concepts)."""
        query = query[:MAX_QUERY_CHARS]
        weights: dict[str, float] = {}
        primary: set[str] = set()
        highlight: set[str] = set()
        all_words = words(query)[: MAX_QUERY_TERMS * 3]
        stems = [stem(w) for w in all_words]
        mentions = []
        for m in self.vocabulary.find_words(all_words):  # as find(" ".join(all_words)): the words are words
            # a "typo" of a word the index knows is that word, not a concept ("procedure" ≠ "procurement")
            if m.fuzzy and any(
                stems[i] in self._postings for i in range(m.start, m.end) if all_words[i] not in STOPWORDS
            ):
                continue
            mentions.append(m)
        in_concept = {i for m in mentions for i in range(m.start, m.end)}
        fuzzy_budget = MAX_FUZZY_TERMS
        seen: set[str] = set()
        for position, word in enumerate(all_words):
            if word in STOPWORDS:
                continue
            s = stems[position]
            if s in seen or len(seen) >= MAX_QUERY_TERMS:
                continue
            seen.add(s)
            if s in self._postings:
                weights[s] = max(weights.get(s, 0.0), 1.0)
                primary.add(s)
                highlight.add(s)
                continue
            # a word of the language, taken as written ("recently" is not a typo of "reception")
            if fuzzy_budget > 0 and len(s) >= 4 and not any(ch.isdigit() for ch in s) and not is_english_stem(s):
                fuzzy_budget -= 1
                close = self._near(s)
                for alt in close:
                    weights[alt] = max(weights.get(alt, 0.0), 0.8)
                    primary.add(alt)
                    highlight.add(alt)
                if close:
                    continue
            if position in in_concept:
                continue  # the concept's token stands for this word
            # a word the index does not hold: it still counts against coverage
            weights.setdefault(s, 1.0)
            primary.add(s)
        concepts: list[str] = []
        for mention in mentions:
            cid = mention.concept.id
            if cid in concepts:
                continue
            concepts.append(cid)
            token = CONCEPT_PREFIX + cid
            weights[token] = max(weights.get(token, 0.0), CONCEPT_WEIGHT)
            primary.add(token)
            highlight.update(self._phrase_stems(cid))
            topic = TOPIC_PREFIX + mention.concept.topic
            weights[topic] = max(weights.get(topic, 0.0), TOPIC_WEIGHT)
        for rid in sorted(self.vocabulary.related(concepts)):
            token = CONCEPT_PREFIX + rid
            weights.setdefault(token, RELATED_WEIGHT)
        tokens = tuple(sorted(weights.items()))
        ideal = sum(w * self._idf(t) for t, w in tokens if t in primary)  # in token order: the same float every run
        return QueryPlan(tokens=tokens, ideal=ideal, primary=frozenset(primary), highlight=frozenset(highlight))

    def _phrase_stems(self, concept_id: str) -> frozenset[str]:
        """Words worth highlighting for a concept: its one-word names (acronyms, synonyms)
        and the words of its longer, specific phrases (worked out once per concept)."""
        found = self._highlights.get(concept_id)
        if found is None:
            out: set[str] = set()
            for phrase in self.vocabulary.concepts[concept_id].phrases:
                content = [stem(w) for w in _fold_words(phrase) if w not in STOPWORDS]
                if len(content) == 1 or len(content) >= 3:
                    out.update(content)
            found = self._highlights[concept_id] = frozenset(out)
        return found

    def _near(self, s: str) -> list[str]:
        """Index words within one edit of ``s`` (two for words of eight letters or more)."""
        limit = 1 if len(s) < 8 else 2
        # as knowledge.text.nearest: a short word's typo keeps its length
        candidates = self._fuzzy.candidates(s, limit, same_length=len(s) < SHORT_WORD)
        if not candidates:
            return []
        found = process.extract(s, candidates, scorer=OSA.distance, score_cutoff=limit, limit=8)
        if not found:
            return []
        best = min(int(f[1]) for f in found)
        # the closest spellings only, the most common first
        close = [str(f[0]) for f in found if int(f[1]) == best]
        close.sort(key=lambda t: (-len(self._postings[t]), t))
        return close[:3]

    def _changed_slots(self) -> None:
        self._idfs.clear()
        if self._part_cache:
            self._part_cache.clear()
            self._part_postings = 0
        self._visible_for.clear()
        self._fresh = None

    def _visible(self, groups: Collection[str] | None) -> npt.NDArray[np.bool_]:
        """Live slots that ``groups`` may see (``None``: all of them)."""
        key = None if groups is None else frozenset(groups)
        found = self._visible_for.get(key)
        if found is None:
            size = len(self._meta)
            found = self._alive.data[:size].copy()
            if key is not None:
                allowed = np.zeros(len(self._groups), dtype=np.bool_)
                for name, code in self._groups.items():
                    allowed[code] = name is None or name in key
                found &= allowed[self._group.data[:size]]
            if len(self._visible_for) >= 64:
                self._visible_for.clear()
            self._visible_for[key] = found
        return found

    def _freshness(self, today_ord: int) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
        """Per slot: past its review date, and the lift for being recently changed."""
        if self._fresh is None or self._fresh[0] != today_ord:
            size = len(self._meta)
            review = self._review.data[:size]
            changed = self._changed.data[:size]
            age = np.where(changed > 0, today_ord - changed, RECENT_DAYS)
            lift = 1.0 + RECENT_LIFT * np.clip(1.0 - age / RECENT_DAYS, 0.0, 1.0)
            self._fresh = (today_ord, (review > 0) & (review < today_ord), lift)
        return self._fresh[1], self._fresh[2]

    def _idf(self, token: str) -> float:
        idf = self._idfs.get(token)
        if idf is not None:
            return idf
        p = self._postings.get(token)
        n = max(self._live, 1)
        if p is None:
            df = 0
        elif self._dead:
            df = int(self._alive.data[_postings(p)[0]].sum())
        else:
            df = len(p) // _PACK.size
        idf = self._idfs[token] = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
        return idf

    def _accumulate(
        self, plan: QueryPlan, size: int, norms: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Per slot: the BM25 score of the plan's tokens, and the weight of the primary ones matched."""
        tokens = self._token_postings(plan, norms)
        return self._scores(tokens, size), self._covered(tokens, size)

    def _token_postings(self, plan: QueryPlan, norms: npt.NDArray[np.float64]) -> list[_TokenPostings]:
        """The plan's tokens that the index holds, in order, with what each adds to its entries."""
        out = []
        for token, weight in plan.tokens:
            found = self._parts(token, weight, norms)
            if found is not None:
                out.append(_TokenPostings(*found, token in plan.primary))
        return out

    def _parts(
        self, token: str, weight: float, norms: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64], float] | None:
        """The slots ``token`` is in (in order), what it adds to each at ``weight`` in a query
        (``w * tf * (K1 + 1) / (tf + norm)``, ``w`` being the weight times the token's idf),
        and ``w``: worked out once per token and weight until the entries change (then the
        idf and the norms move), within a bound on the postings kept. ``None`` for a token
        the index does not hold."""
        key = (token, weight)
        found = self._part_cache.get(key)
        if found is None:
            p = self._postings.get(token)
            if not p:
                return None
            slots, counts = _postings(p)
            docs = slots.astype(np.intp)  # numpy's own index type: adding at them converts nothing
            token_weight = weight * self._idf(token)
            tf = counts.astype(np.float64)
            parts = np.multiply(token_weight, tf)
            np.multiply(parts, K1 + 1.0, out=parts)
            np.divide(parts, np.add(tf, norms[docs]), out=parts)
            if self._part_postings + len(docs) > PART_CACHE_POSTINGS:
                self._part_cache.clear()
                self._part_postings = 0
            found = self._part_cache[key] = (docs, parts, token_weight)
            self._part_postings += len(docs)
        return found

    def _scores(self, tokens: list[_TokenPostings], size: int) -> npt.NDArray[np.float64]:
        """Per slot: the sum of what the tokens add to it, in token order (``np.add.at`` adds
        one posting at a time, token after token: no copy of all the postings side by side),
        into an array kept between searches (a search allocates no corpus-sized arrays: at
        20,000 entries those cost more in page faults than the arithmetic itself)."""
        scores = self._scratch.floats("scores", size)
        scores.fill(0.0)
        for t in tokens:
            np.add.at(scores, t.docs, t.parts)
        return scores

    def _covered(self, tokens: list[_TokenPostings], size: int) -> npt.NDArray[np.float64]:
        """Per slot: the weights of the primary tokens it holds, added in token order."""
        covered = self._scratch.floats("covered", size)
        covered.fill(0.0)
        for t in tokens:
            if t.primary:
                np.add.at(covered, t.docs, t.weight)
        return covered

    def _contenders(
        self,
        scores: npt.NDArray[np.float64],
        covered: npt.NDArray[np.float64],
        ideal: float,
        freshness: tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64]],
        want: int,
    ) -> npt.NDArray[np.intp]:
        """The slots that can be among the best ``want`` (``scores``: 0 for those not to be
        seen; at least ``want`` above it), in slot order.

        An entry's final score is its strength (``score / ideal``) times a coverage factor
        (at most 1), the expiry factor (at most 1) and the recency lift (at most 1 +
        RECENT_LIFT), rounded to 9 places. The final scores of a few of the strongest give a
        floor the best ``want`` reach at least; an entry whose strength, with the greatest
        factors, stays below it is neither among them nor tied with them (a hair of margin
        covers rounding). The few are found without sorting the corpus: those within
        :data:`SAMPLE_RATIOS` of the best score, the first ratio that gives ``want``.
        """
        best = float(scores.max())
        few = np.flatnonzero(scores >= best * SAMPLE_RATIOS[0])
        for ratio in SAMPLE_RATIOS[1:]:
            if len(few) >= want:
                break
            few = np.flatnonzero(scores >= best * ratio) if ratio > 0 else np.flatnonzero(scores)
        if len(few) > PRUNE_SAMPLE:
            few = few[np.argpartition(-scores[few], PRUNE_SAMPLE - 1)[:PRUNE_SAMPLE]]
        final = _final(ideal, scores[few], covered[few], *freshness, few)[0]
        floor = float(np.partition(final, len(final) - want)[len(final) - want]) - 1e-9
        reach = floor * ideal / ((1.0 + RECENT_LIFT) * (1.0 + 1e-9))
        if reach <= 0.0:
            return np.flatnonzero(scores)
        return np.flatnonzero(scores >= reach)

    def _norms(self) -> npt.NDArray[np.float64]:
        if self._norm is None:
            size = len(self._meta)
            avgdl = self._dl_sum / self._live if self._live else 1.0
            self._norm = K1 * (1.0 - B + B * self._dl.data[:size].astype(np.float64) / max(avgdl, 1.0))
        return self._norm

    def search(
        self,
        query: str | QueryPlan,
        *,
        groups: Collection[str] | None = None,
        today: date | None = None,
        limit: int = 10,
        offset: int = 0,
        kinds: Collection[str] | None = None,
        prune: bool = True,
    ) -> SearchResult:
        """The best ``limit`` entries (after ``offset``) for ``query`` that ``groups`` may see.

        ``groups=None`` sees everything (the command line); otherwise an entry is visible
        when it belongs to no group or to one of ``groups``. Only the entries that can be among
        the best ``offset + limit`` are ranked (see :meth:`_contenders`); ``prune=False``
        ranks every entry that matched — the same results (tests compare them).
        """
        plan = query if isinstance(query, QueryPlan) else self.plan(query)
        size = len(self._meta)
        if plan.empty or size == 0 or self._live == 0 or limit <= 0:
            return SearchResult(hits=[], total=0, plan=plan)
        norms = self._norms()
        tokens = self._token_postings(plan, norms)
        if not tokens:
            return SearchResult(hits=[], total=0, plan=plan)
        scores, covered = self._scores(tokens, size), self._covered(tokens, size)
        np.multiply(scores, self._visible(groups), out=scores)  # the entries it may not see score nothing
        if kinds is not None:
            scores *= np.array([m[1] in kinds for m in self._meta], dtype=np.bool_)
        total = int(np.count_nonzero(scores))
        if not total:
            return SearchResult(hits=[], total=0, plan=plan)
        ideal = max(plan.ideal, 1e-9)
        freshness = self._freshness((today or date.today()).toordinal())
        want = offset + limit
        if prune and total >= PRUNE_SAMPLE and want <= PRUNE_SAMPLE // 2:
            candidates = self._contenders(scores, covered, ideal, freshness, want)
        else:
            candidates = np.flatnonzero(scores)
        final, shown = _final(ideal, scores[candidates], covered[candidates], *freshness, candidates)
        if want < len(candidates):
            # the best ``want``, and every candidate tied with the last of them, so ties break by id
            cutoff = -np.partition(-final, want - 1)[want - 1]
            part = np.flatnonzero(final >= cutoff)
        else:
            part = np.arange(len(candidates))
        order = part[np.lexsort((self._ids.data[candidates[part]], -final[part]))][offset:want]
        expired = freshness[0]
        hits: list[Hit] = []
        for i in order.tolist():
            slot = int(candidates[i])
            entry_id, kind, title, school, ref, group, _ = self._meta[slot]
            review_ord = int(self._review.data[slot])
            hits.append(
                Hit(
                    id=entry_id,
                    kind=kind,
                    title=title,
                    school=school,
                    ref=ref,
                    group=group,
                    score=round(float(shown[i]), 3),
                    expired=bool(expired[slot]),
                    review_on=date.fromordinal(review_ord) if review_ord else None,
                )
            )
        return SearchResult(hits=hits, total=total, plan=plan)

    def coverage(self, plan: QueryPlan, entry_id: int) -> float:
        """How much of the query's meaning (0..1) one entry matches."""
        slot = self._slot_of.get(entry_id)
        if slot is None or plan.ideal <= 0:
            return 0.0
        got = 0.0
        for token, weight in plan.tokens:
            if token not in plan.primary:
                continue
            p = self._postings.get(token)
            if p is not None and slot in _slots(p):
                got += weight * self._idf(token)
        return min(got / plan.ideal, 1.0)


def _final(
    ideal: float,
    scores: npt.NDArray[np.float64],
    covered: npt.NDArray[np.float64],
    expired_all: npt.NDArray[np.bool_],
    lift: npt.NDArray[np.float64],
    slots: npt.NDArray[np.intp],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Some entries' final scores, for ranking, and the 0..1 scores shown (and used by
    suggestions): coverage = min(covered / ideal, 1), strength = score / ideal, factor =
    0.35 + 0.65 * coverage; final = strength * factor (× the expiry factor when expired) ×
    the recency lift, rounded (the same order on every machine); shown = min(strength, 1) *
    factor (× the expiry factor)."""
    coverage = np.minimum(covered / ideal, 1.0)
    factor = coverage * 0.65
    factor += 0.35
    strength = scores / ideal
    final = strength * factor
    expired = expired_all[slots]
    np.multiply(final, EXPIRED_FACTOR, out=final, where=expired)
    np.minimum(strength, 1.0, out=strength)
    shown = np.multiply(strength, factor, out=strength)
    np.multiply(shown, EXPIRED_FACTOR, out=shown, where=expired)
    final *= lift[slots]
    return np.round(final, 9, out=final), shown


def _slots(p: bytearray) -> set[int]:
    return set(_postings(p)[0].tolist())


def _fuzzy_candidate(token: str) -> bool:
    """A word typos are matched to (not a concept or topic token, not too short)."""
    return not token.startswith("~") and len(token) >= 3


@lru_cache(maxsize=4096)
def _fold_words(text: str) -> tuple[str, ...]:
    return tuple(re.findall(r"[a-z0-9]+", fold(text)))


# -- snippets ------------------------------------------------------------------------------------


def snippet(text: str, highlight: Collection[str], *, words: int = SNIPPET_WORDS) -> str:
    """A short window of ``text`` with the most matched words, those words in **bold**."""
    head = text[:SNIPPET_SCAN_CHARS]
    stems = list(map(_span_stem, _WORD_SPAN.findall(head)))  # the words' stems, without their places
    if not stems:
        return _shorten(" ".join(text.split()), 200)
    hits = [i for i, s in enumerate(stems) if s in highlight]
    start = 0
    if hits:
        start = max(0, _best_window(stems, hits, words) - 4)
    end = min(len(stems), start + words)
    # the places of the words shown only
    chosen = [
        (m.start(), m.end(), stems[i]) for i, m in enumerate(islice(_WORD_SPAN.finditer(head), end)) if i >= start
    ]
    pieces: list[str] = []
    cursor = chosen[0][0]
    for s_start, s_end, s in chosen:
        pieces.append(text[cursor:s_start])
        word = text[s_start:s_end]
        pieces.append(f"**{word}**" if s in highlight else word)
        cursor = s_end
    tail = re.match(r"\S*", text[cursor:])
    pieces.append(tail.group(0) if tail else "")
    rendered = " ".join("".join(pieces).split())
    if start > 0:
        rendered = "…" + rendered
    if end < len(stems) or len(text) > SNIPPET_SCAN_CHARS:
        rendered += "…"
    return rendered


def _best_window(stems: list[str], hits: list[int], words: int) -> int:
    """The first matched word from which ``words`` words hold the most different matched
    stems: one pass over the matches, the window sliding along them (``hits`` in order)."""
    best_count, best_at = -1, 0
    inside: dict[str, int] = {}  # the window's matched stems, with how often each occurs in it
    end = 0
    for at in hits:
        while end < len(hits) and hits[end] < at + words:
            s = stems[hits[end]]
            inside[s] = inside.get(s, 0) + 1
            end += 1
        if len(inside) > best_count:
            best_count, best_at = len(inside), at
        s = stems[at]
        inside[s] -= 1
        if not inside[s]:
            del inside[s]
    return best_at


@lru_cache(maxsize=65536)
def _span_stem(word: str) -> str:
    """The stem a word of an entry's text is highlighted by (words recur: kept)."""
    folded = fold(word).replace(".", "")
    return stem(folded) if folded else ""


def _shorten(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"
