"""Personal data in the inbox: events acknowledged to a platform and not yet handled (what
someone wrote, a button they pressed). Normally a row lives for seconds; after an outage
it waits for the next start.

- **Export**: the events of theirs still waiting (kind, when, and the text).
- **Erasure**: their waiting events are deleted, so they are never handled; replies to
  them kept until sent (``seen_events.replies``: see
  :meth:`bot.dispatch.dispatcher.Dispatcher.handle_keeping`) are let go of unsent.
- **Retention** (:class:`WaitingEvents`): an event still waiting after
  :data:`INBOX_RETENTION` is deleted unhandled (as long as retries of it are recognised:
  after that it could no longer be told apart from a new event).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, false, func, null, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import PrivacySettings
from bot.db.base import rows_affected
from bot.models.messaging import InboxEvent, SeenEvent
from bot.models.network import Person
from bot.privacy import ErasureOptions, ErasureReport
from bot.privacy.retention import SEEN_EVENT_RETENTION, RetentionReport

INBOX_RETENTION = SEEN_EVENT_RETENTION


def _sent_by(person: Person, platform: Any, sender_id: Any) -> ColumnElement[bool]:
    """Rows whose ``platform`` and ``sender_id`` columns are ``person``'s, on any platform
    they are known on."""
    ids = []
    if person.slack_id:
        ids.append(and_(platform == "slack", sender_id == person.slack_id))
    if person.discord_id:
        ids.append(and_(platform == "discord", sender_id == person.discord_id))
    ids.append(and_(platform == "console", func.lower(sender_id) == person.email.lower()))
    return or_(false(), *ids)


def theirs(person: Person) -> ColumnElement[bool]:
    """The inbox rows sent by ``person``."""
    return and_(InboxEvent.network_id == person.network_id, _sent_by(person, InboxEvent.platform, InboxEvent.sender_id))


class InboxData:
    section = "waiting events"

    async def export(self, session: AsyncSession, person: Person) -> Any:
        rows = (await session.execute(select(InboxEvent).where(theirs(person)).order_by(InboxEvent.id))).scalars()
        return [
            {
                "platform": r.platform,
                "kind": r.event.get("kind"),
                "received": r.received_at.isoformat(),
                "text": r.event.get("text", ""),
            }
            for r in rows
        ]

    async def erase(
        self, session: AsyncSession, person: Person, options: ErasureOptions, report: ErasureReport
    ) -> None:
        result = await session.execute(delete(InboxEvent).where(theirs(person)))
        report.add(self.section, "events of theirs not yet handled removed", rows_affected(result))
        result = await session.execute(
            update(SeenEvent)
            .where(_sent_by(person, SeenEvent.platform, SeenEvent.sender_id))
            .values(replies=null(), sender_id=null())
        )
        report.add(self.section, "replies to them not yet sent removed", rows_affected(result))


class WaitingEvents:
    """Events still waiting in the inbox after :data:`INBOX_RETENTION`."""

    async def apply(
        self, session: AsyncSession, network_id: int, now: datetime, settings: PrivacySettings, report: RetentionReport
    ) -> None:
        cutoff = now - INBOX_RETENTION
        result = await session.execute(
            delete(InboxEvent).where(InboxEvent.network_id == network_id, InboxEvent.received_at < cutoff)
        )
        report.add("events never handled", rows_affected(result))
