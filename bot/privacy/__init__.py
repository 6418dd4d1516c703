"""Data protection: export or erase everything held about one person (UK GDPR).

Each part of the core that stores personal data provides a :class:`PersonalData`
provider, listed in :data:`PROVIDERS`; export and erasure walk them all in one
transaction, so nothing is forgotten and an erasure is all or nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot.models.network import Person

# "module:Class" of every provider; add yours here.
PROVIDERS: tuple[str, ...] = (
    "bot.privacy.inbox:InboxData",  # first: it finds their events by the platform ids erasure removes
    "bot.privacy.network:NetworkData",
    "knowledge.privacy:KnowledgeData",
    "bot.privacy.questions:QuestionData",
    "bot.privacy.meetings:MeetingData",
    "bot.privacy.outbox:OutboxData",  # last: erasure hand-overs queue messages the others may cause
)


@dataclass(frozen=True)
class ErasureOptions:
    now: datetime
    keep_contributions: bool  # answers/entries stay, credited to the school (config privacy.keep_answers_after_erasure)
    dry_run: bool = False


@dataclass
class ErasureReport:
    person_id: int
    actions: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, section: str, what: str, n: int) -> None:
        if n:
            self.actions.setdefault(section, {})[what] = self.actions.get(section, {}).get(what, 0) + n

    def lines(self) -> list[str]:
        out = []
        for section, counts in self.actions.items():
            out.append(f"{section}: " + ", ".join(f"{n} {what}" for what, n in counts.items()))
        return out or ["nothing was held"]


class PersonalData(Protocol):
    """One area's personal data about a person."""

    section: str

    async def export(self, session: AsyncSession, person: Person) -> Any:
        """Everything this area holds about ``person``, as JSON-ready data."""
        ...

    async def erase(
        self, session: AsyncSession, person: Person, options: ErasureOptions, report: ErasureReport
    ) -> None:
        """Remove or anonymise it (counting into ``report``); must honour ``options.dry_run``
        only through the caller's rollback — providers always make their changes."""
        ...


def providers(names: Sequence[str] = PROVIDERS) -> list[PersonalData]:
    found: list[PersonalData] = []
    for name in names:
        module, _, cls = name.partition(":")
        found.append(getattr(importlib.import_module(module), cls)())
    return found


def _document_header(person: Person, network: str) -> dict[str, Any]:
    return {
        "about": f"Everything peerbot holds about {person.name} in the {network} network.",
        "email": person.email,
    }


async def export_person(
    session: AsyncSession, network_id: int, network_name: str, email: str
) -> tuple[Person, dict[str, Any]]:
    """Everything held about the person with ``email``, section by section."""
    person = await _find(session, network_id, email)
    document = _document_header(person, network_name)
    for provider in providers():
        document[provider.section] = await provider.export(session, person)
    return person, document


async def erase_person(
    session: AsyncSession,
    network_id: int,
    email: str,
    options: ErasureOptions,
    on_left: Callable[[Person], Awaitable[None]] | None = None,
) -> ErasureReport:
    """Erase or anonymise everything held about the person with ``email``.

    ``on_left`` (``bot.person_left`` bound to the session) runs first, while they can
    still be named, so that whatever was waiting for them moves on to someone else.
    """
    person = await _find(session, network_id, email)
    report = ErasureReport(person_id=person.id)
    if on_left is not None and person.active:
        person.active = False
        await on_left(person)
    for provider in providers():
        await provider.erase(session, person, options, report)
    await session.flush()
    return report


async def _find(session: AsyncSession, network_id: int, email: str) -> Person:
    from bot.errors import NotFound
    from bot.network.store import person_by_email

    person = await person_by_email(session, network_id, email)
    if person is None or person.email.startswith("erased-"):
        raise NotFound(f"there is no one with the email {email.strip()} in the network")
    return person
