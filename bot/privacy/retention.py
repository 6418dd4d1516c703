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
from typing import Any, Protocol

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import PrivacySettings
from bot.models.messaging import OutboxMessage, SeenEvent

POLICIES: tuple[str, ...] = (
    "bot.privacy.retention:DeliveredMessages",
    "bot.privacy.retention:SeenEvents",
    "bot.privacy.questions:QuestionRetention",
    "knowledge.privacy:PendingEntries",
)

SEEN_EVENT_RETENTION = timedelta(days=7)  # far longer than any platform retries


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
        result = await session.execute(
            delete(OutboxMessage).where(
                OutboxMessage.network_id == network_id,
                OutboxMessage.status.in_(["sent", "skipped", "cancelled", "failed"]),
                OutboxMessage.created_at < cutoff,
                OutboxMessage.not_before < cutoff,
            )
        )
        report.add("delivered messages", _count(result))


class SeenEvents:
    """Platform event ids kept to drop retries."""

    async def apply(
        self, session: AsyncSession, network_id: int, now: datetime, settings: PrivacySettings, report: RetentionReport
    ) -> None:
        result = await session.execute(delete(SeenEvent).where(SeenEvent.seen_at < now - SEEN_EVENT_RETENTION))
        report.add("platform event ids", _count(result))


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


def _count(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
