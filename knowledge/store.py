"""Entries in the database: add (or update by ``ref``), edit, confirm, retire, list due.

Every change bumps ``updated_at`` (so other workers' indexes pick it up) and writes a
history row; an edit keeps what the entry said before.

An entry may first be saved ``pending``: read and checked, but seen by nobody (not
searched, not reminded) until the person who shared it says so with a button —
:func:`publish` — or says no — :func:`discard`, which deletes it. Entries for the DSL
group wait for their word that they name no child, family or member of staff; files sent
to the bot with no command wait for "Add to the knowledge base". One never confirmed is
deleted after :data:`PENDING_FOR` (``knowledge.privacy.PendingEntries``).

A new version of a DSL entry waits for the same word: :func:`propose` keeps it aside (a
history row marked ``proposed``, seen by nobody), :func:`apply_proposal` makes it the
entry's text, :func:`drop_proposals` deletes it; one never confirmed goes after
:data:`PENDING_FOR` too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox, pupil_data
from bot.config import KnowledgeSettings
from bot.db.base import rows_affected
from bot.errors import BadInput, NotFound
from bot.models.network import Person, School
from bot.network import store as network_store
from knowledge.ingest import MAX_TITLE, clean_title, tidy
from knowledge.models import KINDS, KbEntry, KbEntryHistory

MAX_TAGS = 20
MAX_TAG_CHARS = 60
MAX_REF_CHARS = 200
REMINDER_KEY = "kb.review"
DOCUMENT_KINDS = ("policy", "resource")  # read by the pupil-data guard as documents, not as chat
PENDING_FOR = timedelta(days=2)  # an entry (or a new version) nobody confirmed is deleted after this
PROPOSED = "proposed"  # a history row holding a new version that waits for its author's word

Outcome = Literal["added", "updated", "unchanged"]


@dataclass(frozen=True)
class NewEntry:
    """What an entry is made of, checked by :func:`check`."""

    kind: str
    title: str
    text: str
    school_id: int | None = None
    group: str | None = None
    tags: tuple[str, ...] = ()
    school_name: str | None = None  # a school not (yet) in the network, credited by name
    ref: str | None = None
    source: str | None = None
    version: str | None = None
    adopted_on: date | None = None
    review_on: date | None = None
    thread: dict[str, Any] | None = None


class PupilDataFound(BadInput):
    """An entry that looks like it holds pupil data; ``detail`` says what kind, never quotes it."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(f"this can't go in the knowledge base: it {detail}. Remove those details and add it again")


def refuse_pupil_data(kind: str, title: str, text: str, tags: Sequence[str] = (), *, today: date) -> None:
    """Nothing that looks like pupil data becomes an entry (the message never quotes it).

    Policies and resources are read as documents (their letterhead, dates and named staff
    are not pupil data); answers as what people type, strictly. Tags are checked too."""
    checked = "\n".join([title, text, *tags])
    guard = pupil_data.check_document if kind in DOCUMENT_KINDS else pupil_data.check
    found = guard(checked, today=today)
    if found.found:
        raise PupilDataFound(found.detail)


def check(entry: NewEntry, *, today: date) -> NewEntry:
    """The entry tidied, or :class:`BadInput` saying what is wrong with it."""
    kind = entry.kind.strip().lower()
    if kind not in KINDS:
        raise BadInput(f"kind must be one of {', '.join(KINDS)} (got '{entry.kind[:30]}')")
    title = clean_title(entry.title)
    if not title:
        raise BadInput("an entry needs a title")
    if len(entry.title.strip()) > MAX_TITLE * 2:
        raise BadInput(f"the title is too long ({len(entry.title):,} characters; keep it under {MAX_TITLE})")
    text = tidy(entry.text)
    if not text:
        raise BadInput("an entry needs some text")
    tags = parse_tags(entry.tags)
    refuse_pupil_data(kind, title, text, tags, today=today)
    ref = entry.ref.strip() if entry.ref else None
    if ref is not None and (not ref or len(ref) > MAX_REF_CHARS):
        raise BadInput(f"a ref must be 1 to {MAX_REF_CHARS} characters")
    return NewEntry(
        kind=kind,
        title=title,
        text=text,
        school_id=entry.school_id,
        school_name=" ".join(entry.school_name.split())[:200] if entry.school_name else None,
        group=entry.group,
        tags=tags,
        ref=ref,
        source=entry.source[:300] if entry.source else None,
        version=entry.version[:40] if entry.version else None,
        adopted_on=entry.adopted_on,
        review_on=entry.review_on,
        thread=entry.thread,
    )


def parse_tags(raw: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"send; ehcp;SEND"`` or a list → ``("send", "ehcp")``: trimmed, unique, lower-case."""
    if raw is None:
        return ()
    items = raw.split(";") if isinstance(raw, str) else list(raw)
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise BadInput("tags must be text")
        tag = " ".join(item.split()).lower()
        if not tag:
            continue
        if len(tag) > MAX_TAG_CHARS:
            raise BadInput(f"the tag '{tag[:30]}…' is too long (up to {MAX_TAG_CHARS} characters)")
        if tag not in out:
            out.append(tag)
    if len(out) > MAX_TAGS:
        raise BadInput(f"too many tags ({len(out)}; up to {MAX_TAGS})")
    return tuple(out)


def content_hash(e: NewEntry) -> str:
    doc = [
        e.kind,
        e.title,
        e.text,
        list(e.tags),
        e.school_id,
        e.school_name,
        e.group,
        e.version,
        str(e.adopted_on),
        str(e.review_on),
    ]
    return hashlib.sha256(json.dumps(doc, ensure_ascii=False).encode()).hexdigest()


def review_interval(kind: str, settings: KnowledgeSettings) -> timedelta:
    if kind == "policy":
        return settings.policy_review_interval
    if kind == "answer":
        return settings.answer_review_interval
    return settings.resource_review_interval


def _interval_days(e: NewEntry, settings: KnowledgeSettings) -> int:
    if e.kind == "policy" and e.adopted_on and e.review_on and e.review_on > e.adopted_on:
        return (e.review_on - e.adopted_on).days
    return max(review_interval(e.kind, settings).days, 1)


async def save(
    session: AsyncSession,
    network_id: int,
    new: NewEntry,
    *,
    now: datetime,
    today: date,
    settings: KnowledgeSettings,
    owner: Person | None = None,
    added_by: Person | None = None,
    actor: str | None = None,
    pending: bool = False,
) -> tuple[KbEntry, Outcome]:
    """Add an entry, or update the one with the same ``ref`` (unchanged content is a no-op).
    ``pending``: a new entry that waits for :func:`publish` (it has no ``ref``)."""
    e = check(new, today=today)
    if pending and e.ref is not None:
        raise ValueError("a pending entry is always a new one: it has no ref")
    digest = content_hash(e)
    existing: KbEntry | None = None
    if e.ref is not None:
        q = select(KbEntry).where(KbEntry.network_id == network_id, KbEntry.ref == e.ref)
        existing = (await session.execute(q)).scalar_one_or_none()
    interval = _interval_days(e, settings)
    review_on = e.review_on or today + timedelta(days=interval)
    if existing is not None:
        if existing.content_hash == digest and existing.status == "active":
            return existing, "unchanged"
        _remember(session, existing, "edited", now=now, by=added_by, actor=actor)
        existing.kind = e.kind
        existing.title = e.title
        existing.text = e.text
        existing.tags = list(e.tags)
        existing.school_id = e.school_id
        existing.school_name = e.school_name
        existing.group = e.group
        existing.version = e.version
        existing.adopted_on = e.adopted_on
        existing.review_on = review_on
        existing.review_interval_days = interval
        existing.status = "active"
        existing.content_hash = digest
        existing.revision += 1
        existing.confirmed_at = now
        existing.updated_at = now
        if owner is not None:
            existing.owner_id = owner.id
        await session.flush()
        return existing, "updated"
    entry = KbEntry(
        network_id=network_id,
        kind=e.kind,
        title=e.title,
        text=e.text,
        school_id=e.school_id,
        school_name=e.school_name,
        group=e.group,
        tags=list(e.tags),
        ref=e.ref,
        source=e.source,
        owner_id=owner.id if owner else None,
        added_by_id=added_by.id if added_by else None,
        added_by=added_by.email if added_by else actor,
        version=e.version,
        revision=1,
        adopted_on=e.adopted_on,
        review_on=review_on,
        review_interval_days=interval,
        status="pending" if pending else "active",
        confirmed_at=None,
        thread=e.thread,
        content_hash=digest,
        created_at=now,
        updated_at=now,
    )
    session.add(entry)
    await session.flush()
    session.add(
        KbEntryHistory(
            entry_id=entry.id,
            revision=1,
            action="created",
            at=now,
            by_id=added_by.id if added_by else None,
            by=added_by.email if added_by else actor,
        )
    )
    return entry, "added"


def _remember(
    session: AsyncSession, entry: KbEntry, action: str, *, now: datetime, by: Person | None, actor: str | None
) -> None:
    """A history row; an edit keeps the words it replaces."""
    session.add(
        KbEntryHistory(
            entry_id=entry.id,
            revision=entry.revision,
            action=action,
            at=now,
            by_id=by.id if by else None,
            by=by.email if by else actor,
            title=entry.title if action == "edited" else None,
            text=entry.text if action == "edited" else None,
            tags=list(entry.tags) if action == "edited" else None,
        )
    )


async def get(session: AsyncSession, network_id: int, entry_id: int) -> KbEntry:
    entry = await session.get(KbEntry, entry_id)
    if entry is None or entry.network_id != network_id:
        raise NotFound(f"there is no knowledge-base entry {entry_id}")
    return entry


async def edit(
    session: AsyncSession,
    entry: KbEntry,
    *,
    text: str | None = None,
    title: str | None = None,
    now: datetime,
    today: date,
    by: Person | None,
    actor: str | None = None,
) -> bool:
    """Replace an entry's text (and/or title), keeping the old words in its history.
    An update also confirms the entry: its next review is a full interval away."""
    new_title, new_text = _new_version(entry, title, text, today=today)
    if new_text == entry.text and new_title == entry.title:
        return False
    _remember(session, entry, "edited", now=now, by=by, actor=actor)
    entry.text = new_text
    entry.title = new_title
    entry.revision += 1
    entry.content_hash = content_hash(
        NewEntry(
            kind=entry.kind,
            title=entry.title,
            text=entry.text,
            tags=tuple(entry.tags),
            school_id=entry.school_id,
            group=entry.group,
            version=entry.version,
            adopted_on=entry.adopted_on,
            review_on=entry.review_on,
        )
    )
    _renew(entry, now=now, today=today)
    await cancel_reminders(session, entry)
    return True


def _new_version(entry: KbEntry, title: str | None, text: str | None, *, today: date) -> tuple[str, str]:
    """An entry's new title and text (``None``: unchanged), tidied and checked for pupil data."""
    new_text = tidy(text) if text is not None else entry.text
    new_title = clean_title(title) if title is not None else entry.title
    if not new_text or not new_title:
        raise BadInput("an entry needs a title and some text")
    refuse_pupil_data(entry.kind, new_title, new_text, entry.tags, today=today)
    return new_title, new_text


async def propose(
    session: AsyncSession, entry: KbEntry, *, text: str, now: datetime, today: date, by: Person
) -> KbEntryHistory | None:
    """Keep a new text for ``entry`` aside, checked as :func:`edit` checks it, until ``by``
    confirms it (:func:`apply_proposal`); ``None`` when it would change nothing."""
    _, new_text = _new_version(entry, None, text, today=today)
    if new_text == entry.text:
        return None
    row = KbEntryHistory(
        entry_id=entry.id, revision=entry.revision, action=PROPOSED, at=now, by_id=by.id, by=by.email,
        title=entry.title, text=new_text,
    )  # fmt: skip
    session.add(row)
    await session.flush()
    return row


async def proposal(session: AsyncSession, proposal_id: int, *, by: Person) -> KbEntryHistory | None:
    """A new version ``by`` proposed and has not yet confirmed or dropped."""
    row = await session.get(KbEntryHistory, proposal_id)
    return row if row is not None and row.action == PROPOSED and row.by_id == by.id else None


async def apply_proposal(
    session: AsyncSession, entry: KbEntry, row: KbEntryHistory, *, now: datetime, today: date, by: Person
) -> Literal["updated", "unchanged", "changed since", "retired"]:
    """Make a proposed version the entry's text (see :func:`edit`) and forget the proposal.
    Not applied (and forgotten all the same) when the entry has been retired or changed
    since it was proposed."""
    text, revision = row.text, row.revision
    if row.entry_id != entry.id or row.action != PROPOSED or text is None:
        raise ValueError("not a proposal for this entry")
    await drop_proposals(session, [row.id])
    if entry.status != "active":
        return "retired"
    if entry.revision != revision:
        return "changed since"
    return "updated" if await edit(session, entry, text=text, now=now, today=today, by=by) else "unchanged"


async def drop_proposals(session: AsyncSession, ids: Sequence[int]) -> int:
    """Delete proposed versions: nothing of them is kept."""
    if not ids:
        return 0
    q = delete(KbEntryHistory).where(KbEntryHistory.id.in_(ids), KbEntryHistory.action == PROPOSED)
    return rows_affected(await session.execute(q))


def _renew(entry: KbEntry, *, now: datetime, today: date) -> None:
    entry.confirmed_at = now
    entry.review_on = today + timedelta(days=entry.review_interval_days or 365)
    entry.updated_at = now


async def confirm(
    session: AsyncSession, entry: KbEntry, *, now: datetime, today: date, by: Person | None, actor: str | None = None
) -> None:
    """Still right: the next review is a full interval from today."""
    if entry.status != "active":
        raise BadInput(f"'{entry.title}' has been retired; reinstate it by adding it again")
    _remember(session, entry, "confirmed", now=now, by=by, actor=actor)
    _renew(entry, now=now, today=today)
    await cancel_reminders(session, entry)


async def retire(
    session: AsyncSession, entry: KbEntry, *, now: datetime, by: Person | None, actor: str | None = None
) -> bool:
    """No longer current: it leaves search (the row and its history stay)."""
    if entry.status == "retired":
        return False
    _remember(session, entry, "retired", now=now, by=by, actor=actor)
    entry.status = "retired"
    entry.updated_at = now
    await cancel_reminders(session, entry)
    return True


async def publish(session: AsyncSession, entry: KbEntry, *, now: datetime, by: Person | None) -> bool:
    """A pending entry goes live (searchable from the next refresh); ``False`` if it wasn't pending."""
    if entry.status != "pending":
        return False
    _remember(session, entry, "published", now=now, by=by, actor=None)
    entry.status = "active"
    entry.updated_at = now
    return True


async def discard(session: AsyncSession, entries: Sequence[KbEntry]) -> int:
    """Delete pending entries and their history: nothing of them is kept."""
    ids = [e.id for e in entries if e.status == "pending"]
    if not ids:
        return 0
    await session.execute(delete(KbEntryHistory).where(KbEntryHistory.entry_id.in_(ids)))
    result = await session.execute(delete(KbEntry).where(KbEntry.id.in_(ids), KbEntry.status == "pending"))
    return rows_affected(result)


async def cancel_reminders(session: AsyncSession, entry: KbEntry) -> int:
    # The meetings sweeper queues review reminders as "review:<ReviewDue.key>".
    return await outbox.cancel(session, network_id=entry.network_id, key_prefix=f"review:{REMINDER_KEY}:{entry.id}:")


def reminder_key(entry: KbEntry) -> str:
    return f"{REMINDER_KEY}:{entry.id}:{entry.review_on.isoformat() if entry.review_on else 'none'}"


def may_manage(entry: KbEntry, person: Person) -> bool:
    """The owner, anyone who holds a leader role at the owning school, or a convenor."""
    if person.is_convenor or entry.owner_id == person.id:
        return True
    return entry.school_id is not None and entry.school_id == person.school_id and person.has_role("head", "exec-head")


async def due(session: AsyncSession, network_id: int, *, until: date) -> list[KbEntry]:
    """Active entries whose review date is on or before ``until``, soonest first."""
    q = (
        select(KbEntry)
        .where(
            KbEntry.network_id == network_id,
            KbEntry.status == "active",
            KbEntry.review_on.is_not(None),
            KbEntry.review_on <= until,
        )
        .order_by(KbEntry.review_on, KbEntry.id)
    )
    return list((await session.execute(q)).scalars())


@dataclass(frozen=True)
class Stats:
    active: int
    retired: int
    by_kind: dict[str, int]
    current: int  # active and not past their review date
    overdue: int
    due_soon: int
    confirmed: int  # confirmed (or updated) at least once
    without_owner: int

    @property
    def current_share(self) -> float:
        return round(self.current / self.active, 3) if self.active else 1.0

    def to_json(self) -> dict[str, Any]:
        return {
            "active": self.active,
            "retired": self.retired,
            "by_kind": self.by_kind,
            "current": self.current,
            "overdue": self.overdue,
            "due_soon": self.due_soon,
            "confirmed": self.confirmed,
            "without_owner": self.without_owner,
            "current_share": self.current_share,
        }


async def stats(session: AsyncSession, network_id: int, *, today: date, soon: timedelta) -> Stats:
    """How current the knowledge base is: the share of active entries within their review date."""
    rows = (
        await session.execute(
            select(KbEntry.kind, KbEntry.status, KbEntry.review_on, KbEntry.confirmed_at, KbEntry.owner_id).where(
                KbEntry.network_id == network_id
            )
        )
    ).all()
    by_kind = dict.fromkeys(KINDS, 0)
    active = retired = current = overdue = due_soon = confirmed = without_owner = 0
    for kind, status, review_on, confirmed_at, owner_id in rows:
        if status == "pending":
            continue  # not in the knowledge base yet
        if status != "active":
            retired += 1
            continue
        active += 1
        by_kind[kind] = by_kind.get(kind, 0) + 1
        if review_on is None or review_on >= today:
            current += 1
            if review_on is not None and review_on <= today + soon:
                due_soon += 1
        else:
            overdue += 1
        confirmed += confirmed_at is not None
        without_owner += owner_id is None
    return Stats(active, retired, by_kind, current, overdue, due_soon, confirmed, without_owner)


async def count(session: AsyncSession, network_id: int) -> int:
    q = select(func.count()).select_from(KbEntry).where(KbEntry.network_id == network_id)
    return int((await session.execute(q)).scalar_one())


async def school_by_name(session: AsyncSession, network_id: int, name: str | None) -> School | None:
    """The school a ``--school`` / JSON ``school`` names (close spellings accepted)."""
    if name is None or not name.strip():
        return None
    return await network_store.find_school(session, network_id, name)


async def default_owner(session: AsyncSession, network_id: int, school: School | None) -> Person | None:
    """Who looks after an entry added from the command line: the school's head."""
    if school is None:
        return None
    from bot.network.owners import carriers

    people = [p for p in await network_store.people(session, network_id) if p.school_id == school.id]
    found = carriers(None, people)
    return found[0] if found else None
