"""Personal data in the network itself: the person, their roles, audit items naming
them, and the administrative log's mentions of them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models.messaging import AdminLog
from bot.models.network import AuditItem, Person
from bot.privacy import ErasureOptions, ErasureReport


def erased_label(person_id: int) -> str:
    return f"erased person #{person_id}"


class NetworkData:
    section = "network"

    async def export(self, session: AsyncSession, person: Person) -> Any:
        items = (await session.execute(select(AuditItem).where(AuditItem.owner == person.email))).scalars()
        log = (
            await session.execute(
                select(AdminLog).where(AdminLog.actor == person.email).order_by(AdminLog.at, AdminLog.id)
            )
        ).scalars()
        return {
            "person": {
                "name": person.name,
                "email": person.email,
                "school": person.school.name,
                "roles": person.roles,
                "slack_id": person.slack_id,
                "discord_id": person.discord_id,
                "active": person.active,
                "away_until": person.away_until.isoformat() if person.away_until else None,
                "notes": person.extra,
                "added": person.created_at.isoformat(),
                "updated": person.updated_at.isoformat(),
            },
            "audit_items_they_carry": [{"kind": i.kind, "text": i.text} for i in items],
            "administrative_actions": [{"at": e.at.isoformat(), "action": e.action, "subject": e.subject} for e in log],
        }

    async def erase(
        self, session: AsyncSession, person: Person, options: ErasureOptions, report: ErasureReport
    ) -> None:
        label = erased_label(person.id)
        result = await session.execute(update(AuditItem).where(AuditItem.owner == person.email).values(owner=None))
        report.add(self.section, "audit items handed back to their school's head", _count(result))
        result = await session.execute(update(AdminLog).where(AdminLog.actor == person.email).values(actor=label))
        report.add(self.section, "log entries anonymised", _count(result))
        report.add(self.section, "roles removed", len(person.role_rows))
        person.role_rows = []
        person.name = label.capitalize()
        person.email = f"erased-{person.id}@invalid"
        person.slack_id = None
        person.discord_id = None
        person.away_until = None
        person.extra = {}
        person.active = False
        report.add(self.section, "person anonymised", 1)


def _count(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
