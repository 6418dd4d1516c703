"""Which of this process's transactions changed what routing keeps in memory.

Routing keeps the strength index, people, their load and the term dates in memory and
looks at the database for other processes' changes at most every
``routing.index_check_seconds`` (:mod:`bot.routing.looks`). This process's own changes
must count at once, so SQLAlchemy session events note what each transaction changed:

- :func:`changed_here` says whether the current transaction has changed something of a
  kind (such a transaction reads it from the database, where it sees its own changes);
- :func:`committed` counts committed transactions per kind: a cache built before the
  count moved looks again.

Writes made outside the ORM session (none in this code) are seen as another process's.
"""

from __future__ import annotations

from itertools import chain
from typing import Literal

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from bot.models.network import Audit, AuditItem, InsetDay, Person, PersonRole, School, Term
from bot.models.questions import Question, Referral

Kind = Literal["people", "deleted", "calendar", "strengths"]
KINDS: tuple[Kind, ...] = ("people", "deleted", "calendar", "strengths")
_KEY = "peerbot.routing.changes"
_PEOPLE = (Person, PersonRole, Referral, Question)  # who can be asked, and their load
_CALENDAR = (Term, InsetDay)
_STRENGTHS = (School, Audit, AuditItem)  # what the strength index is built from
_counts: dict[str, int] = {"people": 0, "deleted": 0, "calendar": 0, "strengths": 0}


def changed_here(session: AsyncSession | Session, kind: Kind) -> bool:
    """Whether this transaction has changed (and flushed) something of ``kind``."""
    return kind in session.info.get(_KEY, ())


async def flush(session: AsyncSession) -> None:
    """Flush what this transaction has pending, so that :func:`changed_here` has noticed it.

    With nothing pending a flush does nothing, but the trip into SQLAlchemy's synchronous
    core costs more than looking: routing's caches look several times a question."""
    sync = session.sync_session
    if sync.new or sync.dirty or sync.deleted:
        await session.flush()


def committed(kind: Kind) -> int:
    """How many of this process's committed transactions changed something of ``kind``."""
    return _counts[kind]


def _mark(session: Session, *kinds: Kind) -> None:
    session.info.setdefault(_KEY, set()).update(kinds)


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    if any(isinstance(o, _PEOPLE) for o in session.deleted):
        _mark(session, "people", "deleted")
    # A new question changes nobody's load until someone is referred to it.
    elif any(isinstance(o, _PEOPLE) for o in session.dirty) or any(
        isinstance(o, (Person, PersonRole, Referral)) for o in session.new
    ):
        _mark(session, "people")
    if any(isinstance(o, _CALENDAR) for o in chain(session.new, session.dirty, session.deleted)):
        _mark(session, "calendar")
    if any(isinstance(o, _STRENGTHS) for o in chain(session.new, session.dirty, session.deleted)):
        _mark(session, "strengths")


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> None:
    """Bulk ``update()``/``delete()`` statements run through the session."""
    if not (state.is_update or state.is_delete):
        return
    classes = {m.class_ for m in state.all_mappers if m is not None}
    if classes & set(_PEOPLE):
        _mark(state.session, "people")
        if state.is_delete:
            _mark(state.session, "deleted")
    if classes & set(_CALENDAR):
        _mark(state.session, "calendar")
    if classes & set(_STRENGTHS):
        _mark(state.session, "strengths")


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    for kind in session.info.pop(_KEY, ()):
        _counts[kind] += 1


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_KEY, None)
