"""Personal data in questions: what a person asked, the requests they were sent, the
answers they gave — and how long question text is kept."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import PrivacySettings
from bot.db.base import rows_affected
from bot.models.network import Person
from bot.models.questions import Answer, Question, Referral
from bot.privacy import ErasureOptions, ErasureReport
from bot.privacy.retention import RetentionReport

REMOVED = "(removed)"
EXPIRED = "(removed after the network's retention period)"


class QuestionData:
    section = "questions"

    async def export(self, session: AsyncSession, person: Person) -> Any:
        asked = (await session.execute(select(Question).where(Question.asker_id == person.id))).unique().scalars()
        referred = (await session.execute(select(Referral).where(Referral.person_id == person.id))).unique().scalars()
        answered = (await session.execute(select(Answer).where(Answer.person_id == person.id))).unique().scalars()
        return {
            "asked": [
                {
                    "id": q.id,
                    "text": q.text,
                    "group": q.group,
                    "anonymous": q.anonymous,
                    "status": q.status,
                    "asked": q.created_at.isoformat(),
                }
                for q in asked
            ],
            "requests_received": [
                {"question": r.question_id, "status": r.status, "strength": r.strength, "asked": r.asked_at.isoformat()}
                for r in referred
            ],
            "answers_given": [
                {"question": a.question_id, "text": a.text, "given": a.created_at.isoformat()} for a in answered
            ],
        }

    async def erase(
        self, session: AsyncSession, person: Person, options: ErasureOptions, report: ErasureReport
    ) -> None:
        result = await session.execute(
            update(Question).where(Question.asker_id == person.id).values(text=REMOVED, flags=[])
        )
        report.add(self.section, "questions emptied", rows_affected(result))
        if not options.keep_contributions:
            result = await session.execute(update(Answer).where(Answer.person_id == person.id).values(text=REMOVED))
            report.add(self.section, "answers emptied", rows_affected(result))


class QuestionRetention:
    """Closed questions' text after ``closed_question_retention``, and that of questions that
    never closed (expired, or left open, held or answered) that long after they were passed
    to the convenor or else asked; DSL-channel questions' text after
    ``dsl_question_retention`` (whatever their state). Their answers go too;
    anything the answerer agreed to share lives on in the knowledge base."""

    async def apply(
        self, session: AsyncSession, network_id: int, now: datetime, settings: PrivacySettings, report: RetentionReport
    ) -> None:
        due = (
            select(Question.id)
            .where(
                Question.network_id == network_id,
                Question.text != EXPIRED,
                or_(
                    and_(
                        Question.status == "closed",
                        Question.closed_at.is_not(None),
                        Question.closed_at < now - settings.closed_question_retention,
                    ),
                    # A question that never closed (expired: nobody could take it; or left
                    # open, held or answered without "this answered it") counts from when it
                    # was passed to the convenor, else from when it was asked.
                    and_(
                        Question.status != "closed",
                        func.coalesce(Question.closed_at, Question.convenor_told_at, Question.created_at)
                        < now - settings.closed_question_retention,
                    ),
                    and_(Question.group == "dsl", Question.created_at < now - settings.dsl_question_retention),
                ),
            )
            .scalar_subquery()
        )
        answers = await session.execute(
            update(Answer).where(Answer.question_id.in_(due), Answer.text != EXPIRED).values(text=EXPIRED)
        )
        questions = await session.execute(update(Question).where(Question.id.in_(due)).values(text=EXPIRED, flags=[]))
        report.add("question texts", rows_affected(questions))
        report.add("answer texts", rows_affected(answers))
