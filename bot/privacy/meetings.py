"""Personal data in meetings: poll votes, RSVPs, agenda items someone added, actions they own."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.base import rows_affected
from bot.models.meetings import Action, AgendaItem, MeetingRsvp, MeetingVote
from bot.models.network import Person
from bot.privacy import ErasureOptions, ErasureReport


class MeetingData:
    section = "meetings"

    async def export(self, session: AsyncSession, person: Person) -> Any:
        votes = (await session.execute(select(MeetingVote).where(MeetingVote.person_id == person.id))).scalars()
        rsvps = (await session.execute(select(MeetingRsvp).where(MeetingRsvp.person_id == person.id))).scalars()
        items = (await session.execute(select(AgendaItem).where(AgendaItem.person_id == person.id))).unique().scalars()
        actions = (await session.execute(select(Action).where(Action.owner_id == person.id))).unique().scalars()
        return {
            "poll_votes": [{"option": v.option_id, "at": v.voted_at.isoformat()} for v in votes],
            "rsvps": [{"meeting": r.meeting_id, "answer": r.answer} for r in rsvps],
            "agenda_items": [{"meeting": a.meeting_id, "text": a.text} for a in items],
            "actions": [
                {"id": a.id, "action": a.action, "review_on": a.review_on.isoformat(), "status": a.status}
                for a in actions
            ],
        }

    async def erase(
        self, session: AsyncSession, person: Person, options: ErasureOptions, report: ErasureReport
    ) -> None:
        result = await session.execute(delete(MeetingVote).where(MeetingVote.person_id == person.id))
        report.add(self.section, "poll votes removed", rows_affected(result))
        result = await session.execute(delete(MeetingRsvp).where(MeetingRsvp.person_id == person.id))
        report.add(self.section, "RSVPs removed", rows_affected(result))
        result = await session.execute(
            update(AgendaItem).where(AgendaItem.person_id == person.id).values(person_id=None)
        )
        report.add(self.section, "agenda items no longer credited to them", rows_affected(result))
        result = await session.execute(
            update(Action)
            .where(Action.owner_id == person.id, Action.status == "open")
            .values(owner_id=None, notes=Action.notes + " (owner left the network: the convenor reassigns it)")
        )
        report.add(self.section, "open actions left for the convenor to reassign", rows_affected(result))
        await session.execute(update(Action).where(Action.owner_id == person.id).values(owner_id=None))
        await session.execute(update(Action).where(Action.created_by == person.id).values(created_by=None))
