"""The education vocabulary: topics, concepts, and the phrases and acronyms for each.

It is data, not code: ``knowledge/vocabulary.toml`` ships with peerbot and a network may
add its own file in the same format (a convenor's local terms, a trust's names for
things). Routing, knowledge-base search and the audit analysis all read it through
:class:`Vocabulary`, so "EBSA", "school refusal" and "emotionally based school
avoidance" mean the same thing everywhere.

Format::

    [topics.send]
    label = "SEND"
    groups = ["senco"]            # the role groups this topic belongs to, if any

    [concepts.ehcp]
    topic = "send"
    label = "Education, health and care plan"
    phrases = ["ehcp", "education health and care plan", "ehc plan"]
    related = ["annual-review"]   # other concept ids: close, but not the same thing (a phrase
                                  # of one inside a phrase of the other counts for both)
    phase = "any"                 # "primary", "secondary", "any" (default) — a hint for routing
    weight = 1.0                  # how much finding it says about a text (0.3 for "any SENCOs?")

Phrases are matched on stemmed words, the longest starting at each word (overlapping
phrases both count), with typo tolerance for longer words that are not ordinary English
words (:mod:`knowledge.english`). A one-word "-ing" phrase ("writing") matches only itself.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from knowledge.english import is_english_stem
from knowledge.text import Spellings, nearest, stem, words

if TYPE_CHECKING:
    from functools import _lru_cache_wrapper

DEFAULT_PATH = Path(__file__).with_name("vocabulary.toml")
PHASES = ("any", "primary", "secondary")
MAX_PHRASE_WORDS = 8
FUZZY_MIN_LENGTH = 5


class VocabularyError(ValueError):
    """A vocabulary file that cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class Topic:
    id: str
    label: str
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Concept:
    id: str
    label: str
    topic: str
    phrases: tuple[str, ...]
    related: tuple[str, ...] = ()
    phase: str = "any"
    weight: float = 1.0


@dataclass(frozen=True)
class Mention:
    """A concept found in a text: which words (by index into :func:`knowledge.text.words`)."""

    concept: Concept
    start: int
    end: int
    fuzzy: bool = False  # found through a typo correction
    nested: bool = False  # inside a longer phrase of a related concept


@dataclass
class Vocabulary:
    topics: dict[str, Topic] = field(default_factory=dict)
    concepts: dict[str, Concept] = field(default_factory=dict)
    # stemmed phrase → concept ids
    _phrases: dict[tuple[str, ...], list[str]] = field(default_factory=dict, repr=False)
    _known_stems: tuple[str, ...] = field(default=(), repr=False)
    _known_set: frozenset[str] = field(default_factory=frozenset, repr=False)
    # first stem of a phrase → the lengths of the phrases starting with it, longest first
    _first: dict[str, tuple[int, ...]] = field(default_factory=dict, repr=False)
    # one-word phrases that are only ever "-ing" nouns ("writing", "changing"): the words
    # that name them (the verb's other forms, "write" and "changed", do not)
    _ing_forms: dict[tuple[str, ...], dict[str, frozenset[str]]] = field(default_factory=dict, repr=False)
    # unstemmed phrase words → their stems, for typos that stemming hides ("saftey")
    _known_words: dict[str, str] = field(default_factory=dict, repr=False)
    _known_word_list: tuple[str, ...] = field(default=(), repr=False)
    _stem_spellings: Spellings = field(default_factory=lambda: Spellings(()), repr=False)
    _word_spellings: Spellings = field(default_factory=lambda: Spellings(()), repr=False)
    # concept id → the concepts that name it as related, in the vocabulary's order
    _related_to: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    _nearest_found: dict[tuple[str, bool, int | None], str | None] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, *paths: Path) -> Vocabulary:
        """Load the shipped vocabulary and then each extra file, later files adding to it."""
        vocab = cls()
        for path in (DEFAULT_PATH, *paths):
            vocab._add_file(path)
        vocab._check()
        vocab._index()
        return vocab

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, where: str = "vocabulary") -> Vocabulary:
        vocab = cls()
        vocab._add(data, where)
        vocab._check()
        vocab._index()
        return vocab

    def _add_file(self, path: Path) -> None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise VocabularyError(f"cannot read vocabulary {path}: {exc.strerror}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise VocabularyError(f"{path.name}: is not valid TOML: {exc}") from None
        self._add(data, path.name)

    def _add(self, data: dict[str, Any], where: str) -> None:
        unknown = set(data) - {"topics", "concepts"}
        if unknown:
            raise VocabularyError(f"{where}: unknown section(s) {', '.join(sorted(unknown))}")
        for tid, t in data.get("topics", {}).items():
            if not isinstance(t, dict) or not isinstance(t.get("label"), str):
                raise VocabularyError(f"{where}: topics.{tid} needs a label")
            self.topics[tid] = Topic(id=tid, label=t["label"], groups=tuple(t.get("groups", ())))
        for cid, c in data.get("concepts", {}).items():
            if not isinstance(c, dict):
                raise VocabularyError(f"{where}: concepts.{cid} should be a table")
            extra = set(c) - {"topic", "label", "phrases", "related", "phase", "weight"}
            if extra:
                raise VocabularyError(f"{where}: concepts.{cid}: unknown key(s) {', '.join(sorted(extra))}")
            phrases = c.get("phrases", [])
            if not isinstance(phrases, list) or not phrases or not all(isinstance(p, str) for p in phrases):
                raise VocabularyError(f"{where}: concepts.{cid} needs a list of phrases")
            phase = c.get("phase", "any")
            if phase not in PHASES:
                raise VocabularyError(f"{where}: concepts.{cid}.phase must be one of {', '.join(PHASES)}")
            previous = self.concepts.get(cid)
            weight = c.get("weight", previous.weight if previous else 1.0)
            if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not 0 < weight <= 5:
                raise VocabularyError(f"{where}: concepts.{cid}.weight must be a number above 0 (at most 5)")
            merged = tuple(dict.fromkeys([*(previous.phrases if previous else ()), *phrases]))
            self.concepts[cid] = Concept(
                id=cid,
                label=str(c.get("label", previous.label if previous else cid)),
                topic=str(c.get("topic", previous.topic if previous else "")),
                phrases=merged,
                related=tuple(dict.fromkeys([*(previous.related if previous else ()), *c.get("related", [])])),
                phase=phase,
                weight=float(weight),
            )

    def _check(self) -> None:
        for c in self.concepts.values():
            if c.topic not in self.topics:
                raise VocabularyError(f"concepts.{c.id}: topic '{c.topic}' is not defined")
            for r in c.related:
                if r not in self.concepts:
                    raise VocabularyError(f"concepts.{c.id}: related concept '{r}' is not defined")

    def _index(self) -> None:
        self._phrases = {}
        known: set[str] = set()
        self._known_words = {}
        for c in self.concepts.values():
            for phrase in c.phrases:
                for w in words(phrase):
                    if len(w) >= FUZZY_MIN_LENGTH and not any(ch.isdigit() for ch in w):
                        self._known_words.setdefault(w, stem(w))
                key = tuple(stem(w) for w in words(phrase))
                if not key or len(key) > MAX_PHRASE_WORDS:
                    continue
                ids = self._phrases.setdefault(key, [])
                if c.id not in ids:
                    ids.append(c.id)
                known.update(key)
        self._known_set = frozenset(known)
        self._ing_forms = {}
        single: dict[tuple[str, str], set[str]] = {}
        for c in self.concepts.values():
            for phrase in c.phrases:
                ws = words(phrase)
                if len(ws) == 1:
                    single.setdefault((stem(ws[0]), c.id), set()).add(ws[0])
        for (s, cid), forms in single.items():
            if all(w.endswith("ing") and w != s for w in forms):
                allowed = frozenset(f for w in forms for f in (w, w + "s"))
                self._ing_forms.setdefault((s,), {})[cid] = allowed
        first: dict[str, set[int]] = {}
        for key in self._phrases:
            first.setdefault(key[0], set()).add(len(key))
        self._first = {k: tuple(sorted(v, reverse=True)) for k, v in first.items()}
        self._known_stems = tuple(sorted(s for s in known if len(s) >= FUZZY_MIN_LENGTH - 1))
        self._known_word_list = tuple(self._known_words)
        self._stem_spellings = Spellings(self._known_stems)
        self._word_spellings = Spellings(self._known_word_list)
        related_to: dict[str, list[str]] = {}
        for c in self.concepts.values():
            for r in dict.fromkeys(c.related):
                related_to.setdefault(r, []).append(c.id)
        self._related_to = {r: tuple(ids) for r, ids in related_to.items()}

    # -- reading text -------------------------------------------------------------------
    def correct(self, stems: Sequence[str], raw: Sequence[str] | None = None) -> list[tuple[str, bool]]:
        """Each stem, or the vocabulary's nearest stem when it looks like a typo of one.

        ``raw`` (the unstemmed words, same order) lets a typo that stemming disguises
        ("saftey") be matched against the vocabulary's own words ("safety"). A word that
        merely extends a known stem ("contractor", "reader") is a different word, not a typo,
        and so is any ordinary English word ("recently" is not "reception", see
        :mod:`knowledge.english`).
        """
        out: list[tuple[str, bool]] = []
        for i, s in enumerate(stems):
            if s in self._known_set or len(s) < FUZZY_MIN_LENGTH or any(ch.isdigit() for ch in s) or is_english_stem(s):
                out.append((s, False))
                continue
            best = self._nearest(s, self._stem_spellings, None)
            if best is None and raw is not None and i < len(raw) and raw[i] not in self._known_words:
                word = self._nearest(raw[i], self._word_spellings, 1)
                best = self._known_words[word] if word else None
            out.append((best, True) if best else (s, False))
        return out

    def find(self, text: str) -> list[Mention]:
        """Concepts mentioned in ``text``: longest phrase first, then left to right."""
        return list(self._find_words(tuple(words(text))))

    def find_words(self, raw: Sequence[str]) -> list[Mention]:
        """:meth:`find` for a text already cut into words (:func:`knowledge.text.words`)."""
        return list(self._find_words(tuple(raw)))

    def forget(self) -> None:
        """Drop the remembered readings of recent texts (benchmarks read each from cold)."""
        self._find_words.cache_clear()
        self._nearest_found.clear()

    def _nearest(self, word: str, choices: Spellings, limit: int | None) -> str | None:
        """:func:`knowledge.text.nearest`, remembered per word (the choices are this vocabulary's own)."""
        key = (word, choices is self._stem_spellings, limit)
        if key not in self._nearest_found:
            if len(self._nearest_found) >= 32768:
                self._nearest_found.clear()
            self._nearest_found[key] = nearest(word, choices, limit)
        return self._nearest_found[key]

    @cached_property
    def _find_words(self) -> _lru_cache_wrapper[tuple[Mention, ...]]:
        # Routing and search read the same question moments apart: remember a few readings.
        return lru_cache(maxsize=256)(self._find_uncached)

    def _find_uncached(self, raw: tuple[str, ...]) -> tuple[Mention, ...]:
        stems = [stem(w) for w in raw]
        corrected = self.correct(stems, raw)
        return tuple(self._match([s for s, _ in corrected], [f for _, f in corrected], raw))

    def find_exact(self, text: str) -> list[Mention]:
        """Like :meth:`find` but without typo tolerance: for indexing whole documents."""
        raw = words(text)
        return self.find_in_stems([stem(w) for w in raw], raw)

    def find_in_stems(self, stems: Sequence[str], raw: Sequence[str] | None = None) -> list[Mention]:
        """Concepts in already-stemmed words (stop words included), matched exactly.

        ``raw`` (the words before stemming) tells "writing" from "write"; without it a
        stem stands for every word it comes from. Only positions where some phrase can
        start are tried, so this is cheap enough to run over every knowledge-base entry.
        """
        return self._match(stems, None, raw)

    def _match(
        self, stems: Sequence[str], fuzzy: Sequence[bool] | None, raw: Sequence[str] | None = None
    ) -> list[Mention]:
        """The phrases in ``stems``: at each word the longest phrase starting there.

        A one-word phrase that is an "-ing" noun matches that word (or its plural) only:
        "writing" and "changing" (nappies) are subjects, "write" and "changed" are not.

        A phrase that reaches past the phrases already found is a mention of its own, even
        where the two overlap ("SEND provision mapping" is SEND support and a provision
        map). A phrase inside a longer one counts only when the vocabulary relates their
        concepts ("writing moderation" is KS2 SATs and also writing and moderation, but
        "single central record" says nothing about music), or when it is the same concept
        read without the typo that the longer one needed ("early help" in "early help
        assesment").
        """
        found: list[Mention] = []
        outer: list[Mention] = []  # the mentions not nested in another
        reach, n = 0, len(stems)
        for i in range(n):
            for length in self._first.get(stems[i], ()):
                end = i + length
                if end > n:
                    continue
                key = tuple(stems[i:end])
                ids = self._phrases.get(key)
                if ids and raw is not None and key in self._ing_forms and not (fuzzy and fuzzy[i]):
                    only = self._ing_forms[key]
                    ids = [cid for cid in ids if cid not in only or raw[i] in only[cid]]
                if not ids:
                    continue
                typo = fuzzy is not None and any(fuzzy[i:end])
                if end > reach:
                    mentions = [Mention(self.concepts[cid], i, end, typo) for cid in ids]
                    outer.extend(mentions)
                    found.extend(mentions)
                    reach = end
                    continue
                around: dict[str, bool] = {}  # concept → read only through a typo
                for m in reversed(outer):  # their ends rise: only the last few can hold this one
                    if m.end < end:
                        break
                    if m.start <= i:
                        around[m.concept.id] = around.get(m.concept.id, True) and m.fuzzy
                found.extend(
                    Mention(self.concepts[cid], i, end, typo, nested=True)
                    for cid in ids
                    if (around[cid] and not typo if cid in around else any(self._close(cid, a) for a in around))
                )
        return found

    def _close(self, a: str, b: str) -> bool:
        return b in self.concepts[a].related or a in self.concepts[b].related

    def concept_ids(self, text: str) -> list[str]:
        return list(dict.fromkeys(m.concept.id for m in self.find(text)))

    def topic_ids(self, text: str) -> list[str]:
        return list(dict.fromkeys(m.concept.topic for m in self.find(text)))

    def related(self, concept_ids: Iterable[str]) -> set[str]:
        """Concepts one step away (both directions)."""
        ids = set(concept_ids)
        out = {r for cid in ids for r in self.concepts[cid].related}
        naming = {c for cid in ids for c in self._related_to.get(cid, ())}
        out |= {cid for cid in self.concepts if cid in naming}  # in the vocabulary's order, as before
        return out - ids


@lru_cache(maxsize=1)
def default_vocabulary() -> Vocabulary:
    return Vocabulary.load()
