"""The pupil-data guard: does a text look like it identifies a pupil?

Checked before anything is routed or stored. It looks for a pupil's full name next to
pupil context ("Jayden Smith in Y4"), dates of birth, UPNs (a letter and 12 digits),
home addresses and postcodes. Findings say *what kind* of data it looks like — never
the data itself — so a warning, a log line or a flag can be shown safely::

    >>> check("Jayden Smith (Y4, DOB 12/03/2017) keeps running out").detail
    "looks like a pupil's full name and a date of birth"

:func:`redact` replaces what was found with ``[removed]``; it is the only form of a
flagged text that peerbot keeps. Reusable by any part of the core (the knowledge base
checks uploads with it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

Kind = Literal["name", "dob", "upn", "address", "postcode"]

REMOVED = "[removed]"

_DESCRIBE: dict[str, str] = {
    "name": "a pupil's full name",
    "dob": "a date of birth",
    "upn": "a UPN (unique pupil number)",
    "address": "a home address",
    "postcode": "a postcode",
}
_ORDER: tuple[Kind, ...] = ("name", "dob", "upn", "address", "postcode")


@dataclass(frozen=True, slots=True)
class Finding:
    kind: Kind
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Check:
    findings: tuple[Finding, ...]

    @property
    def found(self) -> bool:
        return bool(self.findings)

    @property
    def kinds(self) -> list[Kind]:
        present = {f.kind for f in self.findings}
        return [k for k in _ORDER if k in present]

    @property
    def detail(self) -> str:
        """``"looks like a pupil's full name and a date of birth"``: never the data itself."""
        parts = [_DESCRIBE[k] for k in self.kinds]
        if not parts:
            return ""
        joined = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        return f"looks like {joined}"

    def flags(self) -> list[dict[str, Any]]:
        """The ``flags`` entries of formats.md: ``[{"kind": "pupil-data", "detail": ...}]``."""
        return [{"kind": "pupil-data", "detail": self.detail}] if self.found else []


# -- names ------------------------------------------------------------------------------
# Given names that are also ordinary words: only matched when written with a capital.
_WORDLIKE_NAMES = frozenset(
    """
    amber angel archer august autumn bailey blake bonnie brooke carter casey chase cole cruz daisy dakota darcy
    dawn eden faith fern grace hallie harley harper holly honey hope hudson hunter ivy jade jay joy kai leo
    lily lincoln mark mason max may miles ocean olive paige patrick piper poppy ray reggie river robin rosa
    rose rowan ruby sadie sam summer taylor violet will willow wyatt penny rory teddy billy bobby tommy jack
    jude stanley austin harry louis frank
    """.split()
)
# Words after a capitalised given name that show it is not a person's surname.
_NOT_SURNAMES = frozenset(
    """
    class classes group groups room base team house hall centre center trust term fund class's academy school
    primary junior infant infants nursery college federation church road street lane avenue close drive way
    park court grove award programme scheme project hub network partnership day days week weeks month year
    years unit wing block site hill campus library
    """.split()
)
_TITLES = ("mr", "mrs", "miss", "ms", "mx", "dr", "prof", "revd", "rev", "sir", "dame")
_ADULT_CONTEXT = re.compile(
    r"\b(?:our|my|the|a|new)\s+(?:ta|tas|hlta|teacher|head|headteacher|deputy|senco|dsl|sbm|ect|lsa|"
    r"colleague|chair|governor|clerk|consultant|adviser|advisor|trainer|inspector|officer|manager|"
    r"lead|caretaker|cook|admin|head\s+of\s+\w+)\b[^.?!]{0,3}$",
    re.I,
)
_PUPIL_CONTEXT = re.compile(
    r"\b(?:pupils?|child(?:ren)?|kids?|students?|boy|girl|son|daughter|learners?|toddler|"
    r"y(?:ear)?\s?(?:[1-9]|1[0-3])\b|yr\s?\d{1,2}|reception|nursery|class|ks[1-5]|eyfs|"
    r"mum|mom|dad|parents?|carers?|step ?dad|step ?mum|nan|grandparents?|foster|siblings?|brother|sister|"
    r"ehcp|sen support|send|excluded|exclusion|suspended|suspension|pex|cp plan|child protection|cin|"
    r"looked after|lac|cla|pla|disclosure|social worker|attendance|absent|hasn'?t been in|"
    r"diagnos\w*|adhd|autis\w*|asd|semh|behaviour|referral|camhs|self.harm|aged?\s\d{1,2}|"
    r"\d{1,2}\s?(?:yo|year\s?old|years?\s?old)|dob|d\.o\.b|date of birth|born|upn|absconding|absconded)\b",
    re.I,
)
_PUPIL_PREMIUM = re.compile(r"\bpupil premium\b", re.I)
_CAP_WORD = re.compile(r"\b([A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?)\b")
_ANY_WORD = re.compile(r"\b([A-Za-z][a-z]+(?:[-'][A-Za-z]?[a-z]+)?)\b")


@lru_cache(maxsize=1)
def first_names() -> frozenset[str]:
    text = resources.files("bot").joinpath("data", "first_names.txt").read_text(encoding="utf-8")
    return frozenset(w for line in text.splitlines() if not line.startswith("#") for w in line.split())


_LOWER_SURNAME_STOP = frozenset(
    """
    is was has had and or but in on at to for with from who which that this the a an of by as be been being
    are were will would can could should may might must not no yes so if then than also just only still
    y1 y2 y3 y4 y5 y6 y7 y8 y9 y10 y11 y12 y13 year reception nursery class keeps kept needs needed
    """.split()
)


def _names(text: str) -> list[Finding]:
    names = first_names()
    out: list[Finding] = []
    for m in _ANY_WORD.finditer(text):
        first = m.group(1)
        lower = first.lower()
        if lower not in names and lower.split("-")[0] not in names:
            continue
        capitalised = first[0].isupper()
        if not capitalised and lower in _WORDLIKE_NAMES:
            continue
        # The next word is the surname candidate.
        rest = text[m.end() :]
        nxt = re.match(r"\s+([A-Za-z][A-Za-z'-]+)", rest)
        if not nxt:
            continue
        surname = nxt.group(1)
        s_lower = surname.lower().strip("'-")
        if capitalised and not surname[0].isupper():
            continue
        if not capitalised and (s_lower in _LOWER_SURNAME_STOP or s_lower in names or len(s_lower) < 3):
            continue
        if s_lower.rstrip("s") in _NOT_SURNAMES or s_lower in _NOT_SURNAMES:
            continue
        before = text[max(0, m.start() - 40) : m.start()]
        if re.search(r"\b(?:" + "|".join(_TITLES) + r")\.?\s*$", before, re.I) or _ADULT_CONTEXT.search(before):
            continue
        end = m.end() + nxt.end()
        if not _near_pupil_context(text, m.start(), end):
            continue
        out.append(Finding("name", m.start(), end))
    return out


def _near_pupil_context(text: str, start: int, end: int, reach: int = 80) -> bool:
    window = text[max(0, start - reach) : start] + " " + text[end : end + reach]
    window = _PUPIL_PREMIUM.sub(" ", window)
    return bool(_PUPIL_CONTEXT.search(window))


# -- dates of birth -----------------------------------------------------------------------
_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_DATE = re.compile(
    r"\b(?:"
    r"(?P<d1>\d{1,2})[/.\-](?P<m1>\d{1,2})[/.\-](?P<y1>\d{2}|\d{4})"
    r"|(?P<d2>\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTHS + r",?\s+(?P<y2>\d{4})"
    r"|" + _MONTHS + r"\s+(?P<d3>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<y3>\d{4})"
    r"|(?P<iy>\d{4})-(?P<im>\d{2})-(?P<id>\d{2})"
    r")\b",
    re.I,
)
_DOB_WORDS = re.compile(r"\b(?:d\.?\s?o\.?\s?b\.?|date\s+of\s+birth|born(?:\s+on)?|birthday|b\.?\s?d\.?)\W{0,3}$", re.I)
_BORN_YEAR = re.compile(
    r"\b(?:dob|d\.o\.b\.?|date of birth|born)\b[:\s]*(?:in\s+)?" + _MONTHS + r"?\s*(19|20)\d{2}\b", re.I
)


def _year_of(m: re.Match[str]) -> int | None:
    raw = m.group("y1") or m.group("y2") or m.group("y3") or m.group("iy")
    if raw is None:
        return None
    year = int(raw)
    if year < 100:
        year += 2000 if year <= 40 else 1900
    return year


def _dates_of_birth(text: str, today: date) -> list[Finding]:
    out: list[Finding] = []
    pupil_context = _near_pupil_context(text, 0, 0, reach=len(text)) if text else False
    for m in _DATE.finditer(text):
        year = _year_of(m)
        before = text[max(0, m.start() - 25) : m.start()]
        keyword = bool(_DOB_WORDS.search(before))
        childish = year is not None and today.year - 19 <= year <= today.year - 2
        if keyword or (childish and pupil_context):
            out.append(Finding("dob", m.start(), m.end()))
    for m in _BORN_YEAR.finditer(text):
        if not any(f.start <= m.start() < f.end or m.start() <= f.start < m.end() for f in out):
            out.append(Finding("dob", m.start(), m.end()))
    return out


# -- UPNs, postcodes, addresses ------------------------------------------------------------
_UPN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z](?:[ -]?\d){11}[ -]?[0-9A-Za-z](?![A-Za-z0-9])")

# Postcode areas of the UK, so that "KS2 3RD" or "Y6 2ND" are not taken for postcodes.
_AREAS = frozenset(
    """
    AB AL B BA BB BD BH BL BN BR BS BT CA CB CF CH CM CO CR CT CV CW DA DD DE DG DH DL DN DT DY E EC EH EN EX FK
    FY G GL GU HA HD HG HP HR HS HU HX IG IP IV KA KT KW KY L LA LD LE LL LN LS LU M ME MK ML N NE NG NN NP NR
    NW OL OX PA PE PH PL PO PR RG RH RM S SA SE SG SK SL SM SN SO SP SR SS ST SW SY TA TD TF TN TQ TR TS TW UB W
    WA WC WD WF WN WR WS WV YO ZE GY JE IM
    """.split()
)
_POSTCODE = re.compile(r"\b([A-Za-z]{1,2})(\d[A-Za-z\d]?)\s*(\d)([A-Za-z]{2})\b")
_ORDINALS = frozenset({"st", "nd", "rd", "th"})
_STREET = (
    r"(?:road|rd|street|avenue|ave|lane|close|drive|crescent|gardens|grove|terrace|mews|rise|parade|"
    r"place|court|walk|way|square|hill|view|park|row|green)"
)
_ADDRESS = re.compile(
    r"\b(?:flat\s+\d+[a-z]?,?\s+)?(\d{1,4}[a-z]?)\s+((?:[A-Za-z][a-z'-]+\s+){1,3})" + _STREET + r"\b", re.I
)
_MEASURES = frozenset(
    """
    minute minutes min mins hour hours hr hrs day days week weeks month months year years term terms mile miles
    metre metres meter meters km pupil pupils child children staff form forms class classes point points step
    steps page pages lesson lessons session sessions percent per times time way part
    """.split()
)
_STRONG_STREETS = frozenset({"road", "rd", "street", "avenue", "ave", "lane", "close", "drive", "crescent", "gardens"})


def _postcodes(text: str) -> list[Finding]:
    out = []
    for m in _POSTCODE.finditer(text):
        area, _district, _sector, unit = m.group(1).upper(), m.group(2), m.group(3), m.group(4)
        if area not in _AREAS or unit.lower() in _ORDINALS:
            continue
        if set(unit.upper()) & set("CIKMOV"):
            continue
        out.append(Finding("postcode", m.start(), m.end()))
    return out


def _addresses(text: str) -> list[Finding]:
    out = []
    for m in _ADDRESS.finditer(text):
        street_words = m.group(2).split()
        if any(w.lower() in _MEASURES for w in street_words):
            continue
        suffix = m.group(0).split()[-1].lower()
        capitalised = all(w[0].isupper() for w in street_words)
        if not capitalised and suffix not in _STRONG_STREETS:
            continue
        out.append(Finding("address", m.start(), m.end()))
    return out


def _upns(text: str) -> list[Finding]:
    out = []
    for m in _UPN.finditer(text):
        digits = sum(c.isdigit() for c in m.group(0))
        if digits >= 12:
            out.append(Finding("upn", m.start(), m.end()))
    return out


def check(text: str, *, today: date | None = None) -> Check:
    """Everything in ``text`` that looks like pupil-identifiable data."""
    today = today or date.today()
    found = [*_names(text), *_dates_of_birth(text, today), *_upns(text), *_addresses(text), *_postcodes(text)]
    found.sort(key=lambda f: (f.start, -f.end))
    return Check(findings=tuple(found))


def redact(text: str, result: Check | None = None) -> str:
    """``text`` with every finding replaced by ``[removed]`` (overlaps merged)."""
    result = result if result is not None else check(text)
    if not result.found:
        return text
    spans: list[list[int]] = []
    for f in sorted(result.findings, key=lambda f: f.start):
        if spans and f.start <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], f.end)
        else:
            spans.append([f.start, f.end])
    out, pos = [], 0
    for start, end in spans:
        out.append(text[pos:start])
        out.append(REMOVED)
        pos = end
    out.append(text[pos:])
    return "".join(out)
