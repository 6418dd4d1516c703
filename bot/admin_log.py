"""The administrative log: who changed which audit, who exported or erased whom.

Append-only, and never holding message text. People are named by number
(:func:`person_ref`, ``person #12``), in who did it (``actor``), what it was about
(``subject``) and the details alike, so the log itself holds no names or emails; the
command line is ``cli:<the OS user>``. An erasure still scrubs every entry of anything
naming the person (:func:`scrub`), for entries written before this rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models.messaging import AdminLog
from bot.models.network import Person


def person_ref(person: Person | int) -> str:
    """How the log names a person: ``person #12``."""
    return f"person #{person if isinstance(person, int) else person.id}"


_PERSON_REF = re.compile(r"^person #(\d+)$")


def person_id_of(ref: str | None) -> int | None:
    """The number in ``person #12``, or None for any other actor (``cli:alice``)."""
    m = _PERSON_REF.match(ref or "")
    return int(m.group(1)) if m else None


def entry(
    network_id: int, at: datetime, actor: str, action: str, subject: str | None = None, **detail: Any
) -> AdminLog:
    return AdminLog(network_id=network_id, at=at, actor=actor, action=action, subject=subject, detail=detail)


async def latest(session: AsyncSession, network_id: int, limit: int) -> list[AdminLog]:
    """The newest ``limit`` entries, oldest first (as a log reads)."""
    q = (
        select(AdminLog)
        .where(AdminLog.network_id == network_id)
        .order_by(AdminLog.at.desc(), AdminLog.id.desc())
        .limit(limit)
    )
    return list(reversed((await session.execute(q)).scalars().all()))


class Scrubber:
    """Replaces whatever names one person (email, name, platform ids) in log values."""

    def __init__(self, person: Person, label: str) -> None:
        self.label = label
        # ``person #12`` stays: once the person's row is anonymised the number names no one.
        self.exact = {person.email.casefold()}
        for platform, uid in (("slack", person.slack_id), ("discord", person.discord_id)):
            if uid:
                self.exact.add(f"{platform}:{uid}".casefold())
                self.exact.add(uid.casefold())
        words = [re.escape(w) for w in person.name.split()]
        patterns = [re.escape(person.email)]
        if words and len(person.name.strip()) >= 3:
            patterns.append(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)")
        self._pattern = re.compile("|".join(patterns), re.IGNORECASE)

    def text(self, value: str) -> str:
        if value.casefold() in self.exact:
            return self.label
        return self._pattern.sub(self.label, value)

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        return value


async def scrub(session: AsyncSession, network_id: int, person: Person, label: str) -> int:
    """Remove every mention of ``person`` from the log; returns how many entries changed."""
    scrubber = Scrubber(person, label)
    changed = 0
    rows: Iterable[AdminLog] = (
        (await session.execute(select(AdminLog).where(AdminLog.network_id == network_id))).scalars().all()
    )
    for row in rows:
        actor, subject, detail = (
            scrubber.text(row.actor),
            scrubber.text(row.subject) if row.subject is not None else None,
            scrubber.value(row.detail),
        )
        if (actor, subject, detail) != (row.actor, row.subject, row.detail):
            row.actor, row.subject, row.detail = actor, subject, detail
            changed += 1
    return changed
