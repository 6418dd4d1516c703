"""Seams between parts of the core that are built separately.

Routing asks the knowledge base for suggestions and offers it answers; the knowledge
base implements :class:`KnowledgeService` and installs itself on the bot at start-up
(``bot.knowledge = ...`` in an ``@on_startup`` hook). Routing works — with no
suggestions — when none is installed.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot.events import MessageRef


@dataclass(frozen=True, slots=True)
class KbSuggestion:
    """An entry that may already answer a question (formats.md ``kb_suggestions``)."""

    id: int
    title: str
    kind: str
    score: float
    snippet: str = ""
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
