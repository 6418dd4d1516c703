"""Every table, imported in one place so that Alembic and the app see the same metadata."""

from bot.models.meetings import Action, AgendaItem, Meeting, MeetingOption, MeetingRsvp, MeetingVote
from bot.models.messaging import AdminLog, OutboxMessage, SeenEvent
from bot.models.network import (
    Audit,
    AuditItem,
    InsetDay,
    Network,
    Person,
    PersonRole,
    School,
    Term,
)

__all__ = [
    "Action",
    "AdminLog",
    "AgendaItem",
    "Audit",
    "AuditItem",
    "InsetDay",
    "Meeting",
    "MeetingOption",
    "MeetingRsvp",
    "MeetingVote",
    "Network",
    "OutboxMessage",
    "Person",
    "PersonRole",
    "School",
    "SeenEvent",
    "Term",
]
