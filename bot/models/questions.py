"""Questions, the peers asked about them (referrals), and the answers given.

Lifecycle of a :class:`Question` (``status``):

- ``held``: the pupil-data guard found something; only a redacted text is kept and
  nothing goes to anyone until the asker rephrases (``closed``) or confirms (routed);
- ``open``: recorded, waiting for the asker to look at knowledge-base suggestions, or
  (with ``retry_at``) for the peers who fit, who were all busy, to be asked the next school day;
- ``routed``: peers have been asked; ``accepted``: one said "I can help";
- ``answered``: someone replied in the question's thread;
- ``closed``: the asker marked it answered, withdrew it, or it was answered by the KB;
- ``expired``: nobody could help (the convenor has been told).

A :class:`Referral` is one peer asked about one question; load accounting (at most one
new request a school day, a cap on open ones, least-recently-asked first) is derived
from these rows, so nothing else needs keeping.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.db.base import Base
from bot.events import MessageRef
from bot.models.network import Person, utcnow

QUESTION_STATUSES = ("held", "open", "routed", "accepted", "answered", "closed", "expired")
LIVE_STATUSES = ("held", "open", "routed", "accepted", "answered")
REFERRAL_STATUSES = ("asked", "accepted", "declined", "expired", "superseded")


class Question(Base):
    __tablename__ = "questions"
    __table_args__ = (
        Index("ix_questions_thread", "thread_channel_id", "thread_message_id"),
        Index("ix_questions_status", "network_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"))
    asker_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    group: Mapped[str | None] = mapped_column(String(64))
    via: Mapped[str] = mapped_column(String(16))  # channel | direct | mention | command | cli
    platform: Mapped[str] = mapped_column(String(16))
    # The thread answers hang from: the asker's channel message, or the bot's post of it.
    thread_platform: Mapped[str | None] = mapped_column(String(16))
    thread_channel_id: Mapped[str | None] = mapped_column(String(64))
    thread_message_id: Mapped[str | None] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)  # redacted when the pupil-data guard flagged it
    topics: Mapped[list[Any]] = mapped_column(default=list)
    concepts: Mapped[list[Any]] = mapped_column(default=list)
    flags: Mapped[list[Any]] = mapped_column(default=list)
    anonymous: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16), default="open")
    close_reason: Mapped[str | None] = mapped_column(String(32))
    round: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    routed_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    convenor_told_at: Mapped[datetime | None]
    # The peers who fit were all busy (load limits): the sweep asks again then.
    retry_at: Mapped[datetime | None]

    asker: Mapped[Person] = relationship(lazy="joined", innerjoin=True)

    @property
    def thread(self) -> MessageRef | None:
        if not (self.thread_platform and self.thread_channel_id and self.thread_message_id):
            return None
        return MessageRef(
            platform=self.thread_platform, channel_id=self.thread_channel_id, message_id=self.thread_message_id
        )

    def set_thread(self, ref: MessageRef) -> None:
        self.thread_platform = ref.platform
        self.thread_channel_id = ref.channel_id
        self.thread_message_id = ref.thread_root

    @property
    def live(self) -> bool:
        return self.status in LIVE_STATUSES


class Referral(Base):
    __tablename__ = "referrals"
    __table_args__ = (
        UniqueConstraint("question_id", "person_id"),
        Index("ix_referrals_person_status", "person_id", "status"),
        Index("ix_referrals_due", "status", "due_at"),
        Index("ix_referrals_asked_at", "asked_at"),  # routing's look at recent requests (0008)
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    round: Mapped[int] = mapped_column(default=1)
    rank: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(String(16), default="asked")
    score: Mapped[float] = mapped_column(default=0.0)
    audit_item_id: Mapped[int | None] = mapped_column(ForeignKey("audit_items.id", ondelete="SET NULL"))
    strength: Mapped[str] = mapped_column(Text, default="")
    why: Mapped[str] = mapped_column(Text, default="")
    audited: Mapped[bool] = mapped_column(default=False)
    asked_at: Mapped[datetime]
    due_at: Mapped[datetime | None]
    responded_at: Mapped[datetime | None]

    question: Mapped[Question] = relationship(lazy="joined", innerjoin=True)
    person: Mapped[Person] = relationship(lazy="joined", innerjoin=True)


class Answer(Base):
    """A reply in a question's thread. ``kb_consent``: None (not asked), ``asked``,
    ``yes`` or ``no``; ``kb_entry_id`` once the knowledge base keeps it."""

    __tablename__ = "answers"
    __table_args__ = (UniqueConstraint("question_id", "platform", "message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(16))
    channel_id: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    flagged: Mapped[bool] = mapped_column(default=False)  # the pupil-data guard found something
    accepted: Mapped[bool] = mapped_column(default=False)  # the asker said it answered the question
    kb_consent: Mapped[str | None] = mapped_column(String(8))
    kb_entry_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    person: Mapped[Person] = relationship(lazy="joined", innerjoin=True)
