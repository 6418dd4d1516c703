"""The knowledge base as the bot sees it: the index kept in step with the database.

One :class:`KnowledgeBase` per process. It builds the index from the database at start-up
and, before answering, reads the entries changed since it last looked (at most every
``knowledge.refresh_seconds``), so an entry added by another worker is found within
seconds and one added by this worker at once. The index keeps each entry's text
(compressed) for snippets, so a search reads nothing back — except for an entry indexed by
a transaction that had itself written entries: that transaction may yet roll back, so such
an entry is read back from the database (and dropped from the index if it is not there)
until a transaction that wrote nothing has seen it too.

Commits land out of order, so each look re-reads the entries changed in the last
``OVERLAP`` before the newest one seen. After a large import that window holds thousands
of rows, so a look first asks the database for the window's size and newest change (one
row, from the index on ``updated_at``) and reads the rows only when those moved — and in
any case every ``FULL_LOOK_SECONDS``, for a late commit that happens to change neither.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import chain
from typing import Any, Protocol, TypeVar

from sqlalchemy import ColumnElement, Row, event, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from bot.clock import Clock
from bot.config import Config, KnowledgeSettings
from bot.events import MessageRef
from bot.models.network import Person, School
from bot.network import store as network_store
from bot.roles import in_group
from bot.services import KbSuggestion, ReviewDue
from knowledge import store
from knowledge.models import KbEntry
from knowledge.search import Hit, IndexedEntry, SearchIndex, snippet
from knowledge.vocabulary import Vocabulary, default_vocabulary

log = logging.getLogger(__name__)

_COLUMNS = (
    KbEntry.id,
    KbEntry.kind,
    KbEntry.title,
    KbEntry.text,
    KbEntry.tags,
    KbEntry.group,
    KbEntry.school_id,
    KbEntry.school_name,
    KbEntry.ref,
    KbEntry.review_on,
    KbEntry.confirmed_at,
    KbEntry.updated_at,
    KbEntry.created_at,
    KbEntry.revision,
    KbEntry.content_hash,
    KbEntry.status,
)
_WROTE = "peerbot.knowledge.wrote"  # session.info: this transaction has written entries


def wrote_entries(session: AsyncSession | Session) -> bool:
    """Whether this transaction has written (and flushed) knowledge-base entries."""
    return bool(session.info.get(_WROTE))


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    if any(isinstance(o, KbEntry) for o in chain(session.new, session.dirty, session.deleted)):
        session.info[_WROTE] = True


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> None:
    """Bulk ``insert()``/``update()``/``delete()`` statements run through the session."""
    if (state.is_insert or state.is_update or state.is_delete) and any(
        m is not None and m.class_ is KbEntry for m in state.all_mappers
    ):
        state.session.info[_WROTE] = True


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _after_transaction(session: Session) -> None:
    session.info.pop(_WROTE, None)


OVERLAP = timedelta(minutes=10)  # re-read a little behind the watermark: commits land out of order
FULL_LOOK_SECONDS = 30.0  # read the whole window at least this often, whatever its size and newest change say
LOAD_BATCH = 2000


@dataclass(frozen=True, slots=True)
class Result:
    id: int
    title: str
    kind: str
    school: str | None
    score: float
    snippet: str
    ref: str | None
    expired: bool
    review_on: date | None
    group: str | None

    def to_json(self) -> dict[str, object]:
        doc: dict[str, object] = {
            "id": self.id,
            "title": self.title,
            "kind": self.kind,
            "school": self.school,
            "score": self.score,
            "snippet": self.snippet,
        }
        if self.ref is not None:
            doc["ref"] = self.ref
        if self.expired:
            doc["expired"] = True
        return doc


class _Scored(Protocol):
    @property
    def score(self) -> float: ...


R = TypeVar("R", bound=_Scored)


@dataclass(frozen=True, slots=True)
class Page:
    results: list[Result]
    total: int


class KnowledgeBase:
    """Implements :class:`bot.services.KnowledgeService`."""

    def __init__(self, config: Config, network_id: int, clock: Clock, vocabulary: Vocabulary | None = None) -> None:
        self.config = config
        self.network_id = network_id
        self.clock = clock
        self.vocabulary = vocabulary or default_vocabulary()
        self.index = SearchIndex(self.vocabulary)
        self._watermark: datetime | None = None
        self._checked = 0.0  # time.monotonic() of the last look at the database
        self._read = 0.0  # time.monotonic() of the last read of the window's rows
        self.used = -math.inf  # time.monotonic() of the last search, suggestion or change
        self.full_look_seconds = FULL_LOOK_SECONDS
        self._window: tuple[datetime | None, int, datetime | None] | None = None  # (start, rows, newest) as read
        self._schools: dict[int, str] = {}
        self._seen: dict[int, tuple[int, str, datetime]] = {}  # id → (revision, hash, updated_at) indexed
        # Entries indexed by a transaction that had written entries itself (it may roll back):
        # their texts are read back from the database until one that wrote nothing sees them.
        self._provisional: set[int] = set()
        self._loaded = False

    @property
    def settings(self) -> KnowledgeSettings:
        return self.config.settings.knowledge

    def today(self) -> date:
        return self.clock.now().astimezone(self.config.zone).date()

    # -- keeping in step ------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        return self._loaded

    async def load(self, session: AsyncSession) -> int:
        """Build the index from every active entry in one session (see :meth:`load_from`)."""

        async def batches(last_id: int) -> list[Row[Any]]:
            return await self._batch(session, last_id)

        loaded = await self.load_from(batches)
        if wrote_entries(session):
            self._provisional = set(self._seen)
        return loaded

    async def load_from(self, fetch: Callable[[int], Awaitable[list[Row[Any]]]]) -> int:
        """Build the index a batch at a time; ``fetch(last_id)`` reads the next batch
        (the bot's start-up task gives each batch its own short transaction).

        Nothing is locked while the database is read: a handler already inside a
        transaction may build the index too, rather than wait for a builder that is itself
        waiting for that transaction (on SQLite, a deadlock until the busy timeout). Each
        build is a consistent snapshot; the last to finish is kept, and later changes
        arrive through :meth:`refresh` as usual.
        """
        index = SearchIndex(self.vocabulary)
        seen: dict[int, tuple[int, str, datetime]] = {}
        watermark: datetime | None = None
        last_id = 0
        while True:
            rows = await fetch(last_id)
            if not rows:
                break
            for row in rows:
                index.add(self._indexed(row, seen))
                if watermark is None or row.updated_at > watermark:
                    watermark = row.updated_at
            last_id = rows[-1].id
        self.index, self._seen, self._watermark = index, seen, watermark
        self._provisional = set()
        self._loaded = True
        self._checked = time.monotonic()
        self._window = None
        return len(index)

    async def _batch(self, session: AsyncSession, last_id: int) -> list[Row[Any]]:
        if not self._schools:
            await self._load_schools(session)
        q = (
            select(*_COLUMNS)
            .where(KbEntry.network_id == self.network_id, KbEntry.status == "active", KbEntry.id > last_id)
            .order_by(KbEntry.id)
            .limit(LOAD_BATCH)
        )
        return list((await session.execute(q)).all())

    async def refresh(self, session: AsyncSession, *, force: bool = False) -> int:
        """Apply changes made since the last look (by any worker); returns how many."""
        self.used = time.monotonic()
        if not self._loaded:
            await self.load(session)
            return len(self.index)
        return await self._refresh(session, force=force)

    async def look_ahead(self, session: AsyncSession, ahead: float) -> int:
        """For :func:`bot.freshness.keep_fresh`: look now if the next search would look
        within ``ahead`` seconds (nothing while the index has not been built)."""
        return await self._refresh(session, ahead=ahead) if self._loaded else 0

    async def _refresh(self, session: AsyncSession, *, force: bool = False, ahead: float = 0.0) -> int:
        now = time.monotonic()
        if not force and now - self._checked < self.settings.refresh_seconds - ahead:
            return 0
        self._checked = now
        start = self._watermark - OVERLAP if self._watermark is not None else None
        if not force and now - self._read < self.full_look_seconds and self._window is not None:
            size = select(func.count(), func.max(KbEntry.updated_at)).where(*self._in_window(start))
            count, newest = (await session.execute(size)).one()
            if (start, count, newest) == self._window:
                return 0  # nothing committed in the window since its rows were read
        self._read = now
        q = select(KbEntry.id, KbEntry.revision, KbEntry.status, KbEntry.updated_at, KbEntry.content_hash)
        rows = (await session.execute(q.where(*self._in_window(start)))).all()
        changed: list[int] = []
        provisional = wrote_entries(session)
        for entry_id, revision, status, updated_at, digest in rows:
            self._advance(updated_at)
            if status != "active":
                if entry_id in self.index:
                    self.index.remove(entry_id)
                    self._seen.pop(entry_id, None)
                    changed.append(entry_id)
                continue
            if self._seen.get(entry_id) != (revision, digest, updated_at):
                changed.append(entry_id)
            elif not provisional:
                self._provisional.discard(entry_id)  # committed, as indexed
        # What the next look's window (from the watermark just reached) holds, as read now.
        start = self._watermark - OVERLAP if self._watermark is not None else None
        kept = [u for *_, u, _ in rows if start is None or u >= start]
        self._window = (start, len(kept), max(kept, default=None))
        if changed:
            await self._load_schools(session)
            entries = (await session.execute(select(*_COLUMNS).where(KbEntry.id.in_(changed)))).all()
            for row in entries:
                if row.status == "active":
                    self.index.add(self._indexed(row))
                    if provisional:
                        self._provisional.add(row.id)
                    else:
                        self._provisional.discard(row.id)
        return len(changed)

    def _in_window(self, start: datetime | None) -> list[ColumnElement[bool]]:
        """The rows changed since ``start`` (all of them when there is none)."""
        where = [KbEntry.network_id == self.network_id]
        return where if start is None else [*where, KbEntry.updated_at >= start]

    def invalidate(self) -> None:
        """Something changed here: look at the database before the next search."""
        self._checked = 0.0

    def _advance(self, updated_at: datetime) -> None:
        if self._watermark is None or updated_at > self._watermark:
            self._watermark = updated_at

    async def _load_schools(self, session: AsyncSession) -> None:
        rows = await session.execute(select(School.id, School.name).where(School.network_id == self.network_id))
        self._schools = {sid: name for sid, name in rows.all()}

    def _indexed(self, row: Row[Any], seen: dict[int, tuple[int, str, datetime]] | None = None) -> IndexedEntry:
        changed = row.confirmed_at or row.updated_at or row.created_at
        (self._seen if seen is None else seen)[row.id] = (row.revision, row.content_hash, row.updated_at)
        return IndexedEntry(
            id=row.id,
            kind=row.kind,
            title=row.title,
            text=row.text,
            tags=tuple(str(t) for t in row.tags or ()),
            group=row.group,
            school=self._schools.get(row.school_id) if row.school_id else row.school_name,
            ref=row.ref,
            review_on=row.review_on,
            changed_on=changed.astimezone(self.config.zone).date() if changed else None,
            revision=row.revision,
        )

    # -- searching ------------------------------------------------------------------------
    async def search(
        self,
        session: AsyncSession,
        query: str,
        *,
        groups: Collection[str] | None = None,
        limit: int = 10,
        offset: int = 0,
    ) -> Page:
        """Ranked results with snippets; ``groups=None`` sees every entry."""
        await self.refresh(session)
        found = self.index.search(query, groups=groups, today=self.today(), limit=limit, offset=offset)
        texts = await self._texts(session, [h.id for h in found.hits])
        for h in found.hits:
            if h.id not in texts:  # indexed inside a transaction that was rolled back
                self.index.remove(h.id)
                self._seen.pop(h.id, None)
                self._provisional.discard(h.id)
        results = [
            Result(
                id=h.id,
                title=h.title,
                kind=h.kind,
                school=h.school,
                score=h.score,
                snippet=snippet(texts.get(h.id, ""), found.plan.highlight),
                ref=h.ref,
                expired=h.expired,
                review_on=h.review_on,
                group=h.group,
            )
            for h in found.hits
            if h.id in texts
        ]
        return Page(results=results, total=found.total)

    async def _texts(self, session: AsyncSession, ids: list[int]) -> dict[int, str]:
        """The texts of the entries ``ids`` that exist: from the index, or from the database
        for an entry indexed by a transaction that may have rolled back (see the module's
        docstring)."""
        texts: dict[int, str] = {}
        for i in ids:
            text = self.index.text_of(i) if self._vouched_for(i) else None
            if text is not None:
                texts[i] = text
        texts.update(await self._read_back(session, [i for i in ids if i not in texts]))
        return texts

    async def _existing(self, session: AsyncSession, ids: list[int]) -> set[int]:
        """Which of the entries ``ids`` exist (:meth:`_texts` without decompressing texts)."""
        sure = {i for i in ids if self._vouched_for(i)}
        return sure | (await self._read_back(session, [i for i in ids if i not in sure])).keys()

    def _vouched_for(self, entry_id: int) -> bool:
        """The index holds the entry, and no transaction that may roll back indexed it."""
        return entry_id not in self._provisional and entry_id in self.index

    async def _read_back(self, session: AsyncSession, ids: list[int]) -> dict[int, str]:
        """The texts of those of ``ids`` the database holds (entries the index cannot vouch
        for); once a transaction that wrote no entries has seen them, they are committed."""
        if not ids:
            return {}
        rows = await session.execute(select(KbEntry.id, KbEntry.text).where(KbEntry.id.in_(ids)))
        read = {i: t for i, t in rows.all()}
        if not wrote_entries(session):
            self._provisional.difference_update(read)  # committed: another transaction can see them
        return read

    # -- the KnowledgeService seam ----------------------------------------------------------
    async def reviews_due(self, session: AsyncSession, *, before: date) -> list[ReviewDue]:
        """Entries due for review by ``before`` (overdue ones too), one item per person to
        remind: the owner, or — when it has none — whoever may keep it (see :meth:`_keepers`)
        (:class:`bot.services.ReviewSource`)."""
        entries = await store.due(session, self.network_id, until=before)
        if not entries:
            return []
        convenors = await network_store.people_with_roles(session, self.network_id, ["convenor"])
        everyone: list[Person] | None = None
        out: list[ReviewDue] = []
        for entry in entries:
            if entry.review_on is None:
                continue
            owner = await session.get(Person, entry.owner_id) if entry.owner_id else None
            if owner is not None and owner.active and self._may_see(owner, entry):
                recipients = [owner]
            else:
                if everyone is None and entry.group is not None:
                    everyone = await network_store.people(session, self.network_id)
                recipients = self._keepers(entry, convenors, everyone or [])
            value = str(entry.id)
            for person in recipients:
                out.append(
                    ReviewDue(
                        key=f"{store.reminder_key(entry)}:{person.id}",
                        owner_person_id=person.id,
                        title=f"{entry.title} ({entry.kind})",
                        review_on=entry.review_on,
                        buttons=(
                            ("Still right", "kb.confirm", value),
                            ("Update it", "kb.update", value),
                            ("Retire it", "kb.retire", value),
                        ),
                    )
                )
        return out

    def _may_see(self, person: Person, entry: KbEntry) -> bool:
        if entry.group is None:
            return True
        group = self.config.enabled_groups().get(entry.group)
        return group is not None and in_group(person.roles, group.roles)

    def _keepers(self, entry: KbEntry, convenors: list[Person], everyone: list[Person]) -> list[Person]:
        """Who keeps an entry with no owner: the convenors; for a group's entry (the DSLs'
        say) only someone in that group — a convenor who is, else the group's members at the
        entry's school, else all of them. Nobody outside the group sees even its title."""
        if entry.group is None:
            return convenors
        if entry.group not in self.config.enabled_groups():
            return []  # a group that is switched off: its entries are seen by nobody
        members = [p for p in everyone if self._may_see(p, entry)]
        return (
            [p for p in convenors if self._may_see(p, entry)]
            or [p for p in members if entry.school_id is not None and p.school_id == entry.school_id]
            or members
        )

    async def suggest(
        self, session: AsyncSession, text: str, *, groups: Collection[str], limit: int = 3
    ) -> list[KbSuggestion]:
        """Up to ``limit`` entries that genuinely match ``text``: a high enough score, and
        within reach of the best one (a weak runner-up is left out). Those the index is not
        sure of are looked for in the database (see the module's docstring). A suggestion
        is shown by its title and school, so no snippet is made for it."""
        await self.refresh(session)
        found = self.index.search(text, groups=groups, today=self.today(), limit=max(1, min(limit, 10)))
        chosen: Sequence[Hit | Result] = self._close_enough(found.hits)
        existing = await self._existing(session, [h.id for h in chosen])
        if any(h.id not in existing for h in chosen):  # indexed inside a transaction that was rolled back
            page = await self.search(session, text, groups=groups, limit=max(1, min(limit, 10)))
            chosen = self._close_enough(page.results)
        return [
            KbSuggestion(id=h.id, title=h.title, kind=h.kind, score=h.score, school=h.school) for h in chosen[:limit]
        ]

    def _close_enough(self, ranked: Sequence[R]) -> list[R]:
        threshold = self.settings.suggest_min_score
        best = ranked[0].score if ranked else 0.0
        out: list[R] = []
        for r in ranked:
            if r.score < threshold or r.score < best * 0.6:
                break
            out.append(r)
        return out

    async def add_answer(
        self,
        session: AsyncSession,
        *,
        question: str,
        answer: str,
        school_id: int,
        group: str | None,
        thread: MessageRef | None,
        added_by: int,
    ) -> int:
        """Keep a question and the answer that closed it, credited to ``school_id``.

        The caller has the answerer's consent (and, for a safeguarding group, their word
        that the answer names no child, family or member of staff)."""
        person = await session.get(Person, added_by)
        title = " ".join(question.split())
        if len(title) > 120:
            title = title[:119].rstrip() + "…"
        new = store.NewEntry(
            kind="answer",
            title=title or "An answer from the network",
            text=f"Q: {question.strip()}\n\nA: {answer.strip()}",
            school_id=school_id,
            group=group,
            tags=("general practice",) if group == "dsl" else (),
            source="answer",
            thread=thread.to_json() if thread else None,
        )
        entry, _ = await store.save(
            session,
            self.network_id,
            new,
            now=self.clock.now(),
            today=self.today(),
            settings=self.settings,
            owner=person,
            added_by=person,
        )
        self.invalidate()
        return entry.id
