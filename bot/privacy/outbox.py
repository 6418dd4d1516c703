"""Personal data in the outbox: copies of the messages peerbot queued for a person, the
keys kept after retention (whom a message was for, and when), and copies of a person's
questions in messages to others.

- **Export**: the messages queued or sent to the person (with their text) and the keys kept.
- **Erasure**: messages to them are deleted, waiting or not (they have left: nothing more
  goes to them), with the keys kept for them; copies of the questions they asked, in
  requests to peers and channel posts, go too (their keys kept, naming no one), and a
  waiting "this question has been withdrawn" keeps no words of the question.
- **Retention** (:class:`QuestionCopies`): copies of a question whose text retention has
  removed (``dsl_question_retention``, ``closed_question_retention``) go with it, rather
  than waiting for ``delivered_message_retention``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.config import PrivacySettings
from bot.db.base import rows_affected
from bot.models.messaging import OutboxKey, OutboxMessage
from bot.models.network import Person
from bot.models.questions import Question
from bot.privacy import ErasureOptions, ErasureReport
from bot.privacy.questions import EXPIRED
from bot.privacy.retention import RetentionReport
from bot.replies import Message

WITHDRAWN = "This question has been withdrawn — no need to do anything."
_QUESTION_KEY = re.compile(r"q(\d+):")
_CHUNK = 200


class OutboxData:
    section = "messages"

    async def export(self, session: AsyncSession, person: Person) -> Any:
        rows = (
            await session.execute(
                select(OutboxMessage)
                .where(OutboxMessage.network_id == person.network_id, outbox.addressed_to() == person.id)
                .order_by(OutboxMessage.id)
            )
        ).scalars()
        keys = (
            await session.execute(
                select(OutboxKey)
                .where(OutboxKey.network_id == person.network_id, OutboxKey.person_id == person.id)
                .order_by(OutboxKey.at)
            )
        ).scalars()
        return {
            "messages_to_them": [
                {
                    "key": r.key,
                    "status": r.status,
                    "queued": r.created_at.isoformat(),
                    "sent": r.sent_at.isoformat() if r.sent_at else None,
                    "text": Message.from_json(r.message).text,
                }
                for r in rows
            ],
            "older_messages_to_them": [{"key": k.key, "status": k.status, "queued": k.at.isoformat()} for k in keys],
        }

    async def erase(
        self, session: AsyncSession, person: Person, options: ErasureOptions, report: ErasureReport
    ) -> None:
        result = await session.execute(
            delete(OutboxMessage).where(
                OutboxMessage.network_id == person.network_id, outbox.addressed_to() == person.id
            )
        )
        report.add(self.section, "messages to them removed", rows_affected(result))
        result = await session.execute(
            delete(OutboxKey).where(OutboxKey.network_id == person.network_id, OutboxKey.person_id == person.id)
        )
        report.add(self.section, "records of older messages to them removed", rows_affected(result))
        asked = (await session.execute(select(Question.id).where(Question.asker_id == person.id))).scalars()
        removed = await purge_question_copies(session, person.network_id, list(asked))
        report.add(self.section, "copies of their questions removed", removed)


class QuestionCopies:
    """Copies of questions (requests, channel posts) whose text retention has removed."""

    async def apply(
        self, session: AsyncSession, network_id: int, now: datetime, settings: PrivacySettings, report: RetentionReport
    ) -> None:
        keys = (
            await session.execute(
                select(OutboxMessage.key).where(OutboxMessage.network_id == network_id, OutboxMessage.key.like("q%"))
            )
        ).scalars()
        ids = {int(m.group(1)) for k in keys if (m := _QUESTION_KEY.match(k))}
        expired: list[int] = []
        for chunk in _chunks(sorted(ids)):
            q = select(Question.id).where(
                Question.network_id == network_id, Question.id.in_(chunk), Question.text == EXPIRED
            )
            expired += list((await session.execute(q)).scalars())
        report.add("copies of expired questions", await purge_question_copies(session, network_id, expired))


async def purge_question_copies(session: AsyncSession, network_id: int, question_ids: Iterable[int]) -> int:
    """Remove the outbox's copies of these questions (keys ``q<id>:...``): a waiting edit
    saying the question was withdrawn keeps no words of it, anything else waiting is
    cancelled, and every copy not waiting is deleted (its key kept). Returns the copies
    removed or emptied."""
    total = 0
    for chunk in _chunks(list(question_ids)):
        theirs = and_(
            OutboxMessage.network_id == network_id,
            or_(*(OutboxMessage.key.startswith(f"q{i}:", autoescape=True) for i in chunk)),
        )
        waiting_edit = and_(
            theirs, OutboxMessage.status == "pending", OutboxMessage.target["kind"].as_string() == "edit"
        )
        result = await session.execute(
            update(OutboxMessage).where(waiting_edit).values(message=Message(text=WITHDRAWN).to_json())
        )
        total += rows_affected(result)
        await session.execute(
            update(OutboxMessage)
            .where(theirs, OutboxMessage.status == "pending", OutboxMessage.target["kind"].as_string() != "edit")
            .values(status="cancelled")
        )
        total += await outbox.forget(session, and_(theirs, OutboxMessage.status.not_in(["pending", "sending"])))
    return total


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]
