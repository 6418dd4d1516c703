"""Retention: personal data is kept only as long as the network's config says.

Each area that keeps text or ids over time lists a :class:`Retention` policy in
:data:`POLICIES`; ``peerbot privacy retention [--dry-run]`` and the hourly housekeeping
task apply them all. Policies count what they remove into a :class:`RetentionReport`.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import and_, delete
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.config import PrivacySettings
from bot.db.base import rows_affected
from bot.models.messaging import OutboxKey, OutboxMessage, SeenEvent

POLICIES: tuple[str, ...] = (
    "bot.privacy.retention:DeliveredMessages",
    "bot.privacy.retention:SeenEvents",
    "bot.privacy.inbox:WaitingEvents",
    "bot.privacy.retention:SentKeys",
    "bot.privacy.questions:QuestionRetention",
    "bot.privacy.outbox:QuestionCopies",  # after QuestionRetention: the copies of what it removed
    "knowledge.privacy:PendingEntries",
)

SEEN_EVENT_RETENTION = timedelta(days=7)  # far longer than any platform retries
# How long the key of a message outlives its copy: a decision taken within this time is not
# taken again (a knowledge-base entry still overdue is reminded again a year on, not monthly).
SENT_KEY_RETENTION = timedelta(days=400)


@dataclass
class RetentionReport:
    removed: dict[str, int] = field(default_factory=dict)

    def add(self, what: str, n: int) -> None:
        if n:
            self.removed[what] = self.removed.get(what, 0) + n

    def lines(self) -> list[str]:
        return [f"{n} {what}" for what, n in self.removed.items()] or ["nothing is past its retention period"]


class Retention(Protocol):
    async def apply(
        self, session: AsyncSession, network_id: int, now: datetime, settings: PrivacySettings, report: RetentionReport
    ) -> None: ...


class DeliveredMessages:
    """Copies of messages already sent, skipped, cancelled or given up on."""

    async def apply(
        self, session: AsyncSession, network_id: int, now: datetime, settings: PrivacySettings, report: RetentionReport
    ) -> None:
        cutoff = now - settings.delivered_message_retention
        removed = await outbox.forget(
            session,
            and_(
                OutboxMessage.network_id == network_id,
                OutboxMessage.status.in_(["sent", "skipped", "cancelled", "failed"]),
                OutboxMessage.created_at < cutoff,
                OutboxMessage.not_before < cutoff,
            ),
        )
        report.add("delivered messages", removed)


class SentKeys:
    """The keys of messages whose copies have gone (kept so nothing is queued twice), after
    :data:`SENT_KEY_RETENTION`."""

    async def apply(
        self, session: AsyncSession, network_id: int, now: datetime, settings: PrivacySettings, report: RetentionReport
    ) -> None:
        result = await session.execute(
            delete(OutboxKey).where(OutboxKey.network_id == network_id, OutboxKey.at < now - SENT_KEY_RETENTION)
        )
        report.add("keys of old messages", rows_affected(result))


class SeenEvents:
    """Platform event ids kept to drop retries."""

    async def apply(
        self, session: AsyncSession, network_id: int, now: datetime, settings: PrivacySettings, report: RetentionReport
    ) -> None:
        result = await session.execute(delete(SeenEvent).where(SeenEvent.seen_at < now - SEEN_EVENT_RETENTION))
        report.add("platform event ids", rows_affected(result))


def policies(names: Sequence[str] = POLICIES) -> list[Retention]:
    found: list[Retention] = []
    for name in names:
        module, _, cls = name.partition(":")
        found.append(getattr(importlib.import_module(module), cls)())
    return found


async def apply_retention(
    session: AsyncSession, network_id: int, now: datetime, settings: PrivacySettings
) -> RetentionReport:
    report = RetentionReport()
    for policy in policies():
        await policy.apply(session, network_id, now, settings, report)
    return report
