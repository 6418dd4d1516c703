"""The outbox and the deliverer: once each, whatever the platform does."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot import outbox
from bot.app import PeerBot
from bot.clock import FrozenClock
from bot.db.engine import Database
from bot.delivery import PermanentError, RateLimited, TransientError
from bot.models import OutboxMessage
from bot.network import store
from bot.replies import Button, EditMessage, Message, ToGroup, ToPerson
from tests.conftest import make_config
from tests.support.chat import Chat, RecordingTransport

HEAD = "p.shah@oakfield.sch.uk"


async def person_id(bot: PeerBot, email: str) -> int:
    async with bot.db.session() as session:
        person = await store.person_by_email(session, bot.network_id, email)
        assert person is not None
        return person.id


async def queue(bot: PeerBot, target, text: str, key: str, **kw) -> int:  # type: ignore[no-untyped-def]
    async with bot.db.session() as session:
        return await bot.queue(session, target, Message(text=text, buttons=kw.pop("buttons", ())), key=key, **kw)


async def rows(bot: PeerBot) -> list[OutboxMessage]:
    async with bot.db.session() as session:
        return list((await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())


def clock_of(bot: PeerBot) -> FrozenClock:
    assert isinstance(bot.clock, FrozenClock)
    return bot.clock


async def test_a_dm_is_sent_once_and_its_ref_kept(chat: Chat, demo_bot: PeerBot) -> None:
    pid = await person_id(demo_bot, HEAD)
    button = Button(label="I can help", action="referral.accept", value="7", style="primary")
    assert await queue(demo_bot, ToPerson(pid), "Can you help?", "referral:7:dm", buttons=(button,)) == 1
    assert await queue(demo_bot, ToPerson(pid), "Can you help?", "referral:7:dm") == 0  # same decision, same key
    await demo_bot.deliverer.drain()
    await demo_bot.deliverer.drain()
    [sent] = chat.dms(HEAD)
    assert sent.text == "Can you help?" and sent.buttons == (button,) and sent.key == "referral:7:dm"
    [row] = await rows(demo_bot)
    assert row.status == "sent" and row.attempts == 1
    async with demo_bot.db.session() as session:
        ref = await outbox.sent_ref(session, network_id=demo_bot.network_id, key="referral:7:dm")
    assert ref == sent.ref


async def test_group_messages_go_to_the_groups_channel(chat: Chat, demo_bot: PeerBot) -> None:
    await queue(demo_bot, ToGroup("heads"), "Meeting booked", "meeting:1:booked")
    await demo_bot.deliverer.drain()
    [sent] = chat.transport.sent
    assert sent.kind == "channel" and sent.ref.channel_id == "heads"


async def test_rate_limits_wait_their_turn_and_lose_nothing(chat: Chat, demo_bot: PeerBot) -> None:
    chat.transport.failures.append(RateLimited(30))
    await queue(demo_bot, ToGroup("dsl"), "Nudge", "n1")
    await demo_bot.deliverer.drain()
    [row] = await rows(demo_bot)
    assert row.status == "pending" and row.attempts == 0
    assert row.not_before == clock_of(demo_bot).now() + timedelta(seconds=30)
    clock_of(demo_bot).advance(timedelta(seconds=29))
    await demo_bot.deliverer.drain()
    assert chat.transport.sent == []
    clock_of(demo_bot).advance(timedelta(seconds=2))
    await demo_bot.deliverer.drain()
    assert [s.text for s in chat.transport.sent] == ["Nudge"]


async def test_transient_errors_back_off_then_succeed(chat: Chat, demo_bot: PeerBot) -> None:
    chat.transport.failures.extend([TransientError("502"), TransientError("timeout")])
    await queue(demo_bot, ToGroup("dsl"), "Nudge", "n1")
    await demo_bot.deliverer.drain()
    [row] = await rows(demo_bot)
    assert row.status == "pending" and row.last_error == "502"
    assert row.not_before == clock_of(demo_bot).now() + timedelta(seconds=5)
    clock_of(demo_bot).advance(timedelta(seconds=5))
    await demo_bot.deliverer.drain()
    [row] = await rows(demo_bot)
    assert row.not_before == clock_of(demo_bot).now() + timedelta(seconds=10)
    clock_of(demo_bot).advance(timedelta(seconds=10))
    await demo_bot.deliverer.drain()
    assert len(chat.transport.sent) == 1 and (await rows(demo_bot))[0].status == "sent"


async def test_retries_of_nudges_and_requests_wait_for_sending_hours(chat: Chat, demo_bot: PeerBot) -> None:
    clock = clock_of(demo_bot)
    evening = datetime(2026, 11, 23, 18, 29, 58, tzinfo=UTC)  # Monday, 18:29:58 London (GMT)
    clock.set(evening)
    await queue(demo_bot, ToGroup("heads"), "Agenda", "meeting:7:nudge:2d:0")
    await queue(demo_bot, ToPerson(await person_id(demo_bot, HEAD)), "Can you help?", "q3:ref9")
    await queue(demo_bot, ToGroup("heads"), "Answer", "q3:answer:4")  # part of a conversation: goes when it can
    chat.transport.failures.extend([RateLimited(120), RateLimited(120), RateLimited(120)])
    await demo_bot.deliverer.drain()
    after = {r.key: r.not_before for r in await rows(demo_bot)}
    tuesday = datetime(2026, 11, 24, 7, 30, tzinfo=UTC)
    assert after == {
        "meeting:7:nudge:2d:0": tuesday,  # two minutes later would be after 18:30
        "q3:ref9": tuesday,
        "q3:answer:4": evening + timedelta(seconds=120),
    }
    clock.set(tuesday)
    await demo_bot.deliverer.drain()
    assert len(chat.transport.sent) == 3
    # On a Friday evening, a retry after a transient error waits for Monday morning.
    clock.set(datetime(2026, 11, 27, 18, 29, tzinfo=UTC))
    await queue(demo_bot, ToGroup("heads"), "Soon", "meeting:8:nudge:1h:0")
    chat.transport.failures.append(TransientError("502"))
    clock.set(datetime(2026, 11, 27, 18, 29, 57, tzinfo=UTC))  # 5 s of back-off: past 18:30
    await demo_bot.deliverer.drain()
    [row] = [r for r in await rows(demo_bot) if r.key == "meeting:8:nudge:1h:0"]
    assert row.not_before == datetime(2026, 11, 30, 7, 30, tzinfo=UTC)


async def test_permanent_errors_are_recorded_not_retried(chat: Chat, demo_bot: PeerBot) -> None:
    chat.transport.failures.append(PermanentError("channel_archived"))
    await queue(demo_bot, ToGroup("dsl"), "Nudge", "n1")
    await demo_bot.deliverer.drain()
    clock_of(demo_bot).advance(timedelta(days=1))
    await demo_bot.deliverer.drain()
    [row] = await rows(demo_bot)
    assert (row.status, row.last_error) == ("failed", "channel_archived")
    assert chat.transport.calls == 1


async def test_future_and_expired_messages(chat: Chat, demo_bot: PeerBot) -> None:
    now = clock_of(demo_bot).now()
    await queue(
        demo_bot,
        ToGroup("heads"),
        "Starting in 1 hour",
        "m1:1h",
        not_before=now + timedelta(hours=1),
        expires_at=now + timedelta(hours=2),
    )
    await demo_bot.deliverer.drain()
    assert chat.transport.sent == []
    clock_of(demo_bot).advance(timedelta(hours=3))  # the bot was down past the meeting
    await demo_bot.deliverer.drain()
    assert chat.transport.sent == []
    [row] = await rows(demo_bot)
    assert row.status == "skipped"


async def test_a_worker_that_died_mid_send_is_taken_over_with_its_key(chat: Chat, demo_bot: PeerBot) -> None:
    await queue(demo_bot, ToGroup("heads"), "Hello", "k1")
    async with demo_bot.db.session() as session:  # a worker claims, then dies
        [_claimed] = await outbox.claim(session, now=clock_of(demo_bot).now(), worker="dead", platforms=["console"])
    await demo_bot.deliverer.drain()
    assert chat.transport.sent == []  # its lease still holds
    clock_of(demo_bot).advance(outbox.LEASE + timedelta(seconds=1))
    attempts: list[int] = []
    original = chat.transport.send

    async def spy(address, message, *, key, attempt):  # type: ignore[no-untyped-def]
        attempts.append(attempt)
        return await original(address, message, key=key, attempt=attempt)

    chat.transport.send = spy  # type: ignore[method-assign]
    await demo_bot.deliverer.drain()
    assert attempts == [2]
    assert [s.key for s in chat.transport.sent] == ["k1"]


async def test_edits_rewrite_a_waiting_message_or_edit_a_sent_one(chat: Chat, demo_bot: PeerBot) -> None:
    pid = await person_id(demo_bot, HEAD)
    now = clock_of(demo_bot).now()
    await queue(demo_bot, ToPerson(pid), "Can you help?", "r1", not_before=now + timedelta(minutes=5))
    await queue(demo_bot, EditMessage(key="r1"), "Someone else took this one", "r1:edit")
    assert len(await rows(demo_bot)) == 1  # still waiting: rewritten in place
    clock_of(demo_bot).advance(timedelta(minutes=6))
    await demo_bot.deliverer.drain()
    assert [s.text for s in chat.transport.sent] == ["Someone else took this one"]
    await queue(demo_bot, EditMessage(key="r1"), "Answered, thank you", "r1:edit2")
    await demo_bot.deliverer.drain()
    first, edit = chat.transport.sent
    assert edit.kind == "edit" and edit.ref.message_id == first.ref.message_id


async def test_cancel_by_prefix(chat: Chat, demo_bot: PeerBot) -> None:
    now = clock_of(demo_bot).now()
    for offset in ("14d", "2d", "1h"):
        await queue(demo_bot, ToGroup("heads"), offset, f"meeting:5:{offset}", not_before=now + timedelta(days=1))
    await queue(demo_bot, ToGroup("heads"), "other", "meeting:50:x", not_before=now + timedelta(days=1))
    async with demo_bot.db.session() as session:
        assert await outbox.cancel(session, network_id=demo_bot.network_id, key_prefix="meeting:5:") == 3
    assert sorted(r.status for r in await rows(demo_bot)) == ["cancelled"] * 3 + ["pending"]


async def test_unreachable_people_fail_clearly(chat: Chat, demo_bot: PeerBot) -> None:
    pid = await person_id(demo_bot, HEAD)
    async with demo_bot.db.session() as session:
        await outbox.enqueue(
            session,
            network_id=demo_bot.network_id,
            platform="console",
            key="x",
            target=ToPerson(pid),
            message=Message(text="hi"),
            not_before=clock_of(demo_bot).now(),
            now=clock_of(demo_bot).now(),
        )
        person = await store.person_by_email(session, demo_bot.network_id, HEAD)
        assert person is not None
        person.active = False
    await demo_bot.deliverer.drain()
    [row] = await rows(demo_bot)
    assert (row.status, row.last_error) == ("failed", "that person is no longer in the network")


async def test_two_workers_never_send_the_same_message_twice(database: Database, demo_bot: PeerBot) -> None:
    for i in range(120):
        await queue(demo_bot, ToGroup("heads"), f"m{i}", f"k{i}")
    other_db = Database(database.url, schema=database.schema)
    other = await PeerBot.open(make_config(), db=other_db, clock=demo_bot.clock, migrate=False, platforms=["console"])
    # Sends take a little time, as on a real platform: that is when the other worker gets in.
    t1, t2 = RecordingTransport(delay=0.002), RecordingTransport(delay=0.002)
    demo_bot.deliverer.register(t1)
    other.deliverer.register(t2)
    demo_bot.deliverer.batch = other.deliverer.batch = 7
    await asyncio.gather(demo_bot.deliverer.drain(), other.deliverer.drain())
    await other_db.dispose()
    keys = [s.key for s in t1.sent + t2.sent]
    assert sorted(keys) == sorted(f"k{i}" for i in range(120))
    assert t1.sent and t2.sent  # both took part


async def test_an_edit_waits_for_its_original_still_in_flight(chat: Chat, demo_bot: PeerBot) -> None:
    pid = await person_id(demo_bot, HEAD)
    await queue(demo_bot, ToPerson(pid), "Can you help?", "r1")
    async with demo_bot.db.session() as session:  # another worker has the original in flight
        [_claimed] = await outbox.claim(session, now=clock_of(demo_bot).now(), worker="other", platforms=["console"])
    await queue(demo_bot, EditMessage(key="r1"), "Someone else took this one", "r1:edit")
    await demo_bot.deliverer.drain()
    edit = next(r for r in await rows(demo_bot) if r.key == "r1:edit")
    assert edit.status == "pending" and edit.attempts == 0  # not skipped: waiting for the original
    clock_of(demo_bot).advance(outbox.LEASE + timedelta(seconds=1))  # the other worker died; we take over
    await demo_bot.deliverer.drain()
    clock_of(demo_bot).advance(timedelta(seconds=3))
    await demo_bot.deliverer.drain()
    original, edit_sent = chat.transport.sent
    assert edit_sent.kind == "edit" and edit_sent.ref.message_id == original.ref.message_id


async def test_messages_to_one_conversation_go_in_order(chat: Chat, demo_bot: PeerBot) -> None:
    import random

    rng = random.Random(7)
    original = chat.transport.send

    async def uneven(address, message, *, key, attempt):  # type: ignore[no-untyped-def]
        await asyncio.sleep(rng.uniform(0, 0.01))  # a platform answers some sends faster than others
        return await original(address, message, key=key, attempt=attempt)

    chat.transport.send = uneven  # type: ignore[method-assign]
    for i in range(12):
        await queue(demo_bot, ToGroup("heads"), f"heads {i}", f"h{i}")
        await queue(demo_bot, ToGroup("dsl"), f"dsl {i}", f"d{i}")
    await demo_bot.deliverer.drain()
    heads = [s.text for s in chat.transport.sent if s.ref.channel_id == "heads"]
    dsl = [s.text for s in chat.transport.sent if s.ref.channel_id == "dsl"]
    assert heads == [f"heads {i}" for i in range(12)] and dsl == [f"dsl {i}" for i in range(12)]


async def test_the_keys_queued_are_found_waiting_sent_or_past_retention(chat: Chat, demo_bot: PeerBot) -> None:
    pid = await person_id(demo_bot, HEAD)
    await queue(demo_bot, ToPerson(pid), "Sent", "reply:1")
    await demo_bot.deliverer.drain()
    await queue(
        demo_bot, ToGroup("heads"), "Waiting", "reply:2", not_before=clock_of(demo_bot).now() + timedelta(days=1)
    )
    await queue(demo_bot, ToPerson(pid), "Gone", "reply:3")
    await demo_bot.deliverer.drain()
    async with demo_bot.db.session() as session:
        assert await outbox.forget(session, OutboxMessage.key == "reply:3") == 1  # retention
    keys = ["reply:1", "reply:2", "reply:3", "reply:4"]
    assert await demo_bot.queued(keys) == {"reply:1", "reply:2", "reply:3"}
    assert await demo_bot.queued([]) == set()
