"""The alarm clock (APScheduler), nudges that fell due while the bot was down, and
knowledge-base review reminders through the ReviewSource seam."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import PeerBot
from bot.clock import FrozenClock
from bot.db.engine import Database
from bot.meetings.scheduler import MeetingScheduler
from bot.meetings.sweep import sweep
from bot.replies import Message, ToGroup, ToPerson
from bot.services import ReviewDue
from tests.conftest import make_config
from tests.support.chat import Chat
from tests.support.meetings import clock_of, outbox_rows, posts


async def test_the_scheduler_sweeps_at_start_and_sets_both_alarms_from_rows(chat: Chat, demo_bot: PeerBot) -> None:
    scheduler = MeetingScheduler(demo_bot)
    stop = asyncio.Event()
    task = asyncio.create_task(scheduler.run(stop))
    try:
        for _ in range(200):
            if scheduler.sweeps:
                break
            await asyncio.sleep(0.01)
        assert scheduler.sweeps == 1
        await asyncio.sleep(0.1)
        jobs = {job.id: job for job in scheduler.scheduler.get_jobs()}
        now_wall = datetime.now(UTC)
        # The next sweep is when the Autumn 2 poll closes, capped at an hour.
        assert timedelta(minutes=59) < jobs["sweep"].next_run_time - now_wall <= timedelta(hours=1)
        # The poll message was due at once: the deliverer was woken, and since nothing is
        # delivering it here, the alarm is set again a second later rather than spinning.
        assert demo_bot.deliverer._wake.is_set()
        assert timedelta(seconds=0.5) < jobs["wake-deliverer"].next_run_time - now_wall <= timedelta(seconds=1)
        await demo_bot.deliverer.drain()
        assert posts(chat, "which dates can you make")
    finally:
        stop.set()
        await task
    assert not scheduler.scheduler.running


async def test_the_wake_alarm_wakes_the_deliverer(demo_bot: PeerBot) -> None:
    scheduler = MeetingScheduler(demo_bot)
    scheduler.scheduler.start()
    try:
        demo_bot.deliverer._wake.clear()
        await scheduler._wake_deliverer()
        assert demo_bot.deliverer._wake.is_set()
    finally:
        scheduler.scheduler.shutdown(wait=False)


async def test_nudges_due_while_down_are_moved_out_of_the_night_on_restart(
    database: Database, demo_bot: PeerBot
) -> None:
    clock = clock_of(demo_bot)
    day = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    async with demo_bot.db.session() as session:
        await demo_bot.queue(session, ToGroup("heads"), Message(text="a"), key="meeting:7:nudge:2d:0", not_before=day)
        await demo_bot.queue(
            session,
            ToGroup("heads"),
            Message(text="b"),
            key="meeting:7:nudge:1h:0",
            not_before=day,
            expires_at=day + timedelta(hours=2),
        )
        await demo_bot.queue(session, ToGroup("heads"), Message(text="c"), key="other:1", not_before=day)
        await demo_bot.queue(session, ToGroup("heads"), Message(text="d"), key="q3:ref9", not_before=day)
    # The bot comes back at 23:00: the nudges wait for the morning, the expired one is left to be skipped.
    night = FrozenClock(datetime(2026, 11, 24, 23, 0, tzinfo=UTC))
    restarted = await PeerBot.open(make_config(), db=database, clock=night, migrate=False, platforms=["console"])
    rows = {r.key: r.not_before for r in await outbox_rows(restarted)}
    morning = datetime(2026, 11, 25, 7, 30, tzinfo=UTC)
    assert morning <= rows["meeting:7:nudge:2d:0"] < morning + timedelta(hours=1)
    assert morning <= rows["q3:ref9"] < morning + timedelta(hours=1)  # a request to a peer waits too
    assert rows["meeting:7:nudge:1h:0"] == day and rows["other:1"] == day
    # In the day, a restart moves nothing.
    clock.set(datetime(2026, 11, 25, 12, 0, tzinfo=UTC))
    await PeerBot.open(make_config(), db=database, clock=clock, migrate=False, platforms=["console"])
    assert {r.key: r.not_before for r in await outbox_rows(restarted)} == rows


class FakeKnowledge:
    """A knowledge base with one policy whose review is due."""

    def __init__(self, owner_id: int) -> None:
        self.owner_id = owner_id

    async def reviews_due(self, session: AsyncSession, *, before: date) -> list[ReviewDue]:
        review_on = date(2026, 12, 16)
        if review_on > before:
            return []
        return [
            ReviewDue(
                key="kb:4:2026-12-16",
                owner_person_id=self.owner_id,
                title="Attendance policy",
                review_on=review_on,
                buttons=(("Mark reviewed", "kb.reviewed", "4"),),
            )
        ]


async def test_knowledge_base_reviews_are_reminded_once_with_the_same_rules(chat: Chat, demo_bot: PeerBot) -> None:
    from bot.network import store

    async with demo_bot.db.session() as session:
        owner = await store.person_by_email(session, demo_bot.network_id, "k.lloyd@hollybrook.sch.uk")
        assert owner is not None
    demo_bot.knowledge = FakeKnowledge(owner.id)  # type: ignore[assignment]
    assert (await sweep(demo_bot)).reminders == 1
    assert (await sweep(demo_bot)).reminders == 0
    [row] = await outbox_rows(demo_bot, "review:")
    assert row.key == "review:kb:4:2026-12-16"
    # 30 days before (16 Nov) has passed, so it goes on the morning of the review date.
    assert datetime(2026, 12, 16, 9, 0, tzinfo=UTC) <= row.not_before < datetime(2026, 12, 16, 10, 0, tzinfo=UTC)
    clock_of(demo_bot).set(row.not_before)
    await demo_bot.deliverer.drain()
    [dm] = chat.dms("k.lloyd@hollybrook.sch.uk")
    assert "**Attendance policy** is due for review" in dm.text and dm.buttons[0].action == "kb.reviewed"


async def test_a_review_reminder_is_not_queued_again_once_retention_removed_its_copy(
    chat: Chat, demo_bot: PeerBot
) -> None:
    from sqlalchemy import select

    from bot.models import OutboxKey
    from bot.network import store
    from bot.privacy.retention import SENT_KEY_RETENTION, apply_retention

    async with demo_bot.db.session() as session:
        owner = await store.person_by_email(session, demo_bot.network_id, "k.lloyd@hollybrook.sch.uk")
        assert owner is not None
    demo_bot.knowledge = FakeKnowledge(owner.id)  # type: ignore[assignment]
    clock = clock_of(demo_bot)
    await sweep(demo_bot)
    [row] = await outbox_rows(demo_bot, "review:")
    clock.set(row.not_before)
    await demo_bot.deliverer.drain()
    assert len(chat.dms("k.lloyd@hollybrook.sch.uk")) == 1
    # The entry stays overdue; well past the 30 days the sent copy is kept, the sweeps go on.
    for days in (31, 45, 90):
        clock.set(row.not_before + timedelta(days=days))
        async with demo_bot.db.session() as session:
            await apply_retention(session, demo_bot.network_id, clock.now(), demo_bot.config.settings.privacy)
        assert (await sweep(demo_bot)).reminders == 0
        await demo_bot.deliverer.drain()
    assert await outbox_rows(demo_bot, "review:") == []  # the copy has gone ...
    assert len(chat.dms("k.lloyd@hollybrook.sch.uk")) == 1  # ... and nobody was reminded twice
    async with demo_bot.db.session() as session:
        [kept] = (await session.execute(select(OutboxKey).where(OutboxKey.key.startswith("review:")))).scalars().all()
    assert (kept.key, kept.person_id, kept.status) == ("review:kb:4:2026-12-16", owner.id, "sent")
    # The key itself goes after SENT_KEY_RETENTION: then an entry still overdue is reminded again.
    clock.set(kept.at + SENT_KEY_RETENTION + timedelta(days=1))
    async with demo_bot.db.session() as session:
        report = await apply_retention(session, demo_bot.network_id, clock.now(), demo_bot.config.settings.privacy)
    assert report.removed.get("keys of old messages", 0) >= 1
    async with demo_bot.db.session() as session:
        again = await demo_bot.queue(session, ToPerson(owner.id), Message(text="x"), key="review:kb:4:2026-12-16")
    assert again == 1
