"""From the Audit Analysis to the Partnership Action Plan: one need, one action.

The aim is the need ("Fairsmead: Teaching assistant deployment"); the action, unless
given, is the best provider's support; the owner, unless named, is the provider's
contact (else whoever carries the need); the review date, unless given, is the end of
the current half-term (else six weeks away); it belongs to the group of the role carrying
the need (the heads' by default), so it shows in that group's channel. The action then
lives with the others: reminders before its review date, ``actions`` to list,
``action done N`` to close.

A need is known by its school and its words: editing a school's audit makes new rows, but
an id from an earlier analysis still finds the need, and its open action still counts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.audit.analysis import Need, Provider, analyse
from bot.errors import BadInput, NotFound
from bot.meetings import service as meetings
from bot.meetings.guard import check_shareable
from bot.meetings.text import day_text, long_date, parse_day
from bot.models.meetings import Action
from bot.models.network import Audit, AuditItem, Person, School, name_key
from bot.network import store
from bot.network.owners import carriers
from bot.replies import Button, Message, ToPerson
from bot.roles import LEADER_ROLES

if TYPE_CHECKING:
    from bot.app import PeerBot


def source_ref(item_id: int) -> str:
    return f"need:{item_id}"


NeedKey = tuple[str, str]  # (the school's name key, the need's words, compared as names are)


def need_key(school: str, text: str) -> NeedKey:
    return (name_key(school), name_key(text))


async def _keys_of_items(session: AsyncSession, item_ids: Sequence[int]) -> dict[int, NeedKey]:
    """What each audit item (of any version of any audit) is: its school and its words."""
    if not item_ids:
        return {}
    rows = await session.execute(
        select(AuditItem.id, School.name, AuditItem.text)
        .join(Audit, Audit.id == AuditItem.audit_id)
        .join(School, School.id == Audit.school_id)
        .where(AuditItem.id.in_(list(item_ids)), AuditItem.kind == "need")
    )
    return {item_id: need_key(school, text) for item_id, school, text in rows.all()}


async def find_need(session: AsyncSession, network_id: int, item_id: int) -> Need:
    """The need ``item_id`` names: a need of the current audits, or one of an earlier version of
    a school's audit whose words are unchanged (a need keeps its identity while its school's
    audit is edited or re-imported; its number in the latest analysis may differ)."""
    result = await analyse(session, network_id)
    for need in result.needs:
        if need.item_id == item_id:
            return need
    key = (await _keys_of_items(session, [item_id])).get(item_id)
    for need in result.needs:
        if key is not None and need_key(need.school, need.need) == key:
            return need
    raise NotFound(f"there is no need {item_id} in the current audits (see `peerbot audit analysis --json`)")


async def open_action_for(session: AsyncSession, network_id: int, need: Need) -> int | None:
    """The open action already planned for ``need``, under whichever version of the audit."""
    rows = (
        await session.execute(
            select(Action.id, Action.source_ref).where(
                Action.network_id == network_id, Action.source == "audit", Action.status == "open"
            )
        )
    ).all()
    refs = {action_id: int(ref.split(":", 1)[1]) for action_id, ref in rows if ref and ref.startswith("need:")}
    keys = await _keys_of_items(session, list(refs.values()))
    wanted = need_key(need.school, need.need)
    for action_id, item_id in sorted(refs.items()):
        if item_id == need.item_id or keys.get(item_id) == wanted:
            return action_id
    return None


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
    existing = await open_action_for(session, bot.network_id, need)
    if existing is not None:
        raise BadInput(f"that need already has an open action ({existing})")
    provider = _provider(need, provider_school)
    need_item = await session.get(AuditItem, need.item_id) if need.item_id is not None else None
    if owner is None:
        owner = await _default_owner(session, bot.network_id, need, need_item, provider)
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
        group=await _group_of(session, bot, need_item),
        source="audit",
        source_ref=source_ref(need.item_id if need.item_id is not None else item_id),
        created_by=created_by,
        now=now,
    )


async def _group_of(session: AsyncSession, bot: PeerBot, item: AuditItem | None) -> str | None:
    """The group whose channel the need's action belongs in: that of the role carrying it
    (``[senco]`` → the SENCOs), else the heads'."""
    groups = bot.config.enabled_groups()
    roles: list[str] = []
    if item is not None and item.owner and "@" in item.owner:
        person = await store.person_by_email(session, bot.network_id, item.owner)
        roles = person.roles if person is not None else []
    elif item is not None and item.owner:
        roles = [item.owner]
    for name, group in groups.items():
        if any(r in group.roles for r in roles):
            return name
    if "heads" in groups:
        return "heads"
    return next((name for name, g in groups.items() if set(LEADER_ROLES) & set(g.roles)), None)


def _provider(need: Need, school: str | None) -> Provider | None:
    if school is None:
        return need.providers[0] if need.providers else None
    for p in need.providers:
        if name_key(p.school) == name_key(school) or name_key(school) in name_key(p.school):
            return p
    offered = ", ".join(p.school for p in need.providers) or "none"
    raise BadInput(f"{school} is not a provider for that need (providers: {offered})")


async def _default_owner(
    session: AsyncSession, network_id: int, need: Need, need_item: AuditItem | None, provider: Provider | None
) -> Person:
    """The provider's contact for the strength, else whoever carries the need: the people
    themselves (by the audit's roles and emails), never a guess from a display name."""
    people = await store.people(session, network_id)
    audits = {name_key(a.school.name): a for a in await store.current_audits(session, network_id)}
    if provider is not None and (audit := audits.get(name_key(provider.school))) is not None:
        for item in audit.strengths():
            if item.text == provider.strength:
                found = carriers(item.owner, [p for p in people if p.school_id == audit.school_id])
                if found:
                    return found[0]
    if need_item is not None and (audit := audits.get(name_key(need.school))) is not None:
        found = carriers(need_item.owner, [p for p in people if p.school_id == audit.school_id])
        if found:
            return found[0]
    raise BadInput("nobody can own that action yet: name an owner")


async def _default_review(session: AsyncSession, bot: PeerBot, now: datetime) -> date:
    calendar = await meetings.calendar_for(session, bot)
    today = calendar.local(now).date()
    term = calendar.half_term_of(today)
    if term is not None and (term.end - today).days >= 14:
        return term.end
    return today + timedelta(weeks=6)


# -- changing an action ----------------------------------------------------------------------
def review_day(text: str, *, today: date) -> date:
    """A review date as typed (``15 Jan``, ``2027-01-15``). A date typed without its year means
    the next one, but one that passed only recently is more likely a slip than a date a year
    away: then the year must be given ("1 Dec" on 3 Dec)."""
    day = parse_day(text, today=today)
    has_year = bool(re.search(r"\d{4}|/", text))
    if not has_year and (day - today).days > 183:
        passed = day.replace(year=day.year - 1)
        raise BadInput(
            f"{day_text(passed)} {passed.year} has passed: for next year, give the year ({day.day} {day:%b} {day.year})"
        )
    return day


@dataclass(frozen=True)
class ActionChange:
    """What ``actions update`` / ``action owner`` change; ``None`` leaves a field as it is."""

    owner: Person | None = None
    review_on: date | None = None
    action: str | None = None
    notes: str | None = None


async def update_action(
    session: AsyncSession, bot: PeerBot, row: Action, change: ActionChange, *, now: datetime, by: Person | None = None
) -> list[str]:
    """Change an open action; returns what changed (``owner``, ``review``, ``action``, ``notes``).

    A new owner, date or wording moves the review reminder to match (a new key, so it is
    sent once, to the right person), and a new owner is told (unless they made the change).
    """
    if row.status != "open":
        raise BadInput(f"action {row.id} is already {row.status}")
    changed: list[str] = []
    today = now.astimezone(bot.config.zone).date()
    if change.action is not None:
        text = " ".join(change.action.split())
        if not text:
            raise BadInput("what is the action? Give its new wording")
        if len(text) > meetings.MAX_ACTION_TEXT:
            raise BadInput(f"please keep an action under {meetings.MAX_ACTION_TEXT} characters")
        check_shareable(text, today=today)
        if text != row.action:
            row.action = text
            changed.append("action")
    if change.notes is not None:
        notes = change.notes.strip()
        if len(notes) > 2000:
            raise BadInput("please keep the notes under 2,000 characters")
        check_shareable(notes, today=today)
        if notes != row.notes:
            row.notes = notes
            changed.append("notes")
    new_owner = change.owner
    if new_owner is not None:
        if not new_owner.active or new_owner.network_id != bot.network_id:
            raise BadInput(f"{new_owner.name} is no longer in the network")
        if new_owner.id != row.owner_id:
            row.owner_id, row.owner = new_owner.id, new_owner
            changed.append("owner")
    if change.review_on is not None and change.review_on != row.review_on:
        today = now.astimezone(bot.config.zone).date()
        if change.review_on < today:
            raise BadInput(f"the review date {long_date(change.review_on)} has already passed")
        if change.review_on > today + timedelta(days=3 * 366):
            raise BadInput("that review date is more than three years away")
        row.review_on = change.review_on
        changed.append("review")
    if not changed:
        return changed
    row.updated_at = now
    if {"owner", "review", "action"} & set(changed):
        row.revision += 1
        await meetings.schedule_action_reminder(session, bot, row, now)
    if "owner" in changed and new_owner is not None and (by is None or by.id != new_owner.id):
        await bot.queue(
            session,
            ToPerson(new_owner.id),
            Message(
                text=f"You now carry action {row.id} on the Partnership Action Plan: **{row.action}** — "
                f"review on {long_date(row.review_on)}. I'll remind you before then.",
                buttons=(Button(label="Mark it done", action="action.done", value=str(row.id)),),
            ),
            key=f"action:{row.id}:owner:{row.revision}",
        )
    return changed
