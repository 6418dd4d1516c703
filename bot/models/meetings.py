"""Meetings, their availability polls, RSVPs and agendas, and the Partnership Action Plan.

A group with a meeting cadence has one :class:`Meeting` per half-term (or per term). Its
life: ``planned`` (candidate dates known, poll not yet open) → ``polling`` (the poll is
posted; ``poll_closed_at`` set once it has closed and the convenor is deciding) →
``booked`` (``start``/``end`` set, invitation sent) → ``held`` (it has ended; actions are
collected) — or ``cancelled`` at any point before it is held. Every instant is UTC; the
zone it was planned in is kept beside it.

:class:`Action` rows are the Partnership Action Plan (aim, action, named owner, review
date, notes, status). They come from meetings here and, later, from the Audit Analysis
(``source`` says which), so nothing about them is meeting-specific.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.db.base import Base
from bot.models.network import Person, utcnow

MEETING_STATUSES = ("planned", "polling", "booked", "held", "cancelled")
ACTION_STATUSES = ("open", "done", "dropped")


class Meeting(Base):
    __tablename__ = "meetings"
    __table_args__ = (
        UniqueConstraint("network_id", "group_name", "term_start"),
        Index("ix_meetings_network_status", "network_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"))
    group_name: Mapped[str] = mapped_column(String(64))
    half_term: Mapped[str] = mapped_column(String(100))
    term_start: Mapped[date] = mapped_column(Date)
    term_end: Mapped[date] = mapped_column(Date)
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="planned")
    start: Mapped[datetime | None]
    end: Mapped[datetime | None]
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/London")
    uid: Mapped[str] = mapped_column(String(200), unique=True)
    sequence: Mapped[int] = mapped_column(default=0)
    location: Mapped[str] = mapped_column(Text, default="")
    join_url: Mapped[str] = mapped_column(Text, default="")
    poll_opens_at: Mapped[datetime | None]
    poll_closes_at: Mapped[datetime | None]
    poll_closed_at: Mapped[datetime | None]
    poll_revision: Mapped[int] = mapped_column(default=0)
    problem: Mapped[str | None] = mapped_column(Text)  # why it cannot be planned (no possible date)
    agenda_at: Mapped[datetime | None]  # when the agenda goes out; items are collected until then
    agenda_key: Mapped[str | None] = mapped_column(String(200))  # the outbox key of that nudge
    actions_prompted_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    options: Mapped[list[MeetingOption]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="MeetingOption.start"
    )

    @property
    def is_open(self) -> bool:
        return self.status in ("planned", "polling", "booked")


class MeetingOption(Base):
    """A candidate date in a meeting's availability poll."""

    __tablename__ = "meeting_options"
    __table_args__ = (UniqueConstraint("meeting_id", "start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    start: Mapped[datetime]
    end: Mapped[datetime]


class MeetingVote(Base):
    """Someone can make a candidate date (a press of its button; a second press removes it)."""

    __tablename__ = "meeting_votes"

    option_id: Mapped[int] = mapped_column(ForeignKey("meeting_options.id", ondelete="CASCADE"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    voted_at: Mapped[datetime] = mapped_column(default=utcnow)


class MeetingRsvp(Base):
    __tablename__ = "meeting_rsvps"

    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    answer: Mapped[str] = mapped_column(String(8))  # "yes" | "no"
    answered_at: Mapped[datetime] = mapped_column(default=utcnow)


class AgendaItem(Base):
    __tablename__ = "agenda_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    person: Mapped[Person | None] = relationship(lazy="joined")


class Action(Base):
    """One line of the Partnership Action Plan."""

    __tablename__ = "actions"
    __table_args__ = (Index("ix_actions_network_status", "network_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"))
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("meetings.id", ondelete="SET NULL"), index=True)
    group_name: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(32), default="meeting")  # meeting | audit | manual
    source_ref: Mapped[str | None] = mapped_column(String(200))
    aim: Mapped[str] = mapped_column(Text, default="")
    action: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"), index=True)
    review_on: Mapped[date] = mapped_column(Date)
    notes: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="open")
    revision: Mapped[int] = mapped_column(default=0)  # bumped when the review date moves
    created_by: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    done_at: Mapped[datetime | None]
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)

    owner: Mapped[Person | None] = relationship(lazy="joined", foreign_keys=[owner_id])
