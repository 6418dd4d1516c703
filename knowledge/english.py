"""Ordinary English words, so that typo tolerance corrects only what is not a word.

"recently" is not a typo of "reception", nor "attack" of "attachment", nor "timer" of
"timetable": a word found in an English dictionary is taken as written. The dictionary is
data shipped beside this module, ``english_stems.txt``: the Snowball stems (of five letters
or more; shorter words are never corrected) of the lower-case words of SCOWL's British
English list up to size 50 — Debian's ``wbritish`` package, the common ``/usr/share/dict``
word list. SCOWL is free to use, copy and distribute with its copyright notice, which is in
``english_stems.LICENSE``.

Regenerate it (after a stemmer change, say) with::

    python -m knowledge.english /usr/share/dict/british-english > knowledge/english_stems.txt
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from knowledge.text import stem

PATH = Path(__file__).with_name("english_stems.txt")
MIN_STEM = 5  # as knowledge.vocabulary.FUZZY_MIN_LENGTH: shorter words are never corrected

HEADER = """\
# Stems of ordinary English words: a word whose stem is listed here is not a typo.
# Derived from SCOWL (Spell Checker Oriented Word Lists, Kevin Atkinson), British English
# up to size 50, as Debian's wbritish package installs it (/usr/share/dict/british-english):
# the lower-case words (no names, no abbreviations), Snowball English stems of 5+ letters.
# Copyright notice and licence: english_stems.LICENSE. Made by: python -m knowledge.english
"""


@lru_cache(maxsize=1)
def english_stems() -> frozenset[str]:
    """The shipped stems (read once)."""
    lines = PATH.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def is_english_stem(s: str) -> bool:
    """Whether ``s`` (a stem from :func:`knowledge.text.stem`) is the stem of an English word."""
    return s in english_stems()


def build(words: Iterable[str]) -> list[str]:
    """The lines of ``english_stems.txt`` from a word list (one word a line)."""
    stems = set()
    for line in words:
        word = line.strip()
        if word.isascii() and word.isalpha() and word.islower():
            s = stem(word)
            if len(s) >= MIN_STEM:
                stems.add(s)
    return sorted(stems)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    source = Path(args[0] if args else "/usr/share/dict/british-english")
    with source.open(encoding="utf-8") as f:
        lines = build(f)
    sys.stdout.write(HEADER + "".join(s + "\n" for s in lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
