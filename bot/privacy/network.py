"""Personal data in the network itself: the person, their roles, audit items naming
them (as their carrier, or as who confirmed them), and the administrative log's mentions
of them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import admin_log
from bot.db.base import rows_affected
from bot.models.messaging import AdminLog
from bot.models.network import Audit, AuditItem, Person, School
from bot.privacy import ErasureOptions, ErasureReport


def erased_label(person_id: int) -> str:
    return f"erased person #{person_id}"


class NetworkData:
    section = "network"

    async def export(self, session: AsyncSession, person: Person) -> Any:
        items = (
            await session.execute(select(AuditItem).where(AuditItem.owner == person.email, _in_network(person)))
        ).scalars()
        confirmed = (
            await session.execute(select(AuditItem).where(AuditItem.audited_by == person.name, _in_network(person)))
        ).scalars()
        ref = admin_log.person_ref(person)
        log = (
            await session.execute(
                select(AdminLog)
                .where(
                    AdminLog.network_id == person.network_id,
                    or_(AdminLog.actor.in_([person.email, ref]), AdminLog.subject == ref),
                )
                .order_by(AdminLog.at, AdminLog.id)
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
            "audit_items_they_confirmed": [
                {"kind": i.kind, "text": i.text, "on": i.audited_on.isoformat() if i.audited_on else None}
                for i in confirmed
            ],
            "administrative_log": [
                {
                    "at": e.at.isoformat(),
                    "by_them": e.actor in (person.email, ref),
                    "action": e.action,
                    "subject": e.subject,
                    "detail": e.detail,
                }
                for e in log
            ],
        }

    async def erase(
        self, session: AsyncSession, person: Person, options: ErasureOptions, report: ErasureReport
    ) -> None:
        label = erased_label(person.id)
        result = await session.execute(
            update(AuditItem).where(AuditItem.owner == person.email, _in_network(person)).values(owner=None)
        )
        report.add(self.section, "audit items handed back to their school's head", rows_affected(result))
        # Items they confirmed stay audited, by someone no longer named.
        result = await session.execute(
            update(AuditItem).where(AuditItem.audited_by == person.name, _in_network(person)).values(audited_by=label)
        )
        report.add(self.section, "audit items they confirmed, no longer naming them", rows_affected(result))
        await session.execute(
            update(Audit)
            .where(Audit.audited_by == person.name, Audit.school_id.in_(_schools(person)))
            .values(audited_by=label)
        )
        scrubbed = await admin_log.scrub(session, person.network_id, person, label)
        report.add(self.section, "log entries anonymised", scrubbed)
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


def _schools(person: Person) -> Select[int]:
    return select(School.id).where(School.network_id == person.network_id)


def _in_network(person: Person) -> ColumnElement[bool]:
    """An audit item of one of the person's network's schools."""
    return AuditItem.audit_id.in_(select(Audit.id).where(Audit.school_id.in_(_schools(person))))
