"""A last check before agenda items and actions are copied into messages to a group.

Agenda items and actions are repeated to others (the agenda, review reminders), so text
that plainly identifies a pupil — a unique pupil number (UPN), a date of birth — is
refused with a polite explanation and never stored or echoed.
"""

from __future__ import annotations

import re

from bot.errors import BadInput

_UPN = re.compile(r"\b[A-HJ-NP-TV-Z]\d{11}[0-9A-Z]\b")
_DOB = re.compile(r"\b(d\.?o\.?b\.?|date of birth|born on)\b", re.I)


def check_shareable(text: str) -> None:
    if _UPN.search(text) or _DOB.search(text):
        raise BadInput(
            "that looks like it could identify a pupil (a UPN or a date of birth). "
            "Please leave pupils' details out of agendas and actions"
        )
