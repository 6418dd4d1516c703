"""Proposing and confirming changes to a school's audit.

A school's own head (or the convenor) proposes adding or removing a strength or a need;
the convenor — or the person named as the school's auditor — confirms it, which makes a
new audit version (the old one stays in history). Each item keeps who audited it: an item
added is audited by whoever confirmed it, today, when they are outside the school; a
school's own word (the convenor's own school included) stays self-declared.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import BadInput
from bot.models.audit import AuditProposal
from bot.models.network import Audit, AuditItem, Person, School, name_key
from bot.network import store
from bot.network.importer import audit_hash
from bot.network.parse import AuditItemRecord, AuditRecord, parse_item
from bot.numbers import whole_number
from bot.roles import LEADER_ROLES

KINDS = {"strength": "strength", "strengths": "strength", "need": "need", "needs": "need"}


def may_change(person: Person, school: School) -> bool:
    """Only the school's own head (or exec-head) and the convenor change its audit."""
    return person.is_convenor or (person.school_id == school.id and person.has_role("head", "exec-head"))


async def may_confirm(session: AsyncSession, person: Person, school: School) -> bool:
    """The convenor, or the person the school's current audit names as its auditor."""
    if person.is_convenor:
        return True
    audit = await store.current_audit(session, school.id)
    if audit is None or not audit.audited_by:
        return False
    named = name_key(audit.audited_by)
    return named in (name_key(person.name), person.email)


@dataclass(frozen=True)
class Change:
    kind: str  # strength | need
    change: str  # add | remove
    item: AuditItemRecord


def parse_change(words: str, current: Audit | None) -> Change:
    """``add strength Phonics [senco]``, ``remove need 2`` or ``remove need Writing``."""
    verb, _, rest = words.strip().partition(" ")
    kind_word, _, text = rest.strip().partition(" ")
    verb, kind = verb.lower(), KINDS.get(kind_word.lower())
    if verb not in ("add", "remove") or kind is None or not text.strip():
        raise BadInput("say what to change, e.g. **audit add strength Phonics [senco]** or **audit remove need 2**")
    if verb == "add":
        try:
            return Change(kind=kind, change="add", item=parse_item(" ".join(text.split())))
        except ValueError as exc:
            raise BadInput(str(exc)) from None
    items = [i for i in (current.items if current else []) if i.kind == kind]
    target = text.strip()
    chosen: AuditItem | None = None
    number = whole_number(target)
    if number is not None and 1 <= number <= len(items):
        chosen = items[number - 1]
    else:
        matches = [i for i in items if name_key(target) in name_key(i.text)]
        if len(matches) == 1:
            chosen = matches[0]
        elif len(matches) > 1:
            raise BadInput(f"'{target}' matches {len(matches)} {kind}s: give its number from **audit**")
    if chosen is None:
        raise BadInput(f"there is no {kind} '{target}' in the audit: **audit** lists them with numbers")
    return Change(kind=kind, change="remove", item=AuditItemRecord(text=chosen.text, owner=chosen.owner))


async def propose(
    session: AsyncSession, *, network_id: int, school: School, proposer: Person, change: Change, now: datetime
) -> AuditProposal:
    if not may_change(proposer, school):
        raise BadInput(f"only {school.name}'s head or the network's convenor can change its audit")
    if change.change == "add":
        await check_owner(session, network_id, school, change.item.owner)
    pending = (
        await session.execute(
            select(AuditProposal).where(
                AuditProposal.school_id == school.id,
                AuditProposal.status == "pending",
                AuditProposal.kind == change.kind,
                AuditProposal.change == change.change,
            )
        )
    ).scalars()
    for p in pending:
        if name_key(p.text) == name_key(change.item.text):
            raise BadInput(f"that change is already waiting for confirmation (proposal {p.id})")
    proposal = AuditProposal(
        network_id=network_id,
        school_id=school.id,
        proposed_by=proposer.id,
        kind=change.kind,
        change=change.change,
        text=change.item.text,
        owner=change.item.owner,
        created_at=now,
    )
    session.add(proposal)
    await session.flush()
    return proposal


async def check_owner(session: AsyncSession, network_id: int, school: School, owner: str | None) -> None:
    """An item's owner named by email must be one of the school's people (a role needs no check:
    when it is vacant the school's head carries the item)."""
    if not owner or "@" not in owner:
        return
    person = await store.person_by_email(session, network_id, owner)
    if person is None or not person.active:
        raise BadInput(f"nobody in the network has the email {owner}: name a role instead, e.g. [senco]")
    if person.school_id != school.id:
        raise BadInput(f"{person.name} is at {person.school.name}, not {school.name}: name someone at {school.name}")


def independent(person: Person, school: School) -> bool:
    """Someone outside the school: their confirming an item makes it audited."""
    return person.school_id != school.id


@dataclass(frozen=True)
class _Item:
    record: AuditItemRecord
    audited_by: str | None
    audited_on: date | None


async def apply(
    session: AsyncSession, proposal: AuditProposal, *, confirmer: Person, today: date, now: datetime
) -> Audit:
    """Make the new audit version for an accepted proposal.

    Every item keeps who audited it; an added item is audited by the confirmer, today, only
    when the confirmer is outside the school (else it is self-declared, as a school's own
    word is). The version as a whole keeps the audit's own ``audited_by``/``audited_on``.
    """
    current = await store.current_audit(session, proposal.school_id)

    def carried(items: list[AuditItem]) -> list[_Item]:
        return [_Item(AuditItemRecord(i.text, i.owner), i.audited_by, i.audited_on) for i in items]

    strengths = carried(current.strengths() if current else [])
    needs = carried(current.needs() if current else [])
    target = strengths if proposal.kind == "strength" else needs
    existing = [i for i in target if name_key(i.record.text) == name_key(proposal.text)]
    if proposal.change == "add":
        await check_owner(session, proposal.network_id, proposal.school, proposal.owner)
        if existing:
            raise BadInput(f"{proposal.school.name} already has the {proposal.kind} '{proposal.text}'")
        checked = independent(confirmer, proposal.school)
        target.append(
            _Item(
                AuditItemRecord(proposal.text, proposal.owner),
                confirmer.name if checked else None,
                today if checked else None,
            )
        )
    else:
        if not existing:
            raise BadInput(f"{proposal.school.name} no longer has the {proposal.kind} '{proposal.text}'")
        target.remove(existing[0])
    record = AuditRecord(
        line=0,
        school=proposal.school.name,
        strengths=tuple(i.record for i in strengths),
        needs=tuple(i.record for i in needs),
        notes=current.notes if current else None,
        audited_by=current.audited_by if current else None,
        audited_on=current.audited_on if current else None,
    )
    items = [
        AuditItem(
            kind=kind,
            position=n,
            text=i.record.text,
            owner=i.record.owner,
            audited_by=i.audited_by,
            audited_on=i.audited_on,
        )
        for kind, group in (("strength", strengths), ("need", needs))
        for n, i in enumerate(group)
    ]
    audit = Audit(
        school_id=proposal.school_id,
        audited_by=record.audited_by,
        audited_on=record.audited_on,
        notes=record.notes,
        source="chat",
        content_hash=audit_hash(record, [(i.audited_by, i.audited_on) for i in (*strengths, *needs)]),
        extra=current.extra if current else {},
        created_at=now,
        items=items,
    )
    if current is not None:
        current.superseded_at = now
    session.add(audit)
    proposal.status = "accepted"
    proposal.decided_by = confirmer.id
    proposal.decided_at = now
    await session.flush()
    return audit


async def leaders_of(session: AsyncSession, network_id: int, school_id: int) -> list[Person]:
    people = [p for p in await store.people(session, network_id) if p.school_id == school_id]
    for role in LEADER_ROLES:
        found = [p for p in people if p.has_role(role)]
        if found:
            return found
    return []
