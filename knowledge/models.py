"""The knowledge base's tables: entries and the history of their edits.

An entry is an ``answer`` (a question and the answer that closed it, credited to the
answerer's school, with a link back to the thread), a ``policy`` (owning school, version,
adopted and review dates) or a ``resource`` (a template, a spreadsheet, a link, with a
description). ``group`` limits who may see it (an answer from the DSL channel is for DSLs
only); ``None`` means everyone in the network. Every entry has an owner who is reminded
to confirm, update or retire it before ``review_on``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base

KINDS = ("answer", "policy", "resource")
STATUSES = ("active", "retired", "pending")  # pending: waiting for its contributor's word (see store)


def utcnow() -> datetime:
    return datetime.now(UTC)


class KbEntry(Base):
    __tablename__ = "kb_entries"
    __table_args__ = (
        UniqueConstraint("network_id", "ref"),
        Index("ix_kb_entries_changed", "network_id", "updated_at"),
        Index("ix_kb_entries_review", "network_id", "status", "review_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(Text)
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id", ondelete="SET NULL"), index=True)
    school_name: Mapped[str | None] = mapped_column(String(200))  # credited school outside the network
    group: Mapped[str | None] = mapped_column(String(64))
    tags: Mapped[list[Any]] = mapped_column(default=list)
    ref: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str | None] = mapped_column(String(300))  # a file name, "chat", "cli", "answer"
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"), index=True)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    added_by: Mapped[str | None] = mapped_column(String(320))  # who, when not a person ("cli", "import")
    version: Mapped[str | None] = mapped_column(String(40))  # a policy's own version label
    revision: Mapped[int] = mapped_column(default=1)  # bumped by every edit
    adopted_on: Mapped[date | None] = mapped_column(Date)
    review_on: Mapped[date | None] = mapped_column(Date)
    review_interval_days: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(16), default="active")
    confirmed_at: Mapped[datetime | None]
    thread: Mapped[dict[str, Any] | None]  # an answer's MessageRef as JSON
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class KbEntryHistory(Base):
    """One change to an entry: what it was before (title, text, tags) and who changed it."""

    __tablename__ = "kb_entry_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("kb_entries.id", ondelete="CASCADE"), index=True)
    revision: Mapped[int]
    action: Mapped[str] = mapped_column(String(16))  # created | edited | confirmed | retired | reinstated
    at: Mapped[datetime] = mapped_column(default=utcnow)
    by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    by: Mapped[str | None] = mapped_column(String(320))
    title: Mapped[str | None] = mapped_column(String(300))
    text: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[Any] | None]
