"""Matching a text against audit items by meaning, with a reason a person can read.

A text is analysed once into the education vocabulary's concepts (acronyms, synonyms and
phrases, typo-tolerant), the concepts one step away, their topics, and stemmed terms.
An item (an audit strength, or any other short text) is analysed the same way, and a
question scores against it by how much of the question's meaning the item covers:

- concepts: an exact concept counts fully, a related one half, the same topic a little;
  rarer concepts weigh more (inverse document frequency over the items);
- terms: the stems they share, weighted by rarity, typo-corrected against the items' own
  words (so "moderaton" still meets "moderation"; an English word is never a typo);
- focus: a small bonus for an item that is *about* what was asked rather than mentions it;
- stages: a concept named only by a stage ("in Year 12", "key stage 4") is about those
  pupils rather than that subject, so it counts half, on either side; a match that shares
  only that, or only near concepts, is not a direct answer (:attr:`Match.direct`).

:class:`Matcher` and :class:`ItemIndex` are independent of the database and of people:
the audit analysis pairs needs with strengths through :meth:`ItemIndex.search` too.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Generic, NamedTuple, TypeVar

import numpy as np
import numpy.typing as npt

from knowledge.english import is_english_stem
from knowledge.text import STOPWORDS, Spellings, nearest, stem, words
from knowledge.vocabulary import Vocabulary, default_vocabulary

K = TypeVar("K", bound=Hashable)

# How the parts of a score add up (measured on tests/data/routing; see bench/routing).
CONCEPT_WEIGHT = 0.7
TERM_WEIGHT = 0.3
FOCUS_BONUS = 0.08
RELATED_CREDIT = 0.5
TOPIC_CREDIT = 0.15
NO_CONCEPT_FACTOR = 0.75
INDIRECT_FACTOR = 0.75  # a question the vocabulary cannot read is matched on words alone, cautiously
# A concept a text names only by a stage ("key stage 4", "Year 12", "reception") is about
# those pupils, not necessarily that subject: "attendance in key stage 4" is not about GCSEs.
STAGE_ONLY_CREDIT = 0.5

# Words too general to say what a question is about, even when they are rare in the items.
GENERIC_TERMS = frozenset(
    stem(w)
    for w in """
    support supporting provision pupils pupil children child staff training train trained work working school
    schools new use using used anyone someone good great best practice develop developing development strong
    strength offer offered offering approach approaches improve improving improvement help need needs year
    years time plan planning get got going look looking share sharing thing things lot lots bit week day
    """.split()
)

_SECONDARY = re.compile(
    r"\b(?:y(?:ea)?r?\s?(?:7|8|9|10|11|12|13)|ks\s?[345]|key stage [345]|gcses?|a.?levels?|sixth form|post.?16|"
    r"secondary|high school|options|progress 8|p8|mocks|btecs?|year sevens?|year elevens?)\b",
    re.I,
)
_PRIMARY = re.compile(
    r"\b(?:eyfs|early years|reception|nursery|y(?:ea)?r?\s?[1-6]|ks\s?[12]|key stage [12]|sats|phonics|"
    r"infants?|juniors?|primary|early reading|[123]\s?fe|one form entry|two form entry|times tables|mtc|"
    r"multiplication check|little wandle|rwi|read write inc|year sixes?)\b",
    re.I,
)
_TRANSITION = re.compile(r"\btransition(?:s|ing)?\b", re.I)
# In a question about transition, the stages named say which side of it is meant: a
# move within the primary years, a move within secondary and post-16, or the transfer
# between them (Y6/Y7, "to secondary"), where both sides are the right people to ask.
_TRANSFER = re.compile(
    r"\b(?:y(?:ea)?r?\s?[67]s?|year (?:six|seven)(?:e?s)?|primary|primaries|secondary|secondaries|high schools?|"
    r"feeders?|feeder (?:primaries|schools))\b",
    re.I,
)
_PRIMARY_STAGE = re.compile(
    r"\b(?:eyfs|early years|reception|nursery|nurseries|pre.?school|y(?:ea)?r?\s?[1-5]s?|ks\s?[12]|key stage [12]|"
    r"infants?|juniors?|foundation stage)\b",
    re.I,
)
_SECONDARY_STAGE = re.compile(
    r"\b(?:y(?:ea)?r?\s?(?:8|9|10|11|12|13)s?|ks\s?[345]|key stage [345]|gcses?|a.?levels?|sixth form|6th form|"
    r"post.?16|college|further education)\b",
    re.I,
)
# A stage of schooling on its own (folded words, as knowledge.text.words gives them).
_STAGE = re.compile(
    r"(?:y(?:ea)?r? ?(?:[1-9]|1[0-3])s?|ks ?[1-5]|key stage [1-5]|reception|nursery|early years|foundation stage|"
    r"infants?|juniors?|sixth form|6th form|post ?16|16 to 19|16 19|at 16)"
)
_SMALL = re.compile(r"\b(?:1\s?fe|one form entry|small school|small primary|tiny school|mixed.age)\b", re.I)


def phase_hint(text: str) -> str | None:
    """``"primary"``, ``"secondary"``, or ``None`` when the text says nothing (or both).

    "KS3", "GCSE", "Y11" point to secondary; "EYFS", "phonics", "KS2 SATs" to primary.
    Transition goes by the stages named: "nursery to reception" is primary, "Y11 to sixth
    form" secondary, and Y6 to Y7 (or "transition to secondary") both sides.
    """
    return _read_phase(text)[0]


def _read_phase(text: str) -> tuple[str | None, bool]:
    """The phase hint, and whether the text settles it (so that the concepts found in it
    should not: a Y6-to-Y7 question that mentions SATs is still about both sides)."""
    if _TRANSITION.search(text):
        if _TRANSFER.search(text):
            return None, True
        pri, sec = bool(_PRIMARY_STAGE.search(text)), bool(_SECONDARY_STAGE.search(text))
        if pri != sec:
            return ("primary" if pri else "secondary"), True
        return None, pri
    sec = bool(_SECONDARY.search(text))
    pri = bool(_PRIMARY.search(text))
    if sec == pri:
        return None, False
    return ("secondary" if sec else "primary"), True


def size_hint(text: str) -> str | None:
    """``"small"`` for "other 1FE schools", "small school", mixed-age classes."""
    return "small" if _SMALL.search(text) else None


@dataclass(frozen=True, slots=True)
class Analysis:
    """What a text is about, in the vocabulary's terms."""

    concepts: frozenset[str]
    related: frozenset[str]
    topics: frozenset[str]
    terms: tuple[str, ...]
    phase: str | None = None
    stage_only: frozenset[str] = frozenset()  # concepts named only by a stage ("Year 12")

    @property
    def empty(self) -> bool:
        return not self.concepts and not self.terms


CREDIT_KEPT = 1_000_000  # per-item credits kept for the concepts questions name (9 MB at most)


class Ranked(NamedTuple):
    """Matches best first, as arrays (see :meth:`ItemIndex.ranked`)."""

    places: npt.NDArray[np.intp]  # in ItemIndex.keys
    scores: npt.NDArray[np.float64]
    direct: npt.NDArray[np.bool_]


_NOTHING = Ranked(np.zeros(0, np.intp), np.zeros(0, np.float64), np.zeros(0, np.bool_))


@dataclass(frozen=True, slots=True)
class Match(Generic[K]):
    """One item's score for a text, with the concepts that made it."""

    key: K
    score: float
    concepts: tuple[str, ...]  # matched concept labels, best first
    terms: tuple[str, ...]  # shared stems
    direct: bool = True  # it shares a concept of full weight with the text, not only near ones

    def reason(self) -> str:
        if self.concepts:
            return "matches " + _join(self.concepts[:3])
        if self.terms:
            return "shares the words " + _join(self.terms[:3])
        return ""


def _join(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


class Matcher:
    """Reads texts through one vocabulary. Cheap to share; caches analyses of repeated text."""

    def __init__(self, vocabulary: Vocabulary | None = None) -> None:
        self.vocabulary = vocabulary or default_vocabulary()
        self._analyse = lru_cache(maxsize=4096)(self._analyse_uncached)

    def analyse(self, text: str) -> Analysis:
        return self._analyse(text)

    def forget(self) -> None:
        """Drop the cached analyses (benchmarks read every question from cold)."""
        self._analyse.cache_clear()
        self.vocabulary.forget()

    def _analyse_uncached(self, text: str) -> Analysis:
        vocab = self.vocabulary
        raw = words(text)
        mentions = vocab.find_words(raw)
        concepts = frozenset(m.concept.id for m in mentions)
        # a stage on its own: "in Year 12", not "nursery to reception" (nested in a phrase)
        stage_only = concepts - {
            m.concept.id for m in mentions if m.nested or not _STAGE.fullmatch(" ".join(raw[m.start : m.end]))
        }
        covered: set[int] = set()
        for m in mentions:
            covered.update(range(m.start, m.end))
        all_words = raw
        stems = [stem(w) for w in all_words]
        corrected = [s for s, _ in vocab.correct(stems, all_words)]
        terms = tuple(
            dict.fromkeys(
                s
                for i, (w, s) in enumerate(zip(all_words, corrected, strict=True))
                if w not in STOPWORDS and len(s) > 1
            )
        )
        related = frozenset(vocab.related(concepts)) - concepts
        topics = frozenset(vocab.concepts[c].topic for c in concepts)
        hint, settled = _read_phase(text)
        if not settled:
            # A guessed reading of a typo is not evidence enough to rule out half the network.
            phases = {m.concept.phase for m in mentions if not m.fuzzy} - {"any"}
            if len(phases) == 1:
                hint = next(iter(phases))
        return Analysis(
            concepts=concepts, related=related, topics=topics, terms=terms, phase=hint, stage_only=stage_only
        )

    def label(self, concept_id: str) -> str:
        return self.vocabulary.concepts[concept_id].label


@dataclass
class ItemIndex(Generic[K]):
    """Items analysed once, with postings for fast scoring of many questions.

    ``search(text)`` scores only items that share a concept, a related concept, a topic or
    a term with the text — a few dozen of thousands — so routing stays in milliseconds.
    """

    matcher: Matcher
    keys: list[K] = field(default_factory=list)
    analyses: list[Analysis] = field(default_factory=list)
    _by_concept: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    _by_topic: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    _by_term: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    _concept_idf: dict[str, float] = field(default_factory=dict)
    _term_idf: dict[str, float] = field(default_factory=dict)
    _term_list: Spellings = field(default_factory=lambda: Spellings(()))
    _term_sets: list[frozenset[str]] = field(default_factory=list)
    _position: dict[K, int] = field(default_factory=dict)
    _corrections: dict[str, str | None] = field(default_factory=dict)  # typo → the items' own word
    _explaining: tuple[tuple[str, ...] | None, tuple[str, ...]] = (None, ())
    # Per item, as arrays for scoring many items at once (concepts and topics at build, terms when asked about).
    _concept_counts: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    _concept_cache: dict[str, tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]] = field(
        default_factory=dict
    )
    _topic_cache: dict[str, npt.NDArray[np.bool_]] = field(default_factory=dict)
    _credit_cache: dict[tuple[str, float, bool], tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]] = field(
        default_factory=dict
    )
    _term_cache: dict[str, npt.NDArray[np.intp]] = field(default_factory=dict)

    @classmethod
    def build(cls, matcher: Matcher, items: Iterable[tuple[K, str]]) -> ItemIndex[K]:
        index = cls(matcher=matcher)
        for key, text in items:
            index._add(key, matcher.analyse(text))
        index._finish()
        return index

    def __len__(self) -> int:
        return len(self.keys)

    def forget(self) -> None:
        """Drop the remembered typo corrections (benchmarks read every question from cold)."""
        self._corrections.clear()
        self._explaining = (None, ())

    def _add(self, key: K, analysis: Analysis) -> None:
        i = len(self.keys)
        self.keys.append(key)
        self.analyses.append(analysis)
        self._term_sets.append(frozenset(analysis.terms))
        self._position.setdefault(key, i)
        for c in analysis.concepts | analysis.related:
            self._by_concept[c].append(i)
        for t in analysis.topics:
            self._by_topic[t].append(i)
        for t in analysis.terms:
            self._by_term[t].append(i)

    def _finish(self) -> None:
        n = max(1, len(self.keys))
        concept_df: dict[str, int] = defaultdict(int)
        for a in self.analyses:
            for c in a.concepts:
                concept_df[c] += 1
        self._concept_idf = {c: math.log(1 + n / df) for c, df in concept_df.items()}
        self._term_idf = {t: math.log(1 + n / len(ids)) for t, ids in self._by_term.items()}
        self._term_list = Spellings(sorted(t for t in self._by_term if len(t) >= 4 and not t[0].isdigit()))
        self._concept_counts = np.array([len(a.concepts) for a in self.analyses], dtype=np.int64)
        self._concept_cache.clear()
        self._topic_cache.clear()
        self._credit_cache.clear()
        self._term_cache.clear()
        for c in self._by_concept:  # worked out once here, rather than by the first questions
            self._concept_arrays(c)
        for t in self._by_topic:
            self._topic_array(t)

    def concept_idf(self, concept: str) -> float:
        weight = self.matcher.vocabulary.concepts[concept].weight
        return weight * self._concept_idf.get(concept, math.log(1 + max(1, len(self.keys))))

    def term_idf(self, term: str) -> float:
        if term in GENERIC_TERMS:
            return 0.15
        return self._term_idf.get(term, math.log(1 + max(1, len(self.keys))))

    def _correct_terms(self, terms: Sequence[str]) -> tuple[str, ...]:
        out = []
        for t in terms:
            if t in self._by_term or len(t) < 5 or any(c.isdigit() for c in t) or is_english_stem(t):
                out.append(t)
                continue
            if t not in self._corrections:
                if len(self._corrections) >= 16384:
                    self._corrections.clear()
                self._corrections[t] = nearest(t, self._term_list)
            out.append(self._corrections[t] or t)
        return tuple(dict.fromkeys(out))

    def search(
        self, text: str | Analysis, *, limit: int = 50, min_score: float = 0.0, explain: bool = True
    ) -> list[Match[K]]:
        """Items best first, each with its score (0–1) and what matched (``explain=False``
        leaves that out, for :meth:`explain` to add to the few matches that are shown)."""
        q = self.matcher.analyse(text) if isinstance(text, str) else text
        found = self._ranked(q, limit, min_score)
        if not explain:
            return [Match(self.keys[i], score, (), (), direct) for i, score, direct in found]
        terms = self._correct_terms(q.terms)
        results: list[Match[K]] = []
        for i, score, direct in found:
            matched, shared = self._explain(q, terms, self.analyses[i], self._term_sets[i])
            results.append(Match(self.keys[i], score, matched, shared, direct))
        return results

    def ranked(self, q: Analysis, *, limit: int = 50, min_score: float = 0.0) -> Ranked:
        """:meth:`search` without making matches, as arrays: the items' places (in
        :attr:`keys`), scores and whether each answers the question directly, best first
        (what routing reads of every match)."""
        if q.empty or not self.keys:
            return _NOTHING
        terms = self._correct_terms(q.terms)
        candidates: set[int] = set()
        for c in q.concepts | q.related:
            candidates.update(self._by_concept.get(c, ()))
        # Items sharing only a topic cannot reach a useful score on their own: not candidates.
        for t in terms:
            if t not in GENERIC_TERMS:
                candidates.update(self._by_term.get(t, ()))
        vocab = self.matcher.vocabulary
        # What does not depend on the item, worked out once: (concept, idf, exact-worthy, topic).
        asked = [
            (
                c,
                self.concept_idf(c) * (STAGE_ONLY_CREDIT if c in q.stage_only else 1.0),
                vocab.concepts[c].weight >= 1.0,
                vocab.concepts[c].topic,
            )
            for c in q.concepts
        ]
        q_concept_total = sum(w for _, w, _, _ in asked)
        term_weights = {t: self.term_idf(t) for t in terms}
        q_term_total = sum(term_weights[t] for t in terms) or 1.0
        if not candidates:
            return _NOTHING
        # In the candidates' own order (the sort below keeps it among equal scores).
        order = np.fromiter(candidates, dtype=np.intp, count=len(candidates))
        scores, direct = self._scores(q, asked, terms, term_weights, order, q_concept_total, q_term_total)
        above = np.flatnonzero(scores > min_score)
        best = above[np.argsort(-scores[above], kind="stable")][:limit]
        return Ranked(order[best], scores[best], direct[best])

    def _ranked(self, q: Analysis, limit: int, min_score: float) -> list[tuple[int, float, bool]]:
        """:meth:`ranked` as a list: place, score, direct."""
        r = self.ranked(q, limit=limit, min_score=min_score)
        return list(zip(r.places.tolist(), r.scores.tolist(), r.direct.tolist(), strict=True))

    def _scores(
        self,
        q: Analysis,
        asked: list[tuple[str, float, bool, str]],
        terms: tuple[str, ...],
        term_weights: dict[str, float],
        candidates: npt.NDArray[np.intp],
        q_concept_total: float,
        q_term_total: float,
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
        """How much of the question's meaning each candidate covers (0–1), and whether it
        answers it directly: :meth:`_scores_plain`'s loop, one array operation per concept
        and term of the question instead of per item. The sums are made in the same order
        (adding nothing for a concept or term an item lacks leaves its sum as it was), so the
        scores are the same floats."""
        n = len(candidates)
        hits = np.zeros(n)
        exact = np.zeros(n, dtype=np.bool_)
        named = np.zeros(n, dtype=np.bool_)
        answers = np.zeros(n, dtype=np.bool_)
        main = {c for c, _, full, _ in asked if full and c not in q.stage_only}
        for c, w, full_weight, topic in asked:
            all_credit, all_named = self._concept_credit(c, w, topic, c in q.stage_only)
            hits += all_credit[candidates]
            named_here = all_named[candidates]
            named |= named_here
            if full_weight:
                exact |= named_here
            if c in main:
                answers |= named_here
        covered = np.zeros(len(self.keys))  # for every item: then one gather, not one per term
        for t in terms:
            covered[self._term_places(t)] += term_weights[t]  # each item once per term
        term_cov = covered[candidates] / q_term_total
        if asked:
            concept_cov = np.minimum(1.0, hits / q_concept_total) if q_concept_total else np.zeros(n)
            sizes = self._concept_counts[candidates]
            near = np.zeros(n, dtype=np.int64)
            for c in q.concepts | q.related:
                near += self._concept_arrays(c)[0][candidates]
            focus = np.divide(near, sizes, out=np.zeros(n), where=sizes > 0)
            score = CONCEPT_WEIGHT * concept_cov + TERM_WEIGHT * term_cov + FOCUS_BONUS * focus
            score = np.where(answers if main else exact, score, score * INDIRECT_FACTOR)  # only near: weaker
            return np.minimum(1.0, score), answers if main else named
        return np.minimum(1.0, NO_CONCEPT_FACTOR * term_cov), np.ones(n, dtype=np.bool_)

    def _concept_credit(
        self, c: str, w: float, topic: str, stage_only: bool
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
        """Per item: what question concept ``c`` (of weight ``w``, named only by a stage when
        ``stage_only``) adds to its hits, and whether the item names it — worked out once
        per concept and reading (``w`` is the concept's idf, as the index has it, or a
        share of it). An item naming it only by a stage ("key stage 4 options") gets a
        share; one naming a concept a step away, or of its topic, less."""
        key = (c, w, stage_only)
        found = self._credit_cache.get(key)
        if found is None:
            has, stage, related = self._concept_arrays(c)
            near_only = np.where(related, RELATED_CREDIT * w, np.where(self._topic_array(topic), TOPIC_CREDIT * w, 0.0))
            if stage_only:
                named = has
                credit = np.where(has, w, near_only)
            else:
                only_stage = has & stage
                named = has & ~only_stage
                credit = np.where(named, w, np.where(only_stage, STAGE_ONLY_CREDIT * w, near_only))
            if (len(self._credit_cache) + 1) * len(self.keys) > CREDIT_KEPT:
                self._credit_cache.clear()
            found = self._credit_cache[key] = (credit, named)
        return found

    def _concept_arrays(
        self, concept: str
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """Per item: it names ``concept``; it names it only by a stage; it names one a step away."""
        found = self._concept_cache.get(concept)
        if found is None:
            n = len(self.keys)
            has, stage, related = np.zeros(n, np.bool_), np.zeros(n, np.bool_), np.zeros(n, np.bool_)
            for i in self._by_concept.get(concept, ()):
                a = self.analyses[i]
                has[i] = concept in a.concepts
                stage[i] = concept in a.stage_only
                related[i] = concept in a.related
            found = self._concept_cache[concept] = (has, stage, related)
        return found

    def _topic_array(self, topic: str) -> npt.NDArray[np.bool_]:
        found = self._topic_cache.get(topic)
        if found is None:
            found = self._topic_cache[topic] = np.zeros(len(self.keys), np.bool_)
            found[self._by_topic.get(topic, [])] = True
        return found

    def _term_places(self, term: str) -> npt.NDArray[np.intp]:
        """The places of the items that hold ``term``, each once, in order."""
        found = self._term_cache.get(term)
        if found is None:
            found = np.array(self._by_term.get(term, ()), dtype=np.intp)
            if len(self._term_cache) >= 16384:
                self._term_cache.clear()
            self._term_cache[term] = found
        return found

    def _scores_plain(
        self,
        q: Analysis,
        asked: list[tuple[str, float, bool, str]],
        terms: tuple[str, ...],
        term_weights: dict[str, float],
        candidates: set[int],
        q_concept_total: float,
        q_term_total: float,
    ) -> list[tuple[int, float, bool]]:
        """How much of the question's meaning each candidate covers (0–1), in one loop: what
        :meth:`_scores` works out with arrays (tests compare them, bit for bit)."""
        near = q.concepts | q.related
        weighted_terms = [(t, term_weights[t]) for t in terms]
        analyses, term_sets = self.analyses, self._term_sets
        out: list[tuple[int, float, bool]] = []
        # An item answers the question directly when it names one of the question's main
        # concepts (of full weight, named by more than a stage: "Year 12" alone is not what
        # "Retention of students in Year 12" is about); a question with none ("governor
        # training", "early years provision") is answered by any item naming one of its own.
        main = {c for c, _, full, _ in asked if full and c not in q.stage_only}
        for i in candidates:
            item = analyses[i]
            item_concepts, item_related, item_topics, item_terms = (
                item.concepts, item.related, item.topics, term_sets[i]
            )  # fmt: skip
            concept_hits = 0.0
            exact = named = answers = False
            for c, w, full_weight, topic in asked:
                if c in item_concepts:
                    if c in item.stage_only and c not in q.stage_only:  # only the stage: "key stage 4 options"
                        concept_hits += STAGE_ONLY_CREDIT * w
                        continue
                    exact = exact or full_weight
                    named = True
                    answers = answers or c in main
                    concept_hits += w
                elif c in item_related:  # one step away, in either direction
                    concept_hits += RELATED_CREDIT * w
                elif topic in item_topics:
                    concept_hits += TOPIC_CREDIT * w
            term_cov = sum([w for t, w in weighted_terms if t in item_terms]) / q_term_total
            if asked:
                concept_cov = min(1.0, concept_hits / q_concept_total) if q_concept_total else 0.0
                focus = len(item_concepts & near) / len(item_concepts) if item_concepts else 0.0
                score = CONCEPT_WEIGHT * concept_cov + TERM_WEIGHT * term_cov + FOCUS_BONUS * focus
                if not (answers if main else exact):
                    score *= INDIRECT_FACTOR  # only near the question (related, same topic): a weaker match
            else:
                score = NO_CONCEPT_FACTOR * term_cov
            out.append((i, min(1.0, score), answers if main else named or not asked))
        return out

    def phase_of(self, key: K) -> str | None:
        """The phase the item's own words point to ("in a large secondary"), if any."""
        return self.analyses[self._position[key]].phase

    def answered(self, q: Analysis, key: K) -> frozenset[str]:
        """The concepts of ``q`` that the item ``key`` answers (a stage named on either side is not one)."""
        item = self.analyses[self._position[key]]
        return (q.concepts - q.stage_only) & (item.concepts - item.stage_only)

    def explain(self, text: str | Analysis, match: Match[K]) -> Match[K]:
        """``match`` (from ``search(..., explain=False)``) with the concepts and stems that made it."""
        q = self.matcher.analyse(text) if isinstance(text, str) else text
        i = self._position[match.key]
        if self._explaining[0] != q.terms:  # the same question's matches are explained in turn
            self._explaining = (q.terms, self._correct_terms(q.terms))
        matched, shared = self._explain(q, self._explaining[1], self.analyses[i], self._term_sets[i])
        return Match(match.key, match.score, matched, shared, match.direct)

    def _explain(
        self, q: Analysis, terms: tuple[str, ...], item: Analysis, item_terms: frozenset[str]
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The concept labels that made a match, strongest first, and the stems it shares."""
        matched: list[tuple[float, str]] = []
        vocab = self.matcher.vocabulary
        for c in q.concepts:
            w = self.concept_idf(c)
            if c in item.concepts:
                matched.append((w, self.matcher.label(c)))
            elif c in item.related:
                near = [r for r in item.concepts if r in vocab.concepts[c].related or c in vocab.concepts[r].related]
                matched.append((RELATED_CREDIT * w, self.matcher.label(near[0]) if near else self.matcher.label(c)))
        matched.sort(key=lambda m: (-m[0], m[1]))  # ties by label: the same on every run
        labels = tuple(dict.fromkeys(label for _, label in matched))
        return labels, tuple(t for t in terms if t in item_terms)
