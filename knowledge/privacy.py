"""Personal data in the knowledge base: entries a person owns or added, and edits they made.

On erasure their answers stay, credited to their school, when the network chose that
(``privacy.keep_answers_after_erasure``); otherwise the answers they gave are emptied and
retired, which also takes them out of every worker's search index.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import PrivacySettings
from bot.db.base import rows_affected
from bot.models.network import Person
from bot.privacy import ErasureOptions, ErasureReport
from bot.privacy.network import erased_label
from bot.privacy.retention import RetentionReport
from knowledge import store
from knowledge.models import KbEntry, KbEntryHistory


class KnowledgeData:
    section = "knowledge_base"

    async def export(self, session: AsyncSession, person: Person) -> Any:
        entries = (
            await session.execute(
                select(KbEntry)
                .where(or_(KbEntry.owner_id == person.id, KbEntry.added_by_id == person.id))
                .order_by(KbEntry.id)
            )
        ).scalars()
        edits = (await session.execute(select(KbEntryHistory).where(KbEntryHistory.by_id == person.id))).scalars()
        return {
            "entries": [
                {
                    "id": e.id,
                    "kind": e.kind,
                    "title": e.title,
                    "status": e.status,
                    "owner": e.owner_id == person.id,
                    "added_by_them": e.added_by_id == person.id,
                    "added": e.created_at.isoformat(),
                }
                for e in entries
            ],
            "edits": [{"entry": h.entry_id, "action": h.action, "at": h.at.isoformat()} for h in edits],
        }

    async def erase(
        self, session: AsyncSession, person: Person, options: ErasureOptions, report: ErasureReport
    ) -> None:
        label = erased_label(person.id)
        now = options.now
        pending = (
            await session.execute(select(KbEntry).where(KbEntry.added_by_id == person.id, KbEntry.status == "pending"))
        ).scalars()
        report.add(self.section, "entries never confirmed, deleted", await store.discard(session, list(pending)))
        proposed = await _proposals(session, KbEntryHistory.by_id == person.id)
        report.add(self.section, "new versions never confirmed, deleted", await store.drop_proposals(session, proposed))
        if not options.keep_contributions:
            answers = (
                await session.execute(select(KbEntry).where(KbEntry.added_by_id == person.id, KbEntry.kind == "answer"))
            ).scalars()
            n = 0
            for entry in answers:
                entry.title, entry.text, entry.status, entry.updated_at = "(removed)", "", "retired", now
                entry.revision += 1
                n += 1
            report.add(self.section, "answers removed", n)
        result = await session.execute(
            update(KbEntry).where(KbEntry.owner_id == person.id).values(owner_id=None, updated_at=now)
        )
        report.add(self.section, "entries handed to the convenor to keep current", rows_affected(result))
        result = await session.execute(
            update(KbEntry).where(KbEntry.added_by_id == person.id).values(added_by_id=None, added_by=label)
        )
        report.add(self.section, "entries no longer credited to them by name", rows_affected(result))
        result = await session.execute(
            update(KbEntryHistory).where(KbEntryHistory.by_id == person.id).values(by_id=None, by=label)
        )
        report.add(self.section, "edit records anonymised", rows_affected(result))


async def _proposals(session: AsyncSession, *where: Any) -> list[int]:
    """New versions of entries that wait for their author's word (see ``store.propose``)."""
    q = select(KbEntryHistory.id).where(KbEntryHistory.action == store.PROPOSED, *where)
    return list((await session.execute(q)).scalars())


class PendingEntries:
    """Entries shared but never confirmed (a DSL entry awaiting "it names no one", a file
    awaiting "Add to the knowledge base"), and new versions of DSL entries awaiting it:
    deleted after ``store.PENDING_FOR``."""

    async def apply(
        self, session: AsyncSession, network_id: int, now: datetime, settings: PrivacySettings, report: RetentionReport
    ) -> None:
        stale = (
            await session.execute(
                select(KbEntry).where(
                    KbEntry.network_id == network_id,
                    KbEntry.status == "pending",
                    KbEntry.created_at < now - store.PENDING_FOR,
                )
            )
        ).scalars()
        report.add("knowledge-base entries never confirmed", await store.discard(session, list(stale)))
        stale_versions = await _proposals(
            session,
            KbEntryHistory.at < now - store.PENDING_FOR,
            KbEntryHistory.entry_id.in_(select(KbEntry.id).where(KbEntry.network_id == network_id)),
        )
        report.add("knowledge-base new versions never confirmed", await store.drop_proposals(session, stale_versions))
