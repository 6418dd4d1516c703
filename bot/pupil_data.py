"""The pupil-data guard: does a text look like it identifies a pupil?

Checked before anything is routed or stored. It looks for a pupil's full name next to
pupil context ("Jayden Smith in Y4"), dates of birth, UPNs (a letter and 12 digits),
home addresses and postcodes. Findings say *what kind* of data it looks like — never
the data itself — so a warning, a log line or a flag can be shown safely::

    >>> check("Jayden Smith (Y4, DOB 12/03/2017) keeps running out", today=date(2026, 11, 23)).detail
    "looks like a pupil's full name and a date of birth"

``today`` is always the bot's clock (it places the years a pupil's date of birth falls in).
Names are matched whatever their case or accents ("JAYDEN SMITH", "Zoë Smith") and in
register order ("Smith, Jayden (Y4)"); a title ("Mrs Smith") marks an adult.

:func:`check` is for what people type: questions, answers, agenda items — strict, since
one message is short and about one situation. :func:`check_document` is for policies and
resources, where a date is a date of birth only next to a DOB cue or a pupil's name, the
school's own address (its letterhead, or an address just after the school's name) is not
a home address, and a name labelled with a staff role ("Designated Safeguarding Lead: Jane
Smith", "Tom Birch (DSL)") is not a pupil's.

:func:`redact` replaces what was found with ``[removed]``; it is the only form of a
flagged text that peerbot keeps. Reusable by any part of the core (the knowledge base
checks uploads with it).
"""

from __future__ import annotations

import bisect
import re
import unicodedata
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
# A third word that makes "Firstname Surname ..." an organisation ("Anna Freud Centre").
_ORGANISATIONS = _NOT_SURNAMES | frozenset(
    """
    foundation foundations society institute charity service services hospital clinic university ltd limited
    associates consulting consultancy education learning partnership partnerships museum theatre
    """.split()
)
_TITLES = ("mr", "mrs", "miss", "ms", "mx", "dr", "prof", "revd", "rev", "sir", "dame")
_TITLE_BEFORE = re.compile(r"\b(?:" + "|".join(_TITLES) + r")\.?\s*$", re.I)
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
# A word of letters in any script and case, with an inner hyphen or apostrophe ("Lily-Mae").
_LETTERS = r"[^\W\d_]"
_WORD = re.compile(rf"(?<![\w'’-])({_LETTERS}{{2,}}(?:[-'’]{_LETTERS}+)?)(?![\w'’-]*\w)")
_NEXT_WORD = re.compile(rf"[ \t]+({_LETTERS}(?:{_LETTERS}|['’-])+)")
_THIRD_WORD = re.compile(rf"[ \t]+({_LETTERS}+)")


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
# Words that start a clause before a comma ("However, Jayden ..."): not surnames.
_COMMA_STOP = _LOWER_SURNAME_STOP | frozenset(
    """
    however yes no hi hello hey dear thanks thank morning afternoon evening ok okay so well now then again sorry
    please anyway meanwhile today yesterday tomorrow tonight first second third next last also plus note update
    monday tuesday wednesday thursday friday saturday sunday january february march april june july august
    september october november december autumn spring summer term half sadly luckily recently currently
    maths math english science phonics reading writing spelling grammar history geography art music computing pe
    french spanish german languages rshe pshe re dt drama dance sport sports swimming forest breakfast lunch
    """.split()
)
_TIGHT_PUPIL_MARK = re.compile(
    rf"(?:[ \t]+{_LETTERS}+)?[ \t]*[(,;:|–—-]?[ \t]*(?:in[ \t]+)?"
    r"(?:y(?:ear)?\s?(?:[1-9]|1[0-3])\b|yr\s?\d{1,2}\b|reception\b|nursery\b|class\b|dob\b|d\.o\.b|date of birth|"
    r"born\b|aged?\s\d|\d{1,2}\s?(?:yo|years?\s?old)\b|upn\b|\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4})",
    re.I,
)
_COMMA_NAME = re.compile(rf"(?<![\w'’-])({_LETTERS}+(?:[-'’]{_LETTERS}+)*),[ \t]+({_LETTERS}{{2,}}(?:-{_LETTERS}+)?)\b")

# Staff named by their role, in documents ("Designated Safeguarding Lead: Jane Smith").
_ROLE_NOUN = (
    r"(?:leads?|leaders?|heads?|headteachers?|head\s+teachers?|principals?|teachers?|governors?|trustees?|"
    r"officers?|managers?|co-?ordinators?|sencos?|sendcos?|dsls?|ddsls?|chair(?:person)?|clerks?|ceo|"
    r"directors?|administrators?|workers?|mentors?|champions?|advisers?|advisors?|practitioners?|nurses?|"
    r"counsellors?|tas|hltas|staff|lado)"
)
_SIGNED = r"(?:written|approved|reviewed|signed|ratified|agreed|prepared|authored|checked)(?:\s+by)?"
_NAME_LIST = r"(?:(?:[A-Z][\w'’-]+[ \t]+){1,3}(?:\([^)\n]{0,40}\)[ \t]*)?(?:,|and|&)[ \t]*)*"
_LABEL_BEFORE = re.compile(
    rf"(?:^|[\n|;(]|\.[ \t])[ \t]*(?:(?:our|the|a)[ \t]+)?(?:(?:[\w'’.&/-]+[ \t]+){{0,5}}{_ROLE_NOUN}"
    rf"(?:[ \t]+(?:of|for|to)[ \t]+(?:the[ \t]+)?[\w ]{{1,30}}?)?|{_SIGNED})"
    rf"[ \t]*(?:[:|–—-]|\bis\b|\bare\b|,)?[ \t]*{_NAME_LIST}$",
    re.I,
)
_ROLE_QUALIFIER = (
    r"(?:deputy|assistant|executive|acting|interim|designated|safeguarding|senior|lead|head|vice|co|school|"
    r"business|mental|health|wellbeing|attendance|online|e-safety|safety|pastoral|inclusion|send|sen|pshe|"
    r"rshe|behaviour|subject|curriculum|early|years|eyfs|phase|key|stage|ks[1-5]|of|the|for|and|class|family|"
    r"support|learning|data|protection|link|parent|foundation|local|academy|trust|computing|maths|english|"
    r"science|pe|music|office|site|finance|hr|nominated|named|teaching|higher|level|specialist|governing|body|"
    r"chair|dsl|ddsl|our)"
)
_LABEL_AFTER = re.compile(rf"^[ \t]*(?:[(,|:–—-]|\bis\b)[ \t]*(?:{_ROLE_QUALIFIER}[ \t]+){{0,5}}{_ROLE_NOUN}\b", re.I)


LABEL_REACH = 160  # how far along its line a staff role may label a name


def _fold(word: str) -> str:
    """``"Zoë"`` → ``"zoe"``: lower case, accents and curly apostrophes gone."""
    if word.isascii():  # nothing to decompose, no curly apostrophe: only the case to fold
        return word.lower()
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower().replace("’", "'")


def _style(word: str) -> Literal["cap", "upper", "lower"]:
    letters = [c for c in word if c.isalpha()]
    if len(letters) > 1 and all(c.isupper() for c in letters):
        return "upper"
    return "cap" if word[:1].isupper() else "lower"


def _is_first_name(key: str, names: frozenset[str]) -> bool:
    return key in names or key.split("-")[0] in names


def _labelled_staff(text: str, start: int, end: int) -> bool:
    """A name with a staff role next to it: "DSL: Jane Smith", "Jane Smith (Headteacher)"."""
    line_start = text.rfind("\n", 0, start) + 1
    if _LABEL_BEFORE.search(text[max(line_start - 1, 0, start - LABEL_REACH) : start]):
        return True
    line_end = text.find("\n", end, end + LABEL_REACH)
    return bool(_LABEL_AFTER.match(text[end : line_end if line_end >= 0 else end + LABEL_REACH]))


def _names(text: str, *, document: bool) -> list[Finding]:
    names = first_names()
    out: list[Finding] = []
    for m in _WORD.finditer(text):
        first = m.group(1)
        key = _fold(first)
        if not _is_first_name(key, names):
            continue
        style = _style(first)
        if style != "cap" and key in _WORDLIKE_NAMES:
            continue  # no capital to show it is a name: "grace", "MAX"
        # The next word is the surname candidate.
        nxt = _NEXT_WORD.match(text, m.end())
        if not nxt:
            continue
        surname = nxt.group(1)
        s_style = _style(surname)
        s_key = _fold(surname).strip("'-")
        if style == "cap" and s_style == "lower":
            continue
        if style == "upper" and s_style == "lower":
            continue
        if style != "cap" and (s_key in _LOWER_SURNAME_STOP or s_key in names or len(s_key) < 3):
            continue
        if s_key.rstrip("s") in _NOT_SURNAMES or s_key in _NOT_SURNAMES:
            continue
        third = _THIRD_WORD.match(text, nxt.end())
        if third and _fold(third.group(1)) in _ORGANISATIONS and third.group(1)[:1].isupper():
            continue
        before = text[max(0, m.start() - 40) : m.start()]
        if _TITLE_BEFORE.search(before) or _ADULT_CONTEXT.search(before):
            continue
        end = nxt.end()
        if document and _labelled_staff(text, m.start(), end):
            continue
        if not _near_pupil_context(text, m.start(), end):
            continue
        out.append(Finding("name", m.start(), end))
    out.extend(_register_names(text, names, document=document))
    return out


def _register_names(text: str, names: frozenset[str], *, document: bool) -> list[Finding]:
    """Surname first, as in a register: "Smith, Jayden (Y4)", "SMITH, Jayden - Year 4"."""
    out: list[Finding] = []
    for m in _COMMA_NAME.finditer(text):
        surname, first = m.group(1), m.group(2)
        key, s_key = _fold(first), _fold(surname)
        if _style(surname) == "lower" or _style(first) == "lower" or not _is_first_name(key, names):
            continue
        if _style(first) != "cap" and key in _WORDLIKE_NAMES:
            continue
        if (
            _is_first_name(s_key, names)
            or s_key in _COMMA_STOP
            or s_key in _NOT_SURNAMES
            or s_key in _TITLES
            or s_key.endswith("ly")
        ):
            continue
        if _TITLE_BEFORE.search(text[max(0, m.start() - 12) : m.start()]):
            continue
        if not _TIGHT_PUPIL_MARK.match(text, m.end()):
            continue
        if document and _labelled_staff(text, m.start(), m.end()):
            continue
        out.append(Finding("name", m.start(), m.end()))
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
NEXT_TO = 40  # how close (on one line) a date must be to a pupil's name to be taken for their birthday


def _year_of(m: re.Match[str]) -> int | None:
    raw = m.group("y1") or m.group("y2") or m.group("y3") or m.group("iy")
    if raw is None:
        return None
    year = int(raw)
    if year < 100:
        year += 2000 if year <= 40 else 1900
    return year


def _next_to(text: str, start: int, end: int, others: list[Finding]) -> bool:
    for f in others:
        gap = text[f.end : start] if f.end <= start else text[end : f.start] if end <= f.start else ""
        if len(gap) <= NEXT_TO and "\n" not in gap:
            return True
    return False


def _dates_of_birth(text: str, today: date, *, names: list[Finding] | None) -> list[Finding]:
    """Chat (``names`` is None): a date of a child's birth year anywhere in a text about
    pupils counts. A document: only after a DOB cue, or next to a pupil's name."""
    out: list[Finding] = []
    document = names is not None
    pupil_context = not document and bool(text) and _near_pupil_context(text, 0, 0, reach=len(text))
    for m in _DATE.finditer(text):
        year = _year_of(m)
        before = text[max(0, m.start() - 25) : m.start()]
        keyword = bool(_DOB_WORDS.search(before))
        childish = year is not None and today.year - 19 <= year <= today.year - 2
        if names is not None:
            childish = childish and _next_to(text, m.start(), m.end(), names)
        else:
            childish = childish and pupil_context
        if keyword or childish:
            out.append(Finding("dob", m.start(), m.end()))
    for m in _BORN_YEAR.finditer(text):
        if names is not None and not _next_to(text, m.start(), m.end(), names):
            continue  # "children born in 2021 start Reception in 2025": a year is nobody's birthday
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

# A school's (or trust's) name: its letterhead, or an address written just after it.
_INSTITUTION = re.compile(
    r"\b(?:[A-Z][\w'’.&-]*[ \t]+){0,6}(?:School|Academy|College|Primary|Infants?|Juniors?|Nursery|Federation|"
    r"Trust|PRU|Pupil Referral Unit)\b"
)
HEADER_LINES = 15  # a document's letterhead is at most its first lines, before any prose
# Between a letterhead's school name and its address: no one else's name or address.
_SOMEONE_ELSE = re.compile(r"\b(?:mr|mrs|ms|miss|mx|dr|parents?|carers?|family|dear|to\s+the|re)\b\.?", re.I)
_ADDRESS_GLUE = re.compile(r"^(?:[\s,|:;–—-]|(?:[A-Z][\w'’.-]*|on|upon|le|under|in|the|of))*$")


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


def _header_end(text: str) -> int:
    """Where a document's letterhead ends: before its first line of prose."""
    seen = pos = 0
    while seen < HEADER_LINES and pos < len(text):
        nl = text.find("\n", pos)
        end = len(text) if nl < 0 else nl
        words = text[pos:end].split()
        if words:
            if len(words) > 14 or (len(words) >= 6 and words[-1].endswith((".", "!", "?"))):
                return pos
            seen += 1
        pos = end + 1
    return min(pos, len(text))


def _block(text: str, pos: int, places: list[Finding], starts: list[int]) -> list[Finding]:
    """The address and postcode written from ``pos`` on with only place names between."""
    out: list[Finding] = []
    for f in places[bisect.bisect_left(starts, pos) :]:
        if f.start - pos > 120 or not _ADDRESS_GLUE.match(text[pos : f.start]):
            break
        out.append(f)
        pos = f.end
    return out


def _school_addresses(text: str, places: list[Finding]) -> set[Finding]:
    """Addresses and postcodes that are the school's own: written straight after its name
    ("Oakfield Primary School, 12 Church Lane, Romford RM13 7QT"), or the first address in
    a letterhead that names the school (other lines, a phone number say, may come between)."""
    places = sorted(places, key=lambda f: f.start)
    starts = [f.start for f in places]
    own: set[Finding] = set()
    for named in _INSTITUTION.finditer(text):
        own.update(_block(text, named.end(), places, starts))
    header = _header_end(text)
    school = _INSTITUTION.search(text, 0, header)
    if school is not None:
        first = next((f for f in places if f.start >= school.end()), None)
        if first is not None and first.end <= header and not _SOMEONE_ELSE.search(text, school.end(), first.start):
            own.update(_block(text, first.start, places, starts))
    return own


def _upns(text: str) -> list[Finding]:
    out = []
    for m in _UPN.finditer(text):
        digits = sum(c.isdigit() for c in m.group(0))
        if digits >= 12:
            out.append(Finding("upn", m.start(), m.end()))
    return out


def check(text: str, *, today: date) -> Check:
    """Everything in a message (a question, an answer, an agenda item) that looks like
    pupil-identifiable data. ``today`` comes from the bot's clock."""
    names = _names(text, document=False)
    found = [*names, *_dates_of_birth(text, today, names=None), *_upns(text), *_addresses(text), *_postcodes(text)]
    return _result(found)


def check_document(text: str, *, today: date) -> Check:
    """Everything in a policy or resource that looks like pupil-identifiable data, read as a
    document: dates only count as dates of birth next to a DOB cue or a pupil's name; the
    school's own address and role-labelled staff are not pupil data."""
    names = _names(text, document=True)
    places = [*_addresses(text), *_postcodes(text)]
    own = _school_addresses(text, places)
    found = [
        *names,
        *_dates_of_birth(text, today, names=names),
        *_upns(text),
        *(f for f in places if f not in own),
    ]
    return _result(found)


def _result(found: list[Finding]) -> Check:
    found.sort(key=lambda f: (f.start, -f.end))
    return Check(findings=tuple(found))


def redact(text: str, result: Check) -> str:
    """``text`` with every finding of ``result`` replaced by ``[removed]`` (overlaps merged)."""
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
