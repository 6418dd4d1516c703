"""Importing a network's files: all or nothing, and idempotent.

Re-importing the same files changes nothing. A people file is the full list: someone
missing from it has left (kept, inactive, out of routing). A schools file likewise, and a
school's people leave with it. An import never leaves a network that had a convenor
without one, and an empty people or schools file is refused. A
changed audit row adds a new audit that supersedes the old one, which stays in history.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.calendar import SchoolCalendar
from bot.errors import BadInput, ImportProblems
from bot.models.messaging import AdminLog
from bot.models.network import Audit, AuditItem, InsetDay, Person, PersonRole, School, Term, name_key
from bot.network import store
from bot.network.parse import AuditRecord, Bundle, SourceFile, TermRecord, parse_bundle


@dataclass
class ImportSummary:
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    left_people: list[Person] = field(default_factory=list)

    def bump(self, kind: str, what: str, n: int = 1) -> None:
        self.counts.setdefault(kind, {}).setdefault(what, 0)
        self.counts[kind][what] += n

    @property
    def changed(self) -> bool:
        return any(n for kind in self.counts.values() for what, n in kind.items() if what != "unchanged")

    def lines(self) -> list[str]:
        out = []
        for kind in ("schools", "people", "audits", "terms"):
            if kind in self.counts:
                parts = [f"{n} {what}" for what, n in self.counts[kind].items() if n]
                out.append(f"{kind}: {', '.join(parts) or 'none'}")
        return out

    def to_json(self) -> dict[str, Any]:
        return {"changed": self.changed, "counts": self.counts}


def read_source(path: str | Path | None, label: str) -> SourceFile | None:
    if path is None:
        return None
    p = Path(path)
    try:
        return SourceFile(name=p.name, data=p.read_bytes())
    except FileNotFoundError:
        raise BadInput(f"{label} file {p} does not exist") from None
    except IsADirectoryError:
        raise BadInput(f"{label} file {p} is a folder, not a file") from None
    except OSError as exc:
        raise BadInput(f"cannot read {label} file {p}: {exc.strerror}") from None


async def import_network(
    session: AsyncSession,
    network_id: int,
    *,
    schools: SourceFile | None = None,
    people: SourceFile | None = None,
    audit: SourceFile | None = None,
    terms: SourceFile | None = None,
    now: datetime,
    actor: str = "cli",
    on_left: Callable[[Person], Awaitable[None]] | None = None,
) -> ImportSummary:
    """Check and apply one import inside the caller's transaction.

    Raises :class:`ImportProblems` (and the caller rolls back) when anything is wrong.
    ``on_left`` is awaited for each person the import marks as having left (pass
    ``bot.person_left`` bound to the session so their waiting requests are re-routed).
    """
    if not any((schools, people, audit, terms)):
        raise BadInput("nothing to import: give --schools, --people, --audit and/or --terms")
    existing_schools = {s.name_key: s for s in await store.schools(session, network_id, active_only=False)}
    existing_people = {p.email: p for p in await store.people(session, network_id, active_only=False)}
    bundle = parse_bundle(
        schools=schools,
        people=people,
        audit=audit,
        terms=terms,
        known_schools={k for k, s in existing_schools.items() if s.active},
        known_emails={e for e, p in existing_people.items() if p.active},
    )
    summary = ImportSummary()
    convenors_before = _convenors(existing_people.values())
    removed = await _apply_schools(session, network_id, bundle, existing_schools, summary)
    await _apply_people(session, network_id, bundle, existing_schools, existing_people, summary)
    if bundle.people is None:
        _leave_with_their_schools(removed, existing_people, summary)
    await session.flush()
    if convenors_before and not _convenors(existing_people.values()):
        raise ImportProblems([_no_convenor_problem(schools, people, removed, convenors_before)])
    if on_left is not None:
        for person in summary.left_people:
            await on_left(person)
    if bundle.audits is not None:
        await _apply_audits(session, bundle.audits, existing_schools, now, summary)
    if bundle.terms is not None and terms is not None:
        await _apply_terms(session, network_id, bundle.terms, terms.name, summary)
    if summary.changed:
        files = [f.name for f in (schools, people, audit, terms) if f]
        session.add(
            AdminLog(
                network_id=network_id,
                at=now,
                actor=actor,
                action="network.import",
                subject=", ".join(files),
                detail=summary.to_json(),
            )
        )
    await session.flush()
    return summary


def _set(obj: Any, attr: str, value: Any) -> bool:
    if getattr(obj, attr) != value:
        setattr(obj, attr, value)
        return True
    return False


def _convenors(people: Iterable[Person]) -> list[Person]:
    return [p for p in people if p.active and p.is_convenor]


def _leave_with_their_schools(removed: list[School], people: dict[str, Person], summary: ImportSummary) -> None:
    """A school gone from the schools file takes its people with it (as ``school remove`` does)."""
    ids = {s.id for s in removed}
    for person in people.values():
        if person.active and person.school_id in ids:
            person.active = False
            summary.left_people.append(person)
            summary.bump("people", "left")


def _no_convenor_problem(
    schools: SourceFile | None, people: SourceFile | None, removed: list[School], before: list[Person]
) -> str:
    if people is not None:
        return (
            f"{people.name}: nobody in it has the convenor role, so no one could administer the network: "
            "add convenor to someone's roles"
        )
    names = ", ".join(s.name for s in removed)
    who = ", ".join(p.name for p in before)
    where = schools.name if schools is not None else "the import"
    return (
        f"{where}: without {names} the network would have no convenor ({who} would leave with it): "
        "make someone else convenor first"
    )


async def _apply_schools(
    session: AsyncSession, network_id: int, bundle: Bundle, existing: dict[str, School], summary: ImportSummary
) -> list[School]:
    """Add and update the file's schools; returns those it no longer lists (now inactive)."""
    if bundle.schools is None:
        return []
    in_file = set()
    for rec in bundle.schools:
        key = name_key(rec.name)
        in_file.add(key)
        school = existing.get(key)
        values = {
            "name": rec.name,
            "phase": rec.phase,
            "type": rec.type,
            "trust": rec.trust,
            "locality": rec.locality,
            "urn": rec.urn,
            "pupils": rec.pupils,
            "extra": rec.extra,
            "active": True,
        }
        if school is None:
            school = School(network_id=network_id, name_key=key, **values)
            session.add(school)
            existing[key] = school
            summary.bump("schools", "added")
        else:
            changed = [_set(school, k, v) for k, v in values.items()]
            summary.bump("schools", "updated" if any(changed) else "unchanged")
    removed = []
    for key, school in existing.items():
        if key not in in_file and school.active:
            school.active = False
            removed.append(school)
            summary.bump("schools", "left")
    await session.flush()
    return removed


async def _apply_people(
    session: AsyncSession,
    network_id: int,
    bundle: Bundle,
    schools: dict[str, School],
    existing: dict[str, Person],
    summary: ImportSummary,
) -> None:
    if bundle.people is None:
        return
    in_file = {p.email for p in bundle.people}
    # Platform ids move with people: free any id the file gives to someone else first.
    claimed_slack = {p.slack_id: p.email for p in bundle.people if p.slack_id}
    claimed_discord = {p.discord_id: p.email for p in bundle.people if p.discord_id}
    freed: set[str] = set()
    for email, person in existing.items():
        if person.slack_id and claimed_slack.get(person.slack_id, email) != email:
            person.slack_id = None
            freed.add(email)
        if person.discord_id and claimed_discord.get(person.discord_id, email) != email:
            person.discord_id = None
            freed.add(email)
    await session.flush()
    for rec in bundle.people:
        school = schools[name_key(rec.school)]
        found = existing.get(rec.email)
        if found is None:
            person = Person(
                network_id=network_id,
                school=school,
                name=rec.name,
                email=rec.email,
                slack_id=rec.slack_id,
                discord_id=rec.discord_id,
                extra=rec.extra,
                active=True,
                role_rows=[PersonRole(role=r) for r in rec.roles],
            )
            session.add(person)
            existing[rec.email] = person
            summary.bump("people", "added")
            continue
        person = found
        changed = [
            _set(person, "name", rec.name),
            _set(person, "school_id", school.id),
            _set(person, "slack_id", rec.slack_id),
            _set(person, "discord_id", rec.discord_id),
            _set(person, "extra", rec.extra),
            _set(person, "active", True),
            rec.email in freed,
        ]
        if set(person.roles) != set(rec.roles):
            keep = [r for r in person.role_rows if r.role in rec.roles]
            have = {r.role for r in keep}
            person.role_rows = keep + [PersonRole(role=r) for r in rec.roles if r not in have]
            changed.append(True)
        if any(changed):
            person.school = school
        summary.bump("people", "updated" if any(changed) else "unchanged")
    for email, person in existing.items():
        if email not in in_file and person.active:
            person.active = False
            summary.left_people.append(person)
            summary.bump("people", "left")


def audit_hash(rec: AuditRecord, items_checked: Sequence[tuple[str | None, date | None]] = ()) -> str:
    """What an audit says, to compare a row with what is stored. ``items_checked`` is each
    item's (audited_by, audited_on) when they are not all the audit's own (a version edited in
    chat), so that such a version never looks the same as a row audited as a whole."""
    payload: dict[str, Any] = {
        "strengths": [[i.text, i.owner] for i in rec.strengths],
        "needs": [[i.text, i.owner] for i in rec.needs],
        "notes": rec.notes,
        "audited_by": rec.audited_by,
        "audited_on": rec.audited_on.isoformat() if rec.audited_on else None,
    }
    whole = (rec.audited_by, rec.audited_on)
    if any(c != whole for c in items_checked):
        payload["items_checked"] = [[by, on.isoformat() if on else None] for by, on in items_checked]
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


async def _apply_audits(
    session: AsyncSession,
    records: Sequence[AuditRecord],
    schools: dict[str, School],
    now: datetime,
    summary: ImportSummary,
) -> None:
    by_school: dict[int, list[AuditRecord]] = {}
    for rec in records:
        by_school.setdefault(schools[name_key(rec.school)].id, []).append(rec)

    # The newest audit (by its date; undated ones count from when they arrived) is current.
    def effective(a: Audit) -> tuple[date, datetime]:
        return (a.audited_on or a.created_at.date(), a.created_at)

    # Every school's audits in one query (not one a school: each would flush the last school's first).
    histories: dict[int, list[Audit]] = {school_id: [] for school_id in by_school}
    if by_school:
        found = await session.execute(select(Audit).where(Audit.school_id.in_(list(by_school))).order_by(Audit.id))
        for a in found.unique().scalars():
            histories[a.school_id].append(a)
    for school_id, recs in by_school.items():
        history = histories[school_id]
        added = False
        for rec in recs:
            digest = audit_hash(rec)
            current = max(history, key=effective) if history else None
            if current is not None and current.content_hash == digest:
                summary.bump("audits", "unchanged")
                continue
            # A row matching an older version is history already, unless it is newer than the
            # current audit: then it comes back as current (A, then B, then A again leaves A).
            # Changes made in chat since are newer than any file: the file must change to undo them.
            arriving = (rec.audited_on or now.date(), now)
            known = any(a.content_hash == digest for a in history)
            if known and (current is None or current.source != "import" or arriving <= effective(current)):
                summary.bump("audits", "unchanged")
                continue
            checked = {"audited_by": rec.audited_by, "audited_on": rec.audited_on}
            items = [
                AuditItem(kind="strength", position=i, text=it.text, owner=it.owner, **checked)
                for i, it in enumerate(rec.strengths)
            ]
            items += [
                AuditItem(kind="need", position=i, text=it.text, owner=it.owner, **checked)
                for i, it in enumerate(rec.needs)
            ]
            audit = Audit(
                school_id=school_id,
                audited_by=rec.audited_by,
                audited_on=rec.audited_on,
                notes=rec.notes,
                source="import",
                content_hash=digest,
                extra=rec.extra,
                created_at=now,
                items=items,
            )
            session.add(audit)
            history.append(audit)
            added = True
            summary.bump("audits", "added")
        if added:
            newest = max(history, key=effective)
            for a in history:
                if a is newest:
                    a.superseded_at = None
                elif a.superseded_at is None:
                    a.superseded_at = now
    await session.flush()


async def _apply_terms(
    session: AsyncSession, network_id: int, records: Sequence[TermRecord], filename: str, summary: ImportSummary
) -> None:
    """The records are the full set of half-terms for each academic year they touch: a
    half-term of those years that is not among them goes, one whose dates changed is
    changed (matched by its start, else its name, else the dates it overlaps). Other years
    are left alone, and must not overlap. Meetings follow at the next sweep
    (:func:`bot.meetings.service.sync_plans`)."""
    if not records:  # a file of no half-terms says nothing about which year to replace
        raise ImportProblems([f"{filename}: no term dates found in {filename}"])
    loaded = list((await session.execute(select(Term).where(Term.network_id == network_id))).scalars())
    years = {SchoolCalendar.academic_year_of(r.start) for r in records}
    mine = [t for t in loaded if SchoolCalendar.academic_year_of(t.start) in years]
    others = [t for t in loaded if SchoolCalendar.academic_year_of(t.start) not in years]
    problems: list[str] = []
    for rec in records:
        for t in others:
            if rec.start <= t.end and t.start <= rec.end:
                problems.append(
                    f"{filename}:{rec.line}: {rec.name} ({rec.start} to {rec.end}) overlaps "
                    f"{t.name} ({t.start} to {t.end}) already loaded"
                )
    if problems:
        raise ImportProblems(problems)
    matched = _match_terms(records, mine)
    gone = [t for t in mine if t not in matched.values()]
    moved = {i: t for i, t in matched.items() if t.start != records[i].start}
    for old in [*gone, *moved.values()]:
        await session.delete(old)
    await session.flush()  # free their start dates before anything takes them
    for i, rec in enumerate(records):
        term = matched.get(i)
        if term is None or i in moved:
            session.add(
                Term(
                    network_id=network_id,
                    name=rec.name,
                    start=rec.start,
                    end=rec.end,
                    inset_rows=[InsetDay(day=d) for d in rec.inset],
                )
            )
            summary.bump("terms", "added" if term is None else "updated")
            continue
        changed = [_set(term, "name", rec.name), _set(term, "end", rec.end)]
        if term.inset_days != list(rec.inset):
            keep = [r for r in term.inset_rows if r.day in rec.inset]
            have = {r.day for r in keep}
            term.inset_rows = keep + [InsetDay(day=d) for d in rec.inset if d not in have]
            changed.append(True)
        summary.bump("terms", "updated" if any(changed) else "unchanged")
    if gone:
        summary.bump("terms", "removed", len(gone))
    await session.flush()


def _match_terms(records: Sequence[TermRecord], loaded: Sequence[Term]) -> dict[int, Term]:
    """Which loaded half-term each record is (by index): the same start, else the same
    name in the same academic year, else the one its dates overlap most."""
    matched: dict[int, Term] = {}
    free = list(loaded)

    def take(i: int, term: Term | None) -> None:
        if term is not None:
            matched[i] = term
            free.remove(term)

    for i, rec in enumerate(records):
        take(i, next((t for t in free if t.start == rec.start), None))
    for i, rec in enumerate(records):
        if i not in matched:
            same = (name_key(rec.name), SchoolCalendar.academic_year_of(rec.start))
            take(
                i, next((t for t in free if (name_key(t.name), SchoolCalendar.academic_year_of(t.start)) == same), None)
            )
    for i, rec in enumerate(records):
        if i not in matched:
            overlaps = [(min(rec.end, t.end) - max(rec.start, t.start), t) for t in free]
            best = max((o for o in overlaps if o[0].days >= 0), key=lambda o: o[0], default=None)
            take(i, best[1] if best else None)
    return matched


async def remove_terms(session: AsyncSession, network_id: int, year: int) -> list[Term]:
    """Remove every half-term of academic year ``year`` (``2026`` = 2026-27); returns them."""
    rows = [
        t
        for t in (await session.execute(select(Term).where(Term.network_id == network_id))).scalars()
        if SchoolCalendar.academic_year_of(t.start) == year
    ]
    for t in rows:
        await session.delete(t)
    await session.flush()
    return rows


async def apply_term_records(
    session: AsyncSession, network_id: int, records: Sequence[TermRecord], source: str
) -> ImportSummary:
    """Load already-checked half-terms (from the config file) exactly as an import would:
    the full set for each academic year they touch."""
    summary = ImportSummary()
    await _apply_terms(session, network_id, records, source, summary)
    return summary
