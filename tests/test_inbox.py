"""The inbox: events kept before they are acknowledged, handled once, in order per
conversation, whatever crashes in between (the Slack end to end is in tests/slack)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text

from bot.app import PeerBot
from bot.clock import FrozenClock
from bot.events import (
    AnyEvent,
    ButtonPressed,
    CommandInvoked,
    IncomingFile,
    MemberJoined,
    MessagePosted,
    MessageRef,
    Place,
    Sender,
    event_from_json,
    event_to_json,
)
from bot.inbox import LEASE_SECONDS, Inbox, InboxFull, InboxItem, InboxUnavailable, keep_replies
from bot.models import InboxEvent
from tests.support.waiting import eventually

# -- events as JSON ----------------------------------------------------------------------------
ids = st.text(min_size=1, max_size=20)
maybe = st.none() | ids
senders = st.builds(Sender, platform=ids, user_id=ids, display_name=maybe)
places = st.builds(Place, platform=ids, channel_id=ids, is_direct=st.booleans(), thread_id=maybe)
files = st.lists(st.builds(IncomingFile, name=ids, data=st.binary(max_size=64), content_type=maybe), max_size=2).map(
    tuple
)
refs = st.builds(MessageRef, platform=ids, channel_id=ids, message_id=ids, thread_id=maybe)
common: dict[str, Any] = {"sender": senders, "place": places, "event_id": maybe}
events = st.one_of(
    st.builds(MessagePosted, **common, text=st.text(), message_id=ids, mentions_bot=st.booleans(), files=files),
    st.builds(CommandInvoked, **common, name=ids, text=st.text(), files=files),
    st.builds(ButtonPressed, **common, action=ids, value=st.text(), message=st.none() | refs),
    st.builds(MemberJoined, **common),
)


@given(events)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_every_event_survives_json_and_back(event: AnyEvent) -> None:
    import json

    stored = json.loads(json.dumps(event_to_json(event)))  # what the database keeps
    assert event_from_json(stored) == event


def test_raw_stays_out_of_the_stored_event() -> None:
    event = MessagePosted(
        sender=Sender(platform="slack", user_id="U1"),
        place=Place(platform="slack", channel_id="C1"),
        text="hi",
        message_id="1.2",
        raw={"token": "secret"},
    )
    assert "raw" not in event_to_json(event) and "secret" not in str(event_to_json(event))


@pytest.mark.parametrize("data", [{}, {"kind": "spell"}, {"kind": "message", "sender": {}, "place": {}}])
def test_what_is_not_a_stored_event_is_refused(data: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="not a stored event"):
        event_from_json(data)


# -- the inbox ---------------------------------------------------------------------------------
def said(n: int, channel: str = "C1", event_id: str | None = None) -> MessagePosted:
    return MessagePosted(
        sender=Sender(platform="slack", user_id="U1"),
        place=Place(platform="slack", channel_id=channel),
        event_id=event_id or f"msg:{channel}:{n}",
        text=f"message {n}",
        message_id=str(n),
    )


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.gate: asyncio.Event | None = None
        self.fail: set[str] = set()
        self.running = 0
        self.most = 0

    async def __call__(self, item: InboxItem) -> None:
        event = item.event
        assert isinstance(event, MessagePosted)
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            if self.gate is not None:
                await self.gate.wait()
            if event.text in self.fail:
                raise RuntimeError("boom")
            self.seen.append((event.place.channel_id, event.text))
        finally:
            self.running -= 1


async def die(inbox: Inbox) -> None:
    """As if the process had been killed: its tasks gone, its rows still its own."""
    tasks = [t for t in (inbox._keeper, inbox._writer, *inbox._workers) if t is not None]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def make_inbox(bot: PeerBot, handler: Any, **kw: Any) -> Inbox:
    return Inbox(bot.db, network_id=bot.network_id, platform="slack", clock=bot.clock, handler=handler, **kw)


async def stored(bot: PeerBot) -> list[InboxEvent]:
    async with bot.db.session() as session:
        return list((await session.execute(select(InboxEvent).order_by(InboxEvent.id))).scalars())


async def test_events_are_kept_until_handled_then_removed(bot: PeerBot) -> None:
    record = Recorder()
    record.gate = asyncio.Event()
    inbox = make_inbox(bot, record)
    await inbox.start()
    assert await inbox.put(said(1), {"response_url": "https://hooks.example/1"}) is True
    [row] = await stored(bot)
    assert (row.platform, row.event_id, row.sender_id, row.attempts) == ("slack", "msg:C1:1", "U1", 0)
    assert event_from_json(row.event) == said(1) and row.context == {"response_url": "https://hooks.example/1"}
    record.gate.set()
    await inbox.idle()
    assert record.seen == [("C1", "message 1")] and await stored(bot) == []
    await inbox.stop(1)


async def test_a_retry_of_a_waiting_event_is_kept_once(bot: PeerBot) -> None:
    record = Recorder()
    inbox = make_inbox(bot, record)
    await inbox.start(drain=False)
    first, again, together = await asyncio.gather(
        inbox.put(said(1)), inbox.put(said(1)), inbox.put(said(2, event_id="msg:C1:1"))
    )
    assert sorted([first, again, together]) == [False, False, True]
    assert await inbox.put(said(1)) is False
    assert len(await stored(bot)) == 1 and inbox.pending == 1 and inbox.repeats == 3
    await inbox.stop(1)


async def test_events_arriving_together_share_one_commit(bot: PeerBot) -> None:
    commits = 0

    def count(*_: Any) -> None:
        nonlocal commits
        commits += 1

    from sqlalchemy import event

    event.listen(bot.db.engine.sync_engine, "commit", count)
    inbox = make_inbox(bot, Recorder())
    await inbox.start(drain=False)
    commits = 0
    assert all(await asyncio.gather(*(inbox.put(said(n)) for n in range(50))))
    assert commits <= 2  # the first alone (it woke the writer), the other 49 together at most
    assert len(await stored(bot)) == 50
    await inbox.stop(1)


async def test_events_left_by_a_crash_are_handled_at_the_next_start(bot: PeerBot) -> None:
    crashed = make_inbox(bot, Recorder())
    await crashed.start(drain=False)
    for n in range(3):
        await crashed.put(said(n, "C1"))
    await crashed.put(said(9, "C2"))
    await die(crashed)  # nothing handled, nothing let go of
    record = Recorder()
    inbox = make_inbox(bot, record)
    assert await inbox.start() == 0  # still the dead process's, until its lease runs out
    await inbox.stop(1)
    bot.clock.advance(timedelta(seconds=LEASE_SECONDS + 1))
    inbox = make_inbox(bot, record)
    assert await inbox.start() == 4
    await inbox.idle()
    assert [t for c, t in record.seen if c == "C1"] == ["message 0", "message 1", "message 2"]
    assert ("C2", "message 9") in record.seen and await stored(bot) == []
    await inbox.stop(1)


async def test_one_conversation_in_order_others_side_by_side(bot: PeerBot) -> None:
    record = Recorder()
    record.gate = asyncio.Event()
    inbox = make_inbox(bot, record, concurrency=4)
    await inbox.start()
    for n in range(5):
        for channel in ("C1", "C2", "C3"):
            await inbox.put(said(n, channel))
    await asyncio.sleep(0.1)
    assert record.running == 3  # one per conversation, although four workers are free
    record.gate.set()
    await inbox.idle()
    for channel in ("C1", "C2", "C3"):
        assert [t for c, t in record.seen if c == channel] == [f"message {n}" for n in range(5)]
    assert record.most == 3
    await inbox.stop(1)


async def test_a_failing_event_is_retried_then_dropped_without_blocking_the_rest(
    bot: PeerBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    record = Recorder()
    record.fail = {"message 1"}
    told: list[InboxItem] = []

    async def gave_up(item: InboxItem) -> None:
        told.append(item)

    inbox = make_inbox(bot, record, gave_up=gave_up, max_attempts=3, retry_pause=0.01)
    await inbox.start()
    for n in range(3):
        await inbox.put(said(n))
    await inbox.idle()
    assert record.seen == [("C1", "message 0"), ("C1", "message 2")]  # in order, nothing blocked
    assert [i.event.event_id for i in told] == ["msg:C1:1"] and told[0].attempts == 3
    assert inbox.failed == 3 and inbox.dropped == 1 and await stored(bot) == []
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "gave up on a MessagePosted" in logged and "message 1" not in logged
    await inbox.stop(1)


async def test_an_event_that_keeps_killing_the_process_is_dropped(bot: PeerBot) -> None:
    first = make_inbox(bot, Recorder(), max_attempts=2)
    await first.start(drain=False)
    await first.put(said(1))
    await first.stop(0)
    async with bot.db.session() as session:
        await session.execute(text("UPDATE inbox SET attempts = 2"))  # two runs died handling it
    record = Recorder()
    told: list[InboxItem] = []

    async def gave_up(item: InboxItem) -> None:
        told.append(item)

    inbox = make_inbox(bot, record, gave_up=gave_up, max_attempts=2)
    await inbox.start()
    await inbox.idle()
    assert record.seen == [] and len(told) == 1 and await stored(bot) == []
    await inbox.stop(1)


async def test_a_database_failure_is_reported_so_the_platform_retries(bot: PeerBot) -> None:
    inbox = make_inbox(bot, Recorder())
    await inbox.start(drain=False)
    async with bot.db.session() as session:
        await session.execute(text("ALTER TABLE inbox RENAME TO inbox_away"))
    with pytest.raises(InboxUnavailable):
        await inbox.put(said(1))
    async with bot.db.session() as session:
        await session.execute(text("ALTER TABLE inbox_away RENAME TO inbox"))
    assert await inbox.put(said(1)) is True  # the writer carries on
    await inbox.stop(1)


async def test_past_the_limit_events_are_refused(bot: PeerBot) -> None:
    inbox = make_inbox(bot, Recorder(), limit=2)
    await inbox.start(drain=False)
    await inbox.put(said(1))
    await inbox.put(said(2))
    with pytest.raises(InboxFull):
        await inbox.put(said(3))
    async with bot.db.session() as session:
        assert (await session.execute(select(func.count()).select_from(InboxEvent))).scalar_one() == 2
    await inbox.stop(1)


async def test_a_row_erased_while_waiting_is_not_handled(bot: PeerBot) -> None:
    record = Recorder()
    inbox = make_inbox(bot, record)
    await inbox.start(drain=False)
    await inbox.put(said(1))
    async with bot.db.session() as session:
        await session.execute(text("DELETE FROM inbox"))
    await inbox.stop(0)
    inbox = make_inbox(bot, record)
    await inbox.start()
    await inbox.idle()
    assert record.seen == []
    await inbox.stop(1)


async def test_an_event_without_an_id_is_given_one_so_a_replay_is_dropped(bot: PeerBot) -> None:
    handled: list[AnyEvent] = []

    async def handler(item: InboxItem) -> None:
        handled.append(item.event)

    inbox = make_inbox(bot, handler)
    await inbox.start()
    await inbox.put(said(1, event_id="x").__class__(**{**_fields(said(1)), "event_id": None}))
    await inbox.idle()
    assert handled[0].event_id is not None and handled[0].event_id.startswith("inbox:")
    await inbox.stop(1)


def _fields(event: MessagePosted) -> dict[str, Any]:
    return {f: getattr(event, f) for f in ("sender", "place", "text", "message_id")}


async def test_replies_kept_by_a_handling_reach_the_handler_after_a_restart(bot: PeerBot) -> None:
    first = make_inbox(bot, Recorder())
    await first.start(drain=False)
    await first.put(said(1))
    await first.put(said(2))
    await first.stop(0)
    kept = [{"private": True, "in_thread": True, "message": {"text": "noted"}}]
    async with bot.db.session() as session:  # message 1 was handled, and the process died before replying
        first_id = min((await session.execute(select(InboxEvent.id))).scalars())
        await keep_replies(session, first_id, kept)
    given: list[tuple[str, list[dict[str, Any]] | None]] = []

    async def handler(item: InboxItem) -> None:
        assert isinstance(item.event, MessagePosted)
        given.append((item.event.text, item.replies))

    inbox = make_inbox(bot, handler)
    await inbox.start()
    await inbox.idle()
    assert given == [("message 1", kept), ("message 2", None)]
    assert await stored(bot) == []
    await inbox.stop(1)


async def test_a_row_is_handled_by_one_process_and_taken_over_only_once_its_owner_is_gone(bot: PeerBot) -> None:
    """Two processes on one database (a deploy's old and new side by side): the new one
    leaves the rows the old one holds alone while its lease runs; once the old one has
    died (no renewal) and the lease has run out, the new one takes them over, in order."""
    assert isinstance(bot.clock, FrozenClock)
    old = make_inbox(bot, Recorder(), lease=0.3)
    await old.start(drain=False)  # holding them, not yet handling them
    for n in range(3):
        await old.put(said(n))
    record = Recorder()
    new = make_inbox(bot, record, lease=0.3)
    assert await new.start() == 0
    await asyncio.sleep(0.35)  # the new one has looked again (every 0.1 s) while the old one renews
    assert new.pending == 0 and record.seen == []
    assert {r.owner for r in await stored(bot)} == {old.owner}
    assert old._keeper is not None
    old._keeper.cancel()  # the old process dies: nothing renews its lease, nothing lets go
    bot.clock.advance(timedelta(seconds=1))
    await eventually(lambda: len(record.seen) == 3)
    await new.idle()
    assert record.seen == [("C1", "message 0"), ("C1", "message 1"), ("C1", "message 2")]
    assert await stored(bot) == []
    await new.stop(1)


async def test_a_process_that_stops_lets_go_and_a_running_one_takes_over_at_once(bot: PeerBot) -> None:
    old = make_inbox(bot, Recorder(), lease=0.3)
    await old.start(drain=False)
    await old.put(said(1, "C7"))
    record = Recorder()
    new = make_inbox(bot, record, lease=0.3)
    await new.start()
    await old.stop(0)  # what it had not handled is no longer its own: no lease to wait for
    [row] = await stored(bot)
    assert row.owner is None and row.lease_until is None
    await eventually(lambda: bool(record.seen))  # taken at its next look (0.1 s): no lease to run out
    assert record.seen == [("C7", "message 1")]
    await new.stop(1)


async def test_a_row_taken_over_by_another_process_is_not_claimed_by_its_first_owner(bot: PeerBot) -> None:
    first = make_inbox(bot, Recorder())
    await first.start(drain=False)
    await first.put(said(1))
    [row] = await stored(bot)
    async with bot.db.session() as session:  # another process took it over (this one seemed dead)
        await session.execute(text("UPDATE inbox SET owner = 'someone-else'"))
    assert await first._change("claim", row.id) is None
    assert (await stored(bot))[0].attempts == 0
    await first.stop(0)


async def test_an_idle_process_renews_and_takes_over_without_writing(bot: PeerBot) -> None:
    """Every third of the lease it looks; holding nothing and finding nothing to take, it
    only reads (on SQLite a write would take the database's one write lock every time)."""
    from sqlalchemy import event

    commits = 0

    def count(*_: Any) -> None:
        nonlocal commits
        commits += 1

    inbox = make_inbox(bot, Recorder(), lease=0.15)
    await inbox.start()
    event.listen(bot.db.engine.sync_engine, "commit", count)
    try:
        await asyncio.sleep(0.3)  # several looks
        assert commits == 0
        async with bot.db.session() as session:  # something left by a process that stopped
            session.add(
                InboxEvent(
                    network_id=bot.network_id,
                    platform="slack",
                    event_id="msg:C9:1",
                    conversation="slack:C9",
                    sender_id="U1",
                    event=event_to_json(said(1, "C9")),
                    context={},
                    received_at=bot.clock.now(),
                )
            )
        await eventually(lambda: inbox.handled == 1)
    finally:
        event.remove(bot.db.engine.sync_engine, "commit", count)
    await inbox.stop(1)
