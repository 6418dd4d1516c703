"""From the Audit Analysis to the Partnership Action Plan: one need, one action.

The aim is the need ("Fairsmead: Teaching assistant deployment"); the action, unless
given, is the best provider's support; the owner, unless named, is the provider's
contact (else the needing school's head); the review date, unless given, is the end of
the current half-term (else six weeks away). The action then lives with the others:
reminders before its review date, ``actions`` to list, ``action done N`` to close.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.audit.analysis import Need, Provider, analyse
from bot.errors import BadInput, NotFound
from bot.meetings import service as meetings
from bot.models.meetings import Action
from bot.models.network import Person, name_key
from bot.network import store

if TYPE_CHECKING:
    from bot.app import PeerBot


def source_ref(item_id: int) -> str:
    return f"need:{item_id}"


async def find_need(session: AsyncSession, network_id: int, item_id: int) -> Need:
    result = await analyse(session, network_id)
    for need in result.needs:
        if need.item_id == item_id:
            return need
    raise NotFound(f"there is no need {item_id} in the current audits (see `peerbot audit analysis --json`)")


async def action_from_need(
    session: AsyncSession,
    bot: PeerBot,
    *,
    item_id: int,
    now: datetime,
    provider_school: str | None = None,
    owner: Person | None = None,
    review_on: date | None = None,
    action: str | None = None,
    notes: str = "",
    created_by: Person | None = None,
) -> Action:
    need = await find_need(session, bot.network_id, item_id)
    existing = (
        await session.execute(
            select(Action.id).where(
                Action.network_id == bot.network_id, Action.source_ref == source_ref(item_id), Action.status == "open"
            )
        )
    ).scalar_one_or_none()
    if existing is not None:
        raise BadInput(f"that need already has an open action ({existing})")
    provider = _provider(need, provider_school)
    if owner is None:
        owner = await _default_owner(session, bot.network_id, need, provider)
    if review_on is None:
        review_on = await _default_review(session, bot, now)
    text = action or (
        f"{provider.school} to support {need.school}: {provider.strength}"
        if provider
        else f"Find support for {need.school}: no school in the network offers this yet"
    )
    return await meetings.add_action(
        session,
        bot,
        owner=owner,
        review_on=review_on,
        action=text,
        aim=f"{need.school}: {need.need}",
        notes=notes,
        source="audit",
        source_ref=source_ref(item_id),
        created_by=created_by,
        now=now,
    )


def _provider(need: Need, school: str | None) -> Provider | None:
    if school is None:
        return need.providers[0] if need.providers else None
    for p in need.providers:
        if name_key(p.school) == name_key(school) or name_key(school) in name_key(p.school):
            return p
    offered = ", ".join(p.school for p in need.providers) or "none"
    raise BadInput(f"{school} is not a provider for that need (providers: {offered})")


async def _default_owner(session: AsyncSession, network_id: int, need: Need, provider: Provider | None) -> Person:
    people = await store.people(session, network_id)
    names = list(provider.contacts if provider else ()) + list(need.owners)
    for name in names:
        for person in people:
            if person.name == name:
                return person
    raise BadInput("nobody can own that action yet: name an owner")


async def _default_review(session: AsyncSession, bot: PeerBot, now: datetime) -> date:
    calendar = await meetings.calendar_for(session, bot)
    today = calendar.local(now).date()
    term = calendar.half_term_of(today)
    if term is not None and (term.end - today).days >= 14:
        return term.end
    return today + timedelta(weeks=6)
