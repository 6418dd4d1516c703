"""A last check before agenda items and actions are copied into messages to a group.

Agenda items and actions are repeated to others (the agenda, review reminders), so text
that looks like pupil data — the same check every question and knowledge-base entry
passes (:mod:`bot.pupil_data`) — is refused with a polite explanation and never stored or
echoed.
"""

from __future__ import annotations

from datetime import date

from bot import pupil_data
from bot.errors import BadInput


def check_shareable(text: str, *, today: date) -> None:
    found = pupil_data.check(text, today=today)
    if found.found:
        raise BadInput(f"that {found.detail}. Please leave pupils' details out of agendas and actions")
