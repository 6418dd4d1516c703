"""Every table, imported in one place so that Alembic and the app see the same metadata."""

from bot.models.discord_state import DiscordCursor, DiscordScheduledEvent
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
    "AdminLog",
    "Audit",
    "AuditItem",
    "DiscordCursor",
    "DiscordScheduledEvent",
    "InsetDay",
    "Network",
    "OutboxMessage",
    "Person",
    "PersonRole",
    "School",
    "SeenEvent",
    "Term",
]
