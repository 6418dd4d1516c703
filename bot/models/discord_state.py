"""What the Discord adapter must remember across restarts (ids are opaque strings here).

- :class:`DiscordCursor`: the newest message handled in each watched channel or thread,
  so that questions asked while the bot was offline are picked up from the channel's
  history on reconnect, and only those.
- :class:`DiscordScheduledEvent`: which guild scheduled event stands for which meeting
  (the core's stable :attr:`bot.replies.CalendarEvent.key`), so updates and
  cancellations find it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base
from bot.models.network import utcnow


class DiscordCursor(Base):
    __tablename__ = "discord_cursors"

    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DiscordScheduledEvent(Base):
    __tablename__ = "discord_scheduled_events"

    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    guild_id: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(32))
    fingerprint: Mapped[str] = mapped_column(String(64))
    cancelled: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
