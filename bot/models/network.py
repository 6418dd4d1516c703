"""The network: schools, people and their roles, audits with their items, term dates."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.db.base import Base


def utcnow() -> datetime:
    return datetime.now(UTC)


def name_key(name: str) -> str:
    """How names are compared: case, accents of spacing and surrounding blanks ignored."""
    return " ".join(name.split()).casefold()


class Network(Base):
    __tablename__ = "networks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/London")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class School(Base):
    __tablename__ = "schools"
    __table_args__ = (UniqueConstraint("network_id", "name_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200))
    phase: Mapped[str] = mapped_column(String(32))
    type: Mapped[str | None] = mapped_column(String(100))
    trust: Mapped[str | None] = mapped_column(String(200))
    locality: Mapped[str | None] = mapped_column(String(200))
    urn: Mapped[str | None] = mapped_column(String(20))
    pupils: Mapped[int | None]
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Person(Base):
    __tablename__ = "people"
    __table_args__ = (
        UniqueConstraint("network_id", "email"),
        UniqueConstraint("network_id", "slack_id"),
        UniqueConstraint("network_id", "discord_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    slack_id: Mapped[str | None] = mapped_column(String(32))
    discord_id: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(default=True)
    away_until: Mapped[date | None] = mapped_column(Date)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    school: Mapped[School] = relationship(lazy="joined", innerjoin=True)
    role_rows: Mapped[list[PersonRole]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="PersonRole.role"
    )

    @property
    def roles(self) -> list[str]:
        return [r.role for r in self.role_rows]

    def has_role(self, *roles: str) -> bool:
        return any(r.role in roles for r in self.role_rows)

    @property
    def is_convenor(self) -> bool:
        return self.has_role("convenor")


class PersonRole(Base):
    __tablename__ = "person_roles"

    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


@event.listens_for(Person.role_rows, "append")
@event.listens_for(Person.role_rows, "remove")
def _roles_changed(person: Person, *_: Any) -> None:
    """A change of roles touches its person, so ``people.updated_at`` tells other processes
    (routing keeps people in memory and looks for changes there)."""
    person.updated_at = utcnow()


class Audit(Base):
    """One audit of one school. The current audit has ``superseded_at`` unset."""

    __tablename__ = "audits"
    __table_args__ = (Index("ix_audits_school_current", "school_id", "superseded_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"))
    audited_by: Mapped[str | None] = mapped_column(String(200))
    audited_on: Mapped[date | None] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(32), default="import")
    content_hash: Mapped[str] = mapped_column(String(64))
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    superseded_at: Mapped[datetime | None]

    school: Mapped[School] = relationship(lazy="joined", innerjoin=True)
    items: Mapped[list[AuditItem]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="(AuditItem.kind, AuditItem.position)"
    )

    @property
    def audited(self) -> bool:
        """This version as a whole was checked by a third party (an import's ``audited_by``).
        Routing reads each item's own :attr:`AuditItem.audited`: a later edit may add an item
        nobody outside the school has checked."""
        return bool(self.audited_by)

    def strengths(self) -> list[AuditItem]:
        return [i for i in self.items if i.kind == "strength"]

    def needs(self) -> list[AuditItem]:
        return [i for i in self.items if i.kind == "need"]


class AuditItem(Base):
    __tablename__ = "audit_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    audit_id: Mapped[int] = mapped_column(ForeignKey("audits.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "strength" | "need"
    position: Mapped[int]
    text: Mapped[str] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(320))  # a role or an email; None = the head
    # Who checked this item, and when: the import's audited_by/audited_on, or whoever outside
    # the school confirmed it in chat; None = self-declared.
    audited_by: Mapped[str | None] = mapped_column(String(200))
    audited_on: Mapped[date | None] = mapped_column(Date)

    @property
    def audited(self) -> bool:
        """Checked by a third party, rather than self-declared."""
        return bool(self.audited_by)


class Term(Base):
    """A half-term: the first and last days pupils are in."""

    __tablename__ = "terms"
    __table_args__ = (UniqueConstraint("network_id", "start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    start: Mapped[date] = mapped_column(Date)
    end: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    inset_rows: Mapped[list[InsetDay]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="InsetDay.day"
    )

    @property
    def inset_days(self) -> list[date]:
        return [r.day for r in self.inset_rows]


class InsetDay(Base):
    __tablename__ = "inset_days"

    term_id: Mapped[int] = mapped_column(ForeignKey("terms.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
