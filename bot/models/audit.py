"""Changes to a school's audit proposed in chat, waiting for the convenor or auditor."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.db.base import Base
from bot.models.network import Person, School, utcnow


class AuditProposal(Base):
    """``change`` is ``add`` or ``remove``; ``kind`` is ``strength`` or ``need``.

    status: ``pending`` → ``accepted`` | ``rejected`` | ``withdrawn``.
    """

    __tablename__ = "audit_proposals"
    __table_args__ = (Index("ix_audit_proposals_pending", "network_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"))
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"))
    proposed_by: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))
    change: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)

    school: Mapped[School] = relationship(lazy="joined", innerjoin=True)
    proposer: Mapped[Person | None] = relationship(lazy="joined", foreign_keys=[proposed_by])

    def describe(self) -> str:
        verb = "add" if self.change == "add" else "remove"
        owner = f" [{self.owner}]" if self.owner else ""
        return f"{verb} the {self.kind} '{self.text}{owner}'"
