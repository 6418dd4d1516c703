"""Reading the network from the database: schools, people, current audits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import NotFound
from bot.models.network import Audit, Network, Person, PersonRole, School, name_key


async def get_or_create_network(session: AsyncSession, name: str, timezone: str) -> Network:
    network = (await session.execute(select(Network).where(Network.name == name))).scalar_one_or_none()
    if network is None:
        network = Network(name=name, timezone=timezone)
        session.add(network)
        await session.flush()
    elif network.timezone != timezone:
        network.timezone = timezone
    return network


async def schools(session: AsyncSession, network_id: int, *, active_only: bool = True) -> list[School]:
    q = select(School).where(School.network_id == network_id).order_by(School.name_key)
    if active_only:
        q = q.where(School.active.is_(True))
    return list((await session.execute(q)).scalars())


async def people(session: AsyncSession, network_id: int, *, active_only: bool = True) -> list[Person]:
    q = select(Person).where(Person.network_id == network_id).order_by(Person.email)
    if active_only:
        q = q.where(Person.active.is_(True))
    return list((await session.execute(q)).unique().scalars())


PLATFORM_COLUMNS = {"slack": Person.slack_id, "discord": Person.discord_id, "console": Person.email}


async def person_by_platform_id(session: AsyncSession, network_id: int, platform: str, user_id: str) -> Person | None:
    """The active person a platform user id belongs to (the console uses emails)."""
    column = PLATFORM_COLUMNS.get(platform)
    if column is None:
        return None
    value = user_id.lower() if platform == "console" else user_id
    q = select(Person).where(Person.network_id == network_id, column == value, Person.active.is_(True))
    return (await session.execute(q)).unique().scalar_one_or_none()


async def person_by_email(session: AsyncSession, network_id: int, email: str) -> Person | None:
    q = select(Person).where(Person.network_id == network_id, Person.email == email.strip().lower())
    return (await session.execute(q)).unique().scalar_one_or_none()


async def people_with_roles(session: AsyncSession, network_id: int, roles: Sequence[str]) -> list[Person]:
    q = (
        select(Person)
        .join(PersonRole, PersonRole.person_id == Person.id)
        .where(Person.network_id == network_id, Person.active.is_(True), PersonRole.role.in_(list(roles)))
        .order_by(Person.email)
    )
    return list((await session.execute(q)).unique().scalars())


async def current_audits(session: AsyncSession, network_id: int) -> list[Audit]:
    """Each active school's current audit, ordered by school name."""
    q = (
        select(Audit)
        .join(School, School.id == Audit.school_id)
        .where(School.network_id == network_id, School.active.is_(True), Audit.superseded_at.is_(None))
        .order_by(School.name_key)
    )
    return list((await session.execute(q)).unique().scalars())


async def current_audit(session: AsyncSession, school_id: int) -> Audit | None:
    q = select(Audit).where(Audit.school_id == school_id, Audit.superseded_at.is_(None))
    return (await session.execute(q)).unique().scalar_one_or_none()


@dataclass(frozen=True)
class SchoolMatch:
    school: School
    exact: bool


async def find_school(session: AsyncSession, network_id: int, query: str) -> School:
    """The school a person means by ``query`` ("oak", "St Mary's"): exact, prefix or close.

    Raises :class:`NotFound` with the nearest names when nothing fits or it is ambiguous.
    """
    all_schools = await schools(session, network_id)
    key = name_key(query)
    if not key:
        raise NotFound("which school? Give part of its name")
    for s in all_schools:
        if s.name_key == key:
            return s
    starts = [s for s in all_schools if s.name_key.startswith(key) or f" {key}" in f" {s.name_key}"]
    if len(starts) == 1:
        return starts[0]
    if len(starts) > 1:
        names = ", ".join(s.name for s in starts[:5])
        raise NotFound(f"'{query}' could be {names}: which one?")
    choices = {s.id: s.name_key for s in all_schools}
    best = process.extract(key, choices, scorer=fuzz.WRatio, limit=3, score_cutoff=75)
    if len(best) == 1 or (best and best[0][1] - best[1][1] >= 10):
        return next(s for s in all_schools if s.id == best[0][2])
    if best:
        names = ", ".join(next(s.name for s in all_schools if s.id == b[2]) for b in best)
        raise NotFound(f"'{query}' could be {names}: which one?")
    raise NotFound(f"there is no school called '{query}' in the network")
