"""A person's home view: what is waiting for them, built from sections each part of the
core provides with ``@home_section``. Slack shows it as the App Home tab; every
platform shows it as the answer to the ``home`` command."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.models.network import Person
from bot.network import store
from bot.replies import Button

if TYPE_CHECKING:
    from bot.app import PeerBot


@dataclass(frozen=True, slots=True)
class HomeSection:
    title: str
    lines: tuple[str, ...] = ()
    buttons: tuple[Button, ...] = ()
    empty: str = ""  # shown when there are no lines ("Nothing waiting for you.")


async def build_home(bot: PeerBot, session: AsyncSession, person: Person) -> list[HomeSection]:
    """Every provider's section for ``person``, in order, read in the caller's session."""
    sections: list[HomeSection] = []
    for spec in bot.registry.homes:
        available: dict[str, Any] = {
            "bot": bot,
            "session": session,
            "person": person,
            "now": bot.clock.now(),
            "config": bot.config,
        }
        section = await spec.func(**{p: available[p] for p in spec.params})
        if section is not None:
            sections.append(section)
    return sections


async def home_for(bot: PeerBot, platform: str, user_id: str) -> list[HomeSection] | None:
    """The home view of whoever ``user_id`` is on ``platform``; ``None`` for a stranger."""
    async with bot.db.session() as session:
        person = await store.person_by_platform_id(session, bot.network_id, platform, user_id)
        if person is None:
            return None
        return await build_home(bot, session, person)


def render_text(sections: list[HomeSection]) -> str:
    """The home view in the core's neutral markup, for the ``home`` command."""
    parts: list[str] = []
    for s in sections:
        body = "\n".join(f"- {line}" for line in s.lines) if s.lines else (s.empty or "Nothing here yet.")
        parts.append(f"**{s.title}**\n{body}")
    return "\n\n".join(parts)
