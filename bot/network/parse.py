"""Turning CSV rows into checked records: schools, people, audits and half-terms.

Pure functions over bytes — no database — so that they can be tested with random input.
:func:`parse_bundle` checks each file and the references between them, and returns
either a :class:`Bundle` or every problem found.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from datetime import date

from bot.errors import ImportProblems
from bot.models.network import name_key
from bot.network.csvfile import CsvRow, Problems, parse_date, read_csv, split_list
from bot.numbers import MAX_PUPILS, whole_number
from bot.roles import normalise_role

PHASES = ("nursery", "primary", "middle", "secondary", "all-through", "special", "alternative", "post-16")
_PHASE_ALIASES = {
    "all through": "all-through",
    "allthrough": "all-through",
    "through": "all-through",
    "pru": "alternative",
    "ap": "alternative",
    "alternative provision": "alternative",
    "post16": "post-16",
    "post 16": "post-16",
    "sixth form": "post-16",
    "sixth-form": "post-16",
    "sixth form college": "post-16",
    "infant": "primary",
    "junior": "primary",
    "first": "primary",
}
_EMAIL = re.compile(r"^[^@\s;,<>\[\]]+@[^@\s;,<>\[\]]+\.[^@\s;,<>\[\]]+$")
_SLACK_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")
_DISCORD_ID = re.compile(r"^\d{15,21}$")
_URN = re.compile(r"^\d{5,8}$")
_OWNER = re.compile(r"^(?P<text>.*?)\s*\[(?P<owner>[^\[\]]*)\]\s*$")
MAX_NAME = 200
MAX_ITEM = 500


@dataclass(frozen=True)
class SchoolRecord:
    line: int
    name: str
    phase: str
    type: str | None = None
    trust: str | None = None
    locality: str | None = None
    urn: str | None = None
    pupils: int | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PersonRecord:
    line: int
    name: str
    email: str
    school: str
    roles: tuple[str, ...]
    slack_id: str | None = None
    discord_id: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditItemRecord:
    text: str
    owner: str | None = None  # a role, or an email; None = the school's head


@dataclass(frozen=True)
class AuditRecord:
    line: int
    school: str
    strengths: tuple[AuditItemRecord, ...]
    needs: tuple[AuditItemRecord, ...]
    notes: str | None = None
    audited_by: str | None = None
    audited_on: date | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TermRecord:
    line: int
    name: str
    start: date
    end: date
    inset: tuple[date, ...] = ()


@dataclass(frozen=True)
class Bundle:
    """Everything one import brings; a file not given is ``None``."""

    schools: list[SchoolRecord] | None = None
    people: list[PersonRecord] | None = None
    audits: list[AuditRecord] | None = None
    terms: list[TermRecord] | None = None


def is_email(value: str) -> bool:
    return bool(_EMAIL.match(value)) and len(value) <= 320


def normalise_phase(raw: str) -> str:
    p = " ".join(raw.strip().lower().replace("_", " ").split())
    p = _PHASE_ALIASES.get(p, p).replace(" ", "-")
    if p not in PHASES:
        raise ValueError(f"phase '{raw.strip()}' is not one of: {', '.join(PHASES)}")
    return p


def _opt(value: str) -> str | None:
    v = " ".join(value.split())
    return v or None


def _name(row: CsvRow, column: str, problems: Problems) -> str | None:
    v = " ".join(row.get(column).split())
    if not v:
        problems.add(row.filename, row.line, f"'{column}' is empty")
        return None
    if len(v) > MAX_NAME:
        problems.add(row.filename, row.line, f"'{column}' is longer than {MAX_NAME} characters")
        return None
    return v


def parse_schools(data: bytes, filename: str, problems: Problems) -> list[SchoolRecord]:
    read_before = len(problems.lines)
    rows = read_csv(
        data,
        filename=filename,
        required=("name", "phase"),
        optional=("type", "trust", "locality", "urn", "pupils"),
        problems=problems,
    )
    if not rows and len(problems.lines) == read_before:
        problems.add(
            filename,
            None,
            "has no schools in it: the schools file lists every school in the network, so an empty one "
            "would remove them all",
        )
    out: list[SchoolRecord] = []
    seen: dict[str, int] = {}
    for row in rows:
        before = len(problems.lines)
        name = _name(row, "name", problems)
        phase = ""
        try:
            phase = normalise_phase(row.get("phase"))
        except ValueError as exc:
            problems.add(row.filename, row.line, str(exc))
        urn = _opt(row.get("urn"))
        if urn and not _URN.match(urn):
            problems.add(row.filename, row.line, f"urn '{urn}' should be the school's 5 to 8 digit URN")
        pupils: int | None = None
        raw_pupils = row.get("pupils").replace(",", "").strip()
        if raw_pupils:
            pupils = whole_number(raw_pupils, most=MAX_PUPILS)
            if pupils is None:
                problems.add(row.filename, row.line, f"pupils '{row.get('pupils')}' should be a whole number")
        if name:
            key = name_key(name)
            if key in seen:
                problems.add(row.filename, row.line, f"school '{name}' is already on line {seen[key]}")
            else:
                seen[key] = row.line
        if len(problems.lines) == before and name:
            out.append(
                SchoolRecord(
                    line=row.line,
                    name=name,
                    phase=phase,
                    type=_opt(row.get("type")),
                    trust=_opt(row.get("trust")),
                    locality=_opt(row.get("locality")),
                    urn=urn,
                    pupils=pupils,
                    extra=row.extra,
                )
            )
    return out


def parse_people(data: bytes, filename: str, problems: Problems) -> list[PersonRecord]:
    read_before = len(problems.lines)
    rows = read_csv(
        data,
        filename=filename,
        required=("name", "email", "school", "roles"),
        optional=("slack_id", "discord_id"),
        problems=problems,
    )
    if not rows and len(problems.lines) == read_before:
        problems.add(
            filename,
            None,
            "has no people in it: the people file lists everyone in the network, so an empty one would remove them all",
        )
    out: list[PersonRecord] = []
    emails: dict[str, int] = {}
    slack_ids: dict[str, int] = {}
    discord_ids: dict[str, int] = {}
    for row in rows:
        before = len(problems.lines)
        name = _name(row, "name", problems)
        school = _name(row, "school", problems)
        email = row.get("email").strip().lower()
        if not email:
            problems.add(row.filename, row.line, "'email' is empty")
        elif not _EMAIL.match(email) or len(email) > 320:
            problems.add(row.filename, row.line, f"'{row.get('email').strip()}' is not an email address")
        elif email in emails:
            problems.add(row.filename, row.line, f"email {email} is already used on line {emails[email]}")
        else:
            emails[email] = row.line
        roles: list[str] = []
        raw_roles = split_list(row.get("roles"))
        if not raw_roles:
            problems.add(row.filename, row.line, "'roles' is empty (e.g. head, or dsl;senco)")
        for raw in raw_roles:
            try:
                role = normalise_role(raw)
            except ValueError as exc:
                problems.add(row.filename, row.line, str(exc))
                continue
            if role not in roles:
                roles.append(role)
        slack_id = _opt(row.get("slack_id"))
        if slack_id:
            slack_id = slack_id.upper()
            if not _SLACK_ID.match(slack_id):
                problems.add(row.filename, row.line, f"slack_id '{slack_id}' is not a Slack user id (like U012AB3CD)")
            elif slack_id in slack_ids:
                problems.add(
                    row.filename, row.line, f"slack_id {slack_id} is already used on line {slack_ids[slack_id]}"
                )
            else:
                slack_ids[slack_id] = row.line
        discord_id = _opt(row.get("discord_id"))
        if discord_id:
            if not _DISCORD_ID.match(discord_id):
                problems.add(row.filename, row.line, f"discord_id '{discord_id}' is not a Discord user id (digits)")
            elif discord_id in discord_ids:
                problems.add(
                    row.filename, row.line, f"discord_id {discord_id} is already used on line {discord_ids[discord_id]}"
                )
            else:
                discord_ids[discord_id] = row.line
        if len(problems.lines) == before and name and school and email:
            out.append(
                PersonRecord(
                    line=row.line,
                    name=name,
                    email=email,
                    school=school,
                    roles=tuple(roles),
                    slack_id=slack_id,
                    discord_id=discord_id,
                    extra=row.extra,
                )
            )
    return out


def parse_item(raw: str) -> AuditItemRecord:
    """``Training TAs to support autistic pupils [senco]`` → text and owner."""
    m = _OWNER.match(raw)
    if not m:
        if "[" in raw or "]" in raw:
            raise ValueError(f"'{raw}' has an unmatched '[' or ']' (an owner goes at the end: 'text [senco]')")
        text, owner = raw, None
    else:
        text, owner_raw = m.group("text").strip(), m.group("owner").strip()
        if not owner_raw:
            raise ValueError(f"'{raw}' has empty brackets (name a role or an email, or leave them off)")
        if "@" in owner_raw:
            owner = owner_raw.lower()
            if not _EMAIL.match(owner):
                raise ValueError(f"owner '[{owner_raw}]' is not an email address")
        else:
            try:
                owner = normalise_role(owner_raw)
            except ValueError:
                raise ValueError(
                    f"owner '[{owner_raw}]' is neither a role (head, dsl, senco, sbm, ...) nor an email"
                ) from None
    if not text:
        raise ValueError(f"'{raw}' has an owner but no text")
    if len(text) > MAX_ITEM:
        raise ValueError(f"an item is longer than {MAX_ITEM} characters ('{text[:40]}…')")
    return AuditItemRecord(text=text, owner=owner)


def parse_audits(data: bytes, filename: str, problems: Problems) -> list[AuditRecord]:
    rows = read_csv(
        data,
        filename=filename,
        required=("school", "strengths", "needs"),
        optional=("notes", "audited_by", "audited_on"),
        problems=problems,
    )
    out: list[AuditRecord] = []
    seen: dict[tuple[str, date | None], int] = {}
    for row in rows:
        before = len(problems.lines)
        school = _name(row, "school", problems)
        lists: dict[str, list[AuditItemRecord]] = {"strengths": [], "needs": []}
        for column in ("strengths", "needs"):
            texts: set[str] = set()
            for raw in split_list(row.get(column)):
                try:
                    item = parse_item(raw)
                except ValueError as exc:
                    problems.add(row.filename, row.line, f"{column}: {exc}")
                    continue
                if item.text.casefold() not in texts:
                    texts.add(item.text.casefold())
                    lists[column].append(item)
        audited_on: date | None = None
        if row.get("audited_on"):
            try:
                audited_on = parse_date(row.get("audited_on"))
            except ValueError as exc:
                problems.add(row.filename, row.line, f"audited_on: {exc}")
        if school:
            key = (name_key(school), audited_on)
            if key in seen:
                problems.add(
                    row.filename,
                    row.line,
                    f"school '{school}' already has an audit dated {audited_on or '(undated)'} on line {seen[key]}",
                )
            else:
                seen[key] = row.line
        if len(problems.lines) == before and school:
            out.append(
                AuditRecord(
                    line=row.line,
                    school=school,
                    strengths=tuple(lists["strengths"]),
                    needs=tuple(lists["needs"]),
                    notes=_opt(row.get("notes")),
                    audited_by=_opt(row.get("audited_by")),
                    audited_on=audited_on,
                    extra=row.extra,
                )
            )
    return out


def parse_terms(data: bytes, filename: str, problems: Problems) -> list[TermRecord]:
    rows = read_csv(data, filename=filename, required=("name", "start", "end"), optional=("inset",), problems=problems)
    out: list[TermRecord] = []
    for row in rows:
        before = len(problems.lines)
        name = _name(row, "name", problems)
        start = end = None
        for column in ("start", "end"):
            try:
                value = parse_date(row.get(column))
            except ValueError as exc:
                problems.add(row.filename, row.line, f"{column}: {exc}")
                continue
            if column == "start":
                start = value
            else:
                end = value
        inset: list[date] = []
        for raw in split_list(row.get("inset")):
            try:
                day = parse_date(raw)
            except ValueError as exc:
                problems.add(row.filename, row.line, f"inset: {exc}")
                continue
            if start and end and not (start <= day <= end):
                problems.add(
                    row.filename, row.line, f"inset day {day} is outside {name or 'the half-term'} ({start} to {end})"
                )
            elif day.weekday() >= 5:
                problems.add(row.filename, row.line, f"inset day {day} is a {day.strftime('%A')}")
            elif day not in inset:
                inset.append(day)
        if start and end:
            if end < start:
                problems.add(row.filename, row.line, f"ends ({end}) before it starts ({start})")
            elif (end - start).days > 120:
                problems.add(row.filename, row.line, f"runs {(end - start).days} days: a half-term is a few weeks")
        if len(problems.lines) == before and name and start and end:
            out.append(TermRecord(line=row.line, name=name, start=start, end=end, inset=tuple(sorted(inset))))
    ordered = sorted(out, key=lambda t: t.start)
    for a, b in itertools.pairwise(ordered):
        if b.start <= a.end:
            problems.add(filename, b.line, f"{b.name} ({b.start} to {b.end}) overlaps {a.name} on line {a.line}")
    return out


def _parse_term_file(source: SourceFile, problems: Problems) -> list[TermRecord]:
    """terms.csv, or an .ics calendar of the same (by its name or its first line)."""
    from bot.network.ics_terms import looks_like_ics, parse_terms_ics

    if looks_like_ics(source.name, source.data):
        return parse_terms_ics(source.data, source.name, problems)
    return parse_terms(source.data, source.name, problems)


@dataclass(frozen=True)
class SourceFile:
    """A file to import: its name as shown in messages, and its bytes."""

    name: str
    data: bytes


def parse_bundle(
    *,
    schools: SourceFile | None = None,
    people: SourceFile | None = None,
    audit: SourceFile | None = None,
    terms: SourceFile | None = None,
    known_schools: set[str] | None = None,
    known_emails: set[str] | None = None,
) -> Bundle:
    """Check every file given, and the references between them.

    ``known_schools`` / ``known_emails`` are the name keys and emails already in the
    network, used when the file that defines them is not part of this import.
    Raises :class:`ImportProblems` listing every problem; returns the records otherwise.
    """
    problems = Problems()
    bundle = Bundle(
        schools=parse_schools(schools.data, schools.name, problems) if schools else None,
        people=parse_people(people.data, people.name, problems) if people else None,
        audits=parse_audits(audit.data, audit.name, problems) if audit else None,
        terms=_parse_term_file(terms, problems) if terms else None,
    )
    school_keys = {name_key(s.name) for s in bundle.schools} if bundle.schools is not None else set(known_schools or ())
    emails = {p.email for p in bundle.people} if bundle.people is not None else set(known_emails or ())
    if bundle.people is not None and people is not None:
        for p in bundle.people:
            if name_key(p.school) not in school_keys:
                problems.add(people.name, p.line, f"school '{p.school}' is not in the network's schools")
    if bundle.audits is not None and audit is not None:
        for a in bundle.audits:
            if name_key(a.school) not in school_keys:
                problems.add(audit.name, a.line, f"school '{a.school}' is not in the network's schools")
            for item in (*a.strengths, *a.needs):
                if item.owner and "@" in item.owner and item.owner not in emails:
                    problems.add(audit.name, a.line, f"owner [{item.owner}] is not a person in the network")
    if problems:
        # Report in the order the files depend on each other, so a root cause comes first.
        order = [f.name for f in (schools, people, audit, terms) if f]
        raise ImportProblems(sorted(problems.lines, key=lambda line: _line_order(line, order)))
    return bundle


def _line_order(problem: str, files: list[str]) -> tuple[int, int]:
    head = problem.split(": ", 1)[0]
    name, _, line = head.rpartition(":")
    number = whole_number(line)
    if number is None:
        name, number = head, 0
    return (files.index(name) if name in files else len(files), number)
