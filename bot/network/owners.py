"""Who carries an audit item: the owner it names, or the school's head."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar

from bot.roles import LEADER_ROLES


class Holder(Protocol):
    """A person as far as carrying items goes (a ``Person`` row, or routing's ``Member``)."""

    @property
    def active(self) -> bool: ...

    @property
    def email(self) -> str: ...

    def has_role(self, *roles: str) -> bool: ...


H = TypeVar("H", bound=Holder)


def carriers(owner: str | None, school_people: Iterable[H]) -> list[H]:
    """The active people who carry an item owned by ``owner`` at their school.

    ``owner`` is a role (``senco``), an email, or ``None`` for the head. When the named
    role is vacant the school's leaders carry it instead, so nothing is orphaned.
    """
    people = [p for p in school_people if p.active]
    if owner and "@" in owner:
        return [p for p in people if p.email == owner]
    if owner:
        holders = [p for p in people if p.has_role(owner)]
        if holders:
            return holders
    for role in LEADER_ROLES:
        leaders = [p for p in people if p.has_role(role)]
        if leaders:
            return leaders
    return []
