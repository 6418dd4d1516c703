"""Text analysis shared by routing, search and the audit analysis.

One pipeline, so that a question, an audit strength and a knowledge-base entry are cut
into the same terms: fold (Unicode, case, apostrophes, dashes) → words → drop stop words
→ Snowball (Porter 2) stems.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import snowballstemmer
from rapidfuzz import process
from rapidfuzz.distance import OSA

_WORD = re.compile(r"[a-z0-9]+(?:[.][a-z0-9]+)*")
_APOSTROPHES = str.maketrans({"\u2019": "", "\u2018": "", "'": "", "`": ""})
_DASHES = re.compile(r"[\u2010-\u2015\-/_]+")

# English function words plus the filler of a quick chat question ("has anyone got ...").
STOPWORDS = frozenset(
    """
    a about above after again against all am an and any anyone anybody are as at be because been before being
    below between both but by can could did do does doing done down during each else ever every few for from
    further get gets getting got had has have having he her here hers herself him himself his how i if in into
    is it its itself just let like me might more most much must my myself no nor not now of off on once only
    or other our ours ourselves out over own please quick quickly re really same shall she should so some
    somebody someone something such than thank thanks that the their theirs them themselves then there these
    they this those through to too under until up us very was we were what when where which while who whom
    why will with would you your yours yourself yourselves hi hello hey morning afternoon all folks everyone
    colleagues hiya cheers tips advice help helpful anybody anyones idea ideas thought thoughts wondering
    wonder know knows done deal dealt handle handled handling manage managed managing approach approached
    way ways best experience experiences recommend recommendations suggestions suggest school schools
    wont dont cant isnt arent didnt doesnt havent hasnt wasnt werent couldnt shouldnt wouldnt ive im id
    youre theyre weve
    """.split()
)

_stemmer = snowballstemmer.stemmer("english")


def fold(text: str) -> str:
    """Compatibility-normalised, case-folded text with apostrophes removed and dashes as spaces."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(_APOSTROPHES)
    return _DASHES.sub(" ", text)


def words(text: str) -> list[str]:
    """The folded words of ``text`` in order ("Y9's EHCP" → ["y9s", "ehcp"])."""
    return _WORD.findall(fold(text))


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The Snowball stem of one folded word; short words and tokens with digits are kept."""
    if len(word) <= 3 or any(c.isdigit() for c in word):
        return word
    result: str = _stemmer.stemWord(word)
    return result


def is_stopword(word: str) -> bool:
    return word in STOPWORDS


def terms(text: str) -> list[str]:
    """Index/search terms: stems of the words that carry meaning, in order."""
    return [stem(w) for w in words(text) if w not in STOPWORDS]


_SIGNATURE_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"


def signature(term: str) -> int:
    """The set of characters in ``term``, one bit each (anything unusual shares bit 63).

    A substitution changes this set by at most two characters, an insertion or a deletion
    by at most one, a swap of neighbours by none; and terms whose lengths differ by ``d``
    are at least ``d`` insertions or deletions apart. So terms within ``k`` edits differ in
    at most ``2k - d`` bits (:func:`within_reach`): a cheap, exact filter before the real
    distance is computed.
    """
    bits = 0
    for ch in term:
        i = _SIGNATURE_CHARS.find(ch)
        bits |= 1 << (i if i >= 0 else 63)
    return bits


def within_reach(bits: npt.NDArray[np.uint64], gap: int | npt.NDArray[np.int32], limit: int) -> npt.NDArray[np.bool_]:
    """Which terms may be within ``limit`` edits of a term, given their :func:`signature`
    differences from it (``bits``: the XOR) and their length differences (``gap``): at most
    ``2 * limit - gap`` bits apart."""
    return np.bitwise_count(bits) <= 2 * limit - np.asarray(gap)


class Spellings:
    """A fixed list of words that typos are matched to, with what makes that cheap: a word
    within ``k`` edits of another differs from it in length by at most ``k`` and in
    :func:`signature` by at most ``2k`` bits less that difference, so only the few words
    passing both tests need their true edit distance measured."""

    def __init__(self, words: Sequence[str]) -> None:
        self.words = tuple(words)
        self._lengths = np.array([len(w) for w in self.words], dtype=np.int32)
        self._signatures = np.array([signature(w) for w in self.words], dtype=np.uint64)

    def __len__(self) -> int:
        return len(self.words)

    def candidates(self, word: str, limit: int) -> list[str]:
        """The words that may be within ``limit`` edits of ``word``, in the list's own order."""
        if not self.words:
            return []
        gap = np.abs(self._lengths - len(word))
        near = gap <= limit
        near &= within_reach(self._signatures ^ np.uint64(signature(word)), gap, limit)
        return [self.words[i] for i in np.flatnonzero(near).tolist()]


SHORT_WORD = 7  # below this, a typo keeps the word's length (a swap or a wrong letter)


def nearest(word: str, choices: Spellings, limit: int | None = None) -> str | None:
    """The word in ``choices`` that ``word`` is most likely a typo of, or ``None``.

    Within one edit (two for words of eight letters or more), a swap of neighbours
    counting as one. Short words only match words of their own length, so "spend" is not
    read as "send", and a word that merely extends another ("contractor", "contract") is
    a different word, not a typo. Callers cache the answers.
    """
    limit = limit if limit is not None else (1 if len(word) < 8 else 2)
    candidates = choices.candidates(word, limit)
    if len(word) < SHORT_WORD:
        candidates = [c for c in candidates if len(c) == len(word)]
    hit = process.extractOne(word, candidates, scorer=OSA.distance, score_cutoff=limit)
    if not hit:
        return None
    found = str(hit[0])
    if word.startswith(found) or found.startswith(word):
        return None
    return found
