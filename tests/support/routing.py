"""Helpers for the routing tests: the labelled network, a fake knowledge base."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bot.app import PeerBot
from bot.demo import demo_file
from bot.events import MessageRef
from bot.network.importer import import_network
from bot.network.parse import SourceFile
from bot.routing import changes
from bot.services import KbSuggestion

DATA = Path(__file__).resolve().parents[1] / "data" / "routing"


def network_sources() -> dict[str, SourceFile]:
    """The labelled 24-school network, with the demo's term dates."""
    out = {
        k: SourceFile(name=f"{k}.csv", data=(DATA / f"{k}.csv").read_bytes()) for k in ("schools", "people", "audit")
    }
    out["terms"] = demo_file("terms.csv")
    return out


async def load_network(bot: PeerBot) -> None:
    async with bot.db.session() as session:
        await import_network(session, bot.network_id, now=bot.clock.now(), **network_sources())


@dataclass
class FakeKnowledge:
    """Implements :class:`bot.services.KnowledgeService`: suggests what it is told to,
    records what it is given."""

    suggestions: list[KbSuggestion] = field(default_factory=list)
    added: list[dict[str, Any]] = field(default_factory=list)
    asked: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)

    async def suggest(
        self, session: AsyncSession, text: str, *, groups: Collection[str], limit: int = 3
    ) -> list[KbSuggestion]:
        self.asked.append((text, tuple(groups)))
        return self.suggestions[:limit]

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
        self.added.append(
            {"question": question, "answer": answer, "school_id": school_id, "group": group, "added_by": added_by}
        )
        return 100 + len(self.added)


async def count(bot: PeerBot, model: Any, *where: Any) -> int:
    async with bot.db.session() as session:
        q = select(func.count()).select_from(model)
        for w in where:
            q = q.where(w)
        return int((await session.execute(q)).scalar_one())


@contextmanager
def another_process() -> Iterator[None]:
    """Commits made meanwhile count as another process's: this one's caches are not told."""
    event.remove(Session, "after_commit", changes._after_commit)
    try:
        yield
    finally:
        event.listen(Session, "after_commit", changes._after_commit)


class Timer:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
