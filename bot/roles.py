"""Roles people hold and the role groups (channels) they belong to.

Roles come from ``people.csv`` (see ``formats.md``); groups are configured, with the
defaults below: a question in a group's channel goes to people holding one of its roles.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

BASE_ROLES: Mapping[str, str] = {
    "head": "headteacher",
    "exec-head": "executive headteacher",
    "deputy": "deputy headteacher",
    "dsl": "designated safeguarding lead",
    "senco": "SENCO",
    "sbm": "school business manager",
    "ect-lead": "ECT lead",
    "convenor": "network convenor",
}

_SUBJECT = re.compile(r"^subject:([a-z][a-z0-9 &+-]*[a-z0-9+]|[a-z])$")

# Role groups every network has unless its config says otherwise.
DEFAULT_GROUPS: Mapping[str, tuple[str, ...]] = {
    "heads": ("head", "exec-head", "deputy"),
    "dsl": ("dsl",),
    "senco": ("senco",),
    "sbm": ("sbm",),
}

# Roles that carry an item when an audit names no owner, in order of preference.
LEADER_ROLES: tuple[str, ...] = ("head", "exec-head", "deputy")


def normalise_role(raw: str) -> str:
    """Return the canonical spelling of a role, or raise ``ValueError``.

    Case and surrounding spaces are ignored; ``subject:Maths`` becomes ``subject:maths``;
    a few spellings convenors use (``SBM``, ``Exec Head``, ``ECT lead``) are accepted.
    """
    role = " ".join(raw.strip().lower().split())
    role = role.replace("_", "-")
    if role.startswith("subject:"):
        role = "subject:" + role[len("subject:") :].strip()
        if _SUBJECT.match(role):
            return role
        raise ValueError(f"'{raw.strip()}' needs a subject after 'subject:', e.g. subject:maths")
    role = role.replace(" ", "-")
    aliases = {"headteacher": "head", "executive-head": "exec-head", "deputy-head": "deputy"}
    role = aliases.get(role, role)
    if role in BASE_ROLES:
        return role
    known = ", ".join([*BASE_ROLES, "subject:<subject>"])
    raise ValueError(f"unknown role '{raw.strip()}' (known roles: {known})")


def role_label(role: str) -> str:
    if role.startswith("subject:"):
        return f"{role.split(':', 1)[1]} lead"
    return BASE_ROLES.get(role, role)


def in_group(roles: Iterable[str], group_roles: Iterable[str]) -> bool:
    wanted = set(group_roles)
    return any(r in wanted for r in roles)
