"""Seams between parts of the core that are built separately.

Routing asks the knowledge base for suggestions and offers it answers; the knowledge
base implements :class:`KnowledgeService` and installs itself on the bot at start-up
(``bot.knowledge = ...`` in an ``@on_startup`` hook). Routing works — with no
suggestions — when none is installed.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from typing import Protocol, runtime_checkable

from sqlalchemy.ext.asyncio import AsyncSession

from bot.events import MessageRef


@dataclass(frozen=True, slots=True)
class KbSuggestion:
    """An entry that may already answer a question (formats.md ``kb_suggestions``)."""

    id: int
    title: str
    kind: str
    score: float
    school: str | None = None


class KnowledgeService(Protocol):
    async def suggest(
        self, session: AsyncSession, text: str, *, groups: Collection[str], limit: int = 3
    ) -> list[KbSuggestion]:
        """Up to ``limit`` entries visible to ``groups`` that genuinely match ``text``
        (empty when none is close enough)."""
        ...

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
        """Keep a question and the answer that closed it, credited to ``school_id``;
        returns the new entry's id."""
        ...


@dataclass(frozen=True, slots=True)
class ReviewDue:
    """Something whose owner should review it by ``review_on`` (a policy in the knowledge
    base). ``key`` is stable for this review of this entry (``kb:12:2027-03-01``), so the
    reminder is queued once; ``buttons`` are ``(label, action, value)`` the owner may press."""

    key: str
    owner_person_id: int
    title: str
    review_on: date
    buttons: tuple[tuple[str, str, str], ...] = ()


@runtime_checkable
class ReviewSource(Protocol):
    """Offered by a service whose entries have review dates (the knowledge base): the
    meetings sweeper reminds owners with the same timing rules as every other nudge."""

    async def reviews_due(self, session: AsyncSession, *, before: date) -> list[ReviewDue]:
        """Entries whose review date is on or before ``before`` and not yet reviewed."""
        ...
