"""Every table, imported in one place so that Alembic and the app see the same metadata."""

from bot.models.audit import AuditProposal
from bot.models.discord_state import DiscordCursor, DiscordScheduledEvent
from bot.models.meetings import Action, AgendaItem, Meeting, MeetingOption, MeetingRsvp, MeetingVote
from bot.models.messaging import AdminLog, InboxEvent, OutboxKey, OutboxMessage, SeenEvent
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
from bot.models.questions import Answer, Question, Referral
from knowledge.models import KbEntry, KbEntryHistory

__all__ = [
    "Action",
    "AdminLog",
    "AgendaItem",
    "Answer",
    "Audit",
    "AuditItem",
    "AuditProposal",
    "DiscordCursor",
    "DiscordScheduledEvent",
    "InboxEvent",
    "InsetDay",
    "KbEntry",
    "KbEntryHistory",
    "Meeting",
    "MeetingOption",
    "MeetingRsvp",
    "MeetingVote",
    "Network",
    "OutboxKey",
    "OutboxMessage",
    "Person",
    "PersonRole",
    "Question",
    "Referral",
    "School",
    "SeenEvent",
    "Term",
]
