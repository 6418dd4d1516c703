"""Rows that make messaging safe across crashes, retries and several workers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base
from bot.models.network import utcnow


class SeenEvent(Base):
    """A platform event already handled: a retry of it is dropped (kept a few days).

    For a platform whose events are read back from its history after a restart rather
    than kept in the inbox (Discord), the handling's transaction also keeps its immediate
    replies here (``replies``, with ``sender_id`` for erasure) until the adapter has sent
    them: a restart in between sends them rather than losing them (see
    :meth:`bot.dispatch.dispatcher.Dispatcher.handle_keeping`). Never logged."""

    __tablename__ = "seen_events"

    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    replies: Mapped[list[Any] | None]  # bot.replies.replies_to_json, until they have gone
    sender_id: Mapped[str | None] = mapped_column(String(64))  # the platform's user id, with replies


class InboxEvent(Base):
    """An event acknowledged to its platform but not yet handled (see :mod:`bot.inbox`):
    written before the acknowledgement, deleted once the core has handled it and its
    immediate replies have gone. Holds what people wrote (``event``) and what the bot
    answered (``replies``: written in the handling's own transaction, so that a restart
    between that commit and the replies going sends them rather than losing them): covered
    by erasure and retention, never logged."""

    __tablename__ = "inbox"
    __table_args__ = (UniqueConstraint("platform", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str] = mapped_column(String(128))
    conversation: Mapped[str] = mapped_column(String(200))  # events of one conversation are handled in order
    sender_id: Mapped[str] = mapped_column(String(64), index=True)  # the platform's user id (for erasure)
    event: Mapped[dict[str, Any]]  # the core event (bot.events.event_to_json)
    context: Mapped[dict[str, Any]]  # the adapter's own: how to answer it (a response URL, files to fetch)
    received_at: Mapped[datetime] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    replies: Mapped[list[Any] | None]  # bot.replies.replies_to_json, once handled
    owner: Mapped[str | None] = mapped_column(String(32))  # the process holding it (see bot.inbox)
    lease_until: Mapped[datetime | None]  # ... until then, unless renewed


class OutboxMessage(Base):
    """A message the core has decided to send, written in the same transaction as the
    decision. The deliverer claims it, sends it and marks it sent; ``key`` makes the
    decision itself idempotent (the same key is never queued twice).

    status: ``pending`` → ``sending`` (claimed, with a lease) → ``sent`` | ``failed`` |
    ``skipped`` (expired before it could be sent) | ``cancelled``.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("network_id", "platform", "key"),
        Index("ix_outbox_due", "status", "not_before"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    platform: Mapped[str] = mapped_column(String(16))
    target: Mapped[dict[str, Any]]
    message: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    not_before: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    message_ref: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    reported_at: Mapped[datetime | None]  # a failed row: when the convenor was told (None: not yet)


class OutboxKey(Base):
    """A key once queued whose outbox row has since been removed by retention: the key, when,
    and whom it was for — never the message. It keeps the decision idempotent after the
    copy has gone (a review reminder is not queued again a month later)."""

    __tablename__ = "outbox_keys"

    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"), primary_key=True)
    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    person_id: Mapped[int | None] = mapped_column(index=True)  # the person it was addressed to, if one
    at: Mapped[datetime] = mapped_column(index=True)  # when it was queued


class AdminLog(Base):
    """Append-only record of administrative actions (imports, audit changes, erasures).

    Never holds message text.
    """

    __tablename__ = "admin_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(String(320))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
