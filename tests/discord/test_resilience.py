"""Disconnects, resumes, invalidated sessions and restarts: nothing that matters is lost,
nothing is handled twice, and start-up work is idempotent."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import discord
import pytest
from sqlalchemy import select

from bot.app import PeerBot
from bot.clock import FrozenClock
from bot.models import DiscordCursor, SeenEvent
from tests.discord.conftest import DSL, HEAD, PEER, SENCO, Running, World, start_adapter
from tests.support.discord_fake import FakeDiscord


async def handled(bot: PeerBot) -> set[str]:
    async with bot.db.session() as session:
        return set((await session.execute(select(SeenEvent.event_id))).scalars())


async def test_heartbeats_are_sent_and_acknowledged(running: Running, fake: FakeDiscord) -> None:
    await fake.wait_for(lambda: fake.heartbeats >= 1)
    assert running.adapter.client.latency < 1.0


async def test_a_dropped_connection_resumes_and_what_was_missed_is_handled_once(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    heads = world.channels["heads"]
    await fake.drop_connections()
    fake.post(world.dm(HEAD), world.uid(HEAD), "whoami")  # dispatched while the socket was down
    question = fake.post(heads, world.uid(HEAD), "question: flexible working requests for TAs?")
    await fake.wait_for(lambda: fake.resumes == 1)
    await running.settle()
    assert fake.identifies == 1  # resumed, not re-identified
    assert len(fake.dms_to(world.uid(HEAD))) == 1
    assert [t["id"] for t in fake.threads_of(heads)] == [question["id"]]
    assert len(fake.dms_to(world.uid(PEER))) == 1
    assert len(fake.calls_to("PUT", r"/applications/.*")) == 1


async def test_an_invalidated_session_reidentifies_and_catches_up_from_history_once(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    heads = world.channels["heads"]
    before = fake.post(heads, world.uid(HEAD), "question: first, seen live")
    await running.settle()
    await running.adapter.cursors.flush()
    await fake.invalidate_sessions()
    # Discord never delivers these to the dead session: only the history has them.
    missed = fake.post(heads, world.uid(HEAD), "question: asked while peerbot was away", dispatch=False)
    await fake.wait_for(lambda: fake.identifies == 2)
    await fake.wait_for(lambda: running.adapter.readies == 2 and running.caught_up())
    await running.settle()
    assert missed["id"] in await handled(running.bot)
    assert sorted(t["id"] for t in fake.threads_of(heads)) == sorted([before["id"], missed["id"]])
    assert len(fake.bot_messages(before["id"])) == 1  # the first question was not handled again
    assert len(fake.dms_to(world.uid(PEER))) == 2
    # on_ready ran twice; the commands were registered once.
    assert len(fake.calls_to("PUT", r"/applications/.*")) == 1


async def test_after_a_restart_missed_questions_are_handled_in_order_and_old_buttons_still_work(
    running: Running, dbot: PeerBot, fake: FakeDiscord, world: World
) -> None:
    heads, senco = world.channels["heads"], world.channels["senco"]
    fake.post(world.dm(HEAD), world.uid(HEAD), "choose 5")
    fake.post(heads, world.uid(HEAD), "just chatting before the restart")
    await running.settle()
    [offer] = fake.dms_to(world.uid(HEAD))
    await running.stop()
    assert fake.live_sessions() == 0

    first = fake.post(heads, world.uid(HEAD), "question: one", dispatch=False)
    second = fake.post(senco, world.uid(SENCO), "question: two", dispatch=False)
    third = fake.post(heads, world.uid(HEAD), "question: three", dispatch=False)
    again = await start_adapter(dbot, fake)
    try:
        await again.settle()
        threads = [t["id"] for t in fake.threads_of(heads)]
        assert threads == [first["id"], third["id"]]  # in the order they were asked
        assert [t["id"] for t in fake.threads_of(senco)] == [second["id"]]
        assert len(fake.calls_to("PUT", r"/applications/.*")) == 1  # commands already in place

        state = fake.interaction_by_id[fake.press(world.uid(HEAD), offer, "pb:t.yes:5")]
        await fake.wait_for(lambda: state["responses"])
        assert state["responses"][0]["data"]["content"] == "yes 5 from Priya Shah"
    finally:
        await again.stop()


async def test_the_first_start_does_not_replay_the_channels_history(
    dbot: PeerBot, fake: FakeDiscord, world: World
) -> None:
    old = fake.post(world.channels["heads"], world.uid(HEAD), "question: from before peerbot existed", dispatch=False)
    run = await start_adapter(dbot, fake)
    try:
        await run.settle()
        assert old["id"] not in await handled(dbot)
        await run.adapter.cursors.flush()
        async with dbot.db.session() as session:
            cursors = {
                r.channel_id: int(r.message_id) for r in (await session.execute(select(DiscordCursor))).scalars()
            }
        assert set(cursors) == set(world.channels.values())
        assert cursors[world.channels["heads"]] > int(old["id"])
    finally:
        await run.stop()


async def test_catching_up_looks_back_only_as_far_as_configured(
    database: object, clock: object, fake: FakeDiscord, world: World
) -> None:
    from tests.discord.conftest import open_bot

    bot = await open_bot(database, clock, world, catch_up="6h")  # type: ignore[arg-type]
    heads = world.channels["heads"]
    now = discord.utils.utcnow()
    async with bot.db.session() as session:
        session.add(
            DiscordCursor(
                network_id=bot.network_id,
                channel_id=heads,
                message_id=str(discord.utils.time_snowflake(now - timedelta(days=3))),
                updated_at=now,
            )
        )
    stale = fake.post(heads, world.uid(HEAD), "question: two days ago", at=now - timedelta(days=2), dispatch=False)
    recent = fake.post(heads, world.uid(HEAD), "question: an hour ago", at=now - timedelta(hours=1), dispatch=False)
    run = await start_adapter(bot, fake)
    try:
        await run.settle()
        seen = await handled(bot)
        assert recent["id"] in seen and stale["id"] not in seen
    finally:
        await run.stop()
        bot._stop.set()


async def test_someone_joining_the_server_is_welcomed_to_the_channels_they_can_see(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    fake.leave(world.uid(SENCO))
    await running.settle()
    fake.join("Hannah Cole", roles=[world.roles["senco"]], uid=world.uid(SENCO))
    await running.settle()
    [welcome] = fake.dms_to(world.uid(SENCO))
    assert welcome["content"].startswith("Welcome to the senco channel, Hannah!")


async def test_gaining_a_role_that_shows_a_groups_channel_is_a_join(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    member = fake.members[world.uid(SENCO)]
    member["roles"] = [*member["roles"], world.roles["heads"]]
    fake.dispatch("GUILD_MEMBER_UPDATE", {**member, "guild_id": fake.guild_id})
    await running.settle()
    [welcome] = fake.dms_to(world.uid(SENCO))
    assert welcome["content"].startswith("Welcome to the heads channel, Hannah!")


async def test_a_message_arriving_before_the_catch_up_does_not_hide_the_missed_ones(
    running: Running, dbot: PeerBot, fake: FakeDiscord, world: World
) -> None:
    heads = world.channels["heads"]
    fake.post(heads, world.uid(HEAD), "before the restart")
    await running.settle()
    await running.stop()
    missed = fake.post(heads, world.uid(HEAD), "question: asked while peerbot was down", dispatch=False)
    again = asyncio.create_task(start_adapter(dbot, fake, guild_ready_timeout=0.3))
    await fake.wait_for(lambda: fake.identifies == 2 and fake.live_sessions() == 1)
    live = fake.post(heads, world.uid(HEAD), "question: asked just as it came back")  # before on_ready
    run = await again
    try:
        await run.settle()
        seen = await handled(dbot)
        assert live["id"] in seen and missed["id"] in seen
        assert {t["id"] for t in fake.threads_of(heads)} == {live["id"], missed["id"]}
    finally:
        await run.stop()


async def test_answers_posted_in_a_thread_while_offline_are_caught_up(
    running: Running, dbot: PeerBot, fake: FakeDiscord, world: World
) -> None:
    dsl = world.channels["dsl"]
    question = fake.post(dsl, world.uid(DSL), "question: managing allegations against staff")
    await running.settle()
    await running.stop()
    answer = fake.post(question["id"], world.uid(DSL), "answer: call the LADO first", dispatch=False)
    again = await start_adapter(dbot, fake)
    try:
        await again.settle()
        assert answer["id"] in await handled(dbot)
        assert fake.bot_messages(question["id"])[-1]["content"] == (
            f"Noted your answer in the dsl thread {question['id']}."
        )
    finally:
        await again.stop()


async def test_dms_sent_while_offline_are_answered_after_a_restart_once(
    running: Running, dbot: PeerBot, fake: FakeDiscord, world: World
) -> None:
    dm = world.dm(HEAD)
    fake.post(dm, world.uid(HEAD), "whoami")
    await running.settle()
    await running.stop()
    missed = fake.post(dm, world.uid(HEAD), "network", dispatch=False)
    again = await start_adapter(dbot, fake)
    try:
        await again.settle()
        replies = [m["content"] for m in fake.dms_to(world.uid(HEAD))]
        assert len(replies) == 2 and "3 schools" in replies[1]
        assert missed["id"] in await handled(dbot)
    finally:
        await again.stop()


async def kept(bot: PeerBot, event_id: str) -> object:
    async with bot.db.session() as session:
        return (await session.execute(select(SeenEvent.replies).where(SeenEvent.event_id == event_id))).scalar_one()


async def test_a_reply_lost_to_a_crash_after_the_handling_is_sent_after_the_restart_once(
    running: Running, dbot: PeerBot, fake: FakeDiscord, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    dm = world.dm(HEAD)
    fake.post(dm, world.uid(HEAD), "whoami")
    await running.settle()  # the conversation is one peerbot reads back after a restart

    async def killed(*args: object, **kwargs: object) -> None:
        raise RuntimeError("killed between the handling's commit and its reply")

    monkeypatch.setattr(running.adapter.responder, "to_message", killed)
    asked = fake.post(dm, world.uid(HEAD), "network")
    await running.settle()
    await running.stop()
    assert len(fake.dms_to(world.uid(HEAD))) == 1  # handled (and committed), not answered
    assert asked["id"] in await handled(dbot) and await kept(dbot, asked["id"])
    again = await start_adapter(dbot, fake)
    try:
        await again.settle()
        replies = [m["content"] for m in fake.dms_to(world.uid(HEAD))]
        assert len(replies) == 2 and "3 schools" in replies[1]
    finally:
        await again.stop()
    assert await kept(dbot, asked["id"]) is None  # let go of once sent


async def never_saved() -> None:
    """The cursors' save, in a process killed before it saved them (and let go of the kept replies)."""


async def saved_then_never_again(running: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once what was posted so far is read, how far it was read is saved (not left to the
    timer); after that, nothing is saved again: the process is killed before its next save."""
    await running.settle()
    await running.adapter.cursors.flush()
    monkeypatch.setattr(running.adapter.cursors, "flush", never_saved)


async def test_replies_sent_just_before_a_crash_are_not_sent_again_after_the_restart(
    running: Running, dbot: PeerBot, fake: FakeDiscord, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    dm, heads = world.dm(HEAD), world.channels["heads"]
    fake.post(dm, world.uid(HEAD), "whoami")
    fake.post(heads, world.uid(HEAD), "hold: before the crash")
    await saved_then_never_again(running, monkeypatch)
    asked = fake.post(dm, world.uid(HEAD), "network")
    said = fake.post(heads, world.uid(HEAD), "hold: after the crash")
    await running.settle()
    await running.stop()
    assert len(fake.dms_to(world.uid(HEAD))) == 2 and len(fake.bot_messages(said["id"])) == 1
    fake.nonces.clear()  # long after: Discord's nonce window has passed
    again = await start_adapter(dbot, fake)
    try:
        await again.settle()
        assert again.adapter.core_handled >= 2  # both read back, and handed to the core again
        assert len(fake.dms_to(world.uid(HEAD))) == 2  # found where they went, not sent twice
        assert len(fake.bot_messages(said["id"])) == 1
    finally:
        await again.stop()
    assert await kept(dbot, asked["id"]) is None and await kept(dbot, said["id"]) is None


async def test_a_reply_queued_for_later_just_before_a_crash_is_sent_once_by_the_outbox(
    running: Running, dbot: PeerBot, fake: FakeDiscord, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    dm, uid = world.dm(HEAD), world.uid(HEAD)
    fake.post(dm, uid, "whoami")
    await saved_then_never_again(running, monkeypatch)
    # The reply meets a long rate limit, and so does the outbox's first go at it: it waits there.
    fake.rate_limit("POST", rf"/channels/{dm}/messages", retry_after=600, is_global=True, times=2)
    asked = fake.post(dm, uid, "network")
    await running.settle()
    await running.stop()
    assert len(fake.dms_to(uid)) == 1 and await kept(dbot, asked["id"])
    again = await start_adapter(dbot, fake)
    try:
        await again.settle()
        assert again.adapter.core_handled >= 1  # read back, and its kept reply handed over again
        fake.nonces.clear()  # the rate limit outlasts Discord's memory of the nonce
        clock = dbot.clock
        assert isinstance(clock, FrozenClock)
        clock.advance(timedelta(seconds=601))
        dbot.deliverer.wake()
        await again.settle()
        replies = [m["content"] for m in fake.dms_to(uid)]
        assert len(replies) == 2 and "3 schools" in replies[1]  # sent by the outbox, once
    finally:
        await again.stop()


async def test_shutting_down_stops_catching_up_between_messages_and_loses_none(
    running: Running, dbot: PeerBot, fake: FakeDiscord, world: World
) -> None:
    from tests.discord.handlers import Gate

    heads = world.channels["heads"]
    fake.post(heads, world.uid(HEAD), "before the restart")
    await running.settle()
    await running.stop()
    missed = [fake.post(heads, world.uid(HEAD), f"hold: {i}", dispatch=False) for i in range(3)]
    Gate.entered, Gate.release = asyncio.Event(), asyncio.Event()
    try:
        again = await start_adapter(dbot, fake, settle=False)
        await asyncio.wait_for(Gate.entered.wait(), 10)  # catching up: in the first missed message
        stopping = asyncio.create_task(again.stop())
        await fake.wait_for(lambda: again.adapter.intake.closing)
        Gate.release.set()
        await asyncio.wait_for(stopping, 30)
    finally:
        Gate.entered = Gate.release = None
    # The message in hand was finished and answered; the rest was left for next time.
    assert missed[0]["id"] in await handled(dbot)
    assert not {missed[1]["id"], missed[2]["id"]} & await handled(dbot)
    assert [m["content"] for m in fake.bot_messages(missed[0]["id"])] == ["handled hold: 0"]
    last = await start_adapter(dbot, fake)
    try:
        await last.settle()
        assert {m["id"] for m in missed} <= await handled(dbot)
        assert [m["content"] for m in fake.bot_messages(missed[2]["id"])] == ["handled hold: 2"]
        assert len(fake.bot_messages(missed[0]["id"])) == 1
    finally:
        await last.stop()


async def test_stopping_does_not_wait_on_a_cursor_save_that_hangs(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    fake.post(world.channels["heads"], world.uid(HEAD), "morning all")
    await running.settle()
    stuck = asyncio.Event()

    async def hanging_flush() -> None:
        await stuck.wait()  # a database that never answers

    running.adapter.cursors.flush = hanging_flush  # type: ignore[method-assign]
    running.adapter.flush_timeout = 0.05
    await asyncio.wait_for(running.adapter.stop(), 10)
    done, _ = await asyncio.wait({running.task}, timeout=10)  # a guard: it finishes at once
    assert running.task in done and not running.task.cancelled()
    assert fake.live_sessions() == 0


async def test_a_flood_beyond_the_queue_is_read_from_history_in_order_once(
    dbot: PeerBot, fake: FakeDiscord, world: World
) -> None:
    from tests.discord.handlers import Gate

    heads = world.channels["heads"]
    run = await start_adapter(dbot, fake, workers=1, queue_capacity=1)
    try:
        Gate.entered, Gate.release = asyncio.Event(), asyncio.Event()
        first = fake.post(heads, world.uid(HEAD), "hold: 0")
        await asyncio.wait_for(Gate.entered.wait(), 10)  # the only worker is busy
        Gate.entered = None
        flood = [fake.post(heads, world.uid(HEAD), f"hold: {i}") for i in range(1, 7)]
        await fake.wait_for(run.caught_up)
        assert run.adapter.intake.pending() <= 2  # one queued, one history read to come: bounded
        assert run.adapter.overflowed == 5
        Gate.release.set()
        await run.settle()
        posted = [first, *flood]
        assert {m["id"] for m in posted} <= await handled(dbot)
        assert [t["id"] for t in fake.threads_of(heads)] == [m["id"] for m in posted]  # in order
        assert all(len(fake.bot_messages(m["id"])) == 1 for m in posted)  # once each
        # Once read, the channel's messages are queued live again.
        late = fake.post(heads, world.uid(HEAD), "hold: late")
        await run.settle()
        assert late["id"] in await handled(dbot) and run.adapter.overflowed == 5
    finally:
        Gate.entered = Gate.release = None
        await run.stop()


async def test_a_restart_reads_back_only_the_recent_dm_conversations(
    dbot: PeerBot, fake: FakeDiscord, world: World
) -> None:
    from adapters.discord.adapter import DM_CATCH_UP_MOST

    now = discord.utils.utcnow()
    recent = [str(9_000_000 + i) for i in range(DM_CATCH_UP_MOST + 20)]  # DM channels, newest last
    old = "8999999"
    async with dbot.db.session() as session:
        for i, cid in enumerate(recent):
            at = now - timedelta(days=20) + timedelta(minutes=i)
            session.add(
                DiscordCursor(
                    network_id=dbot.network_id,
                    channel_id=f"dm:{cid}",
                    message_id=str(discord.utils.time_snowflake(at)),
                    updated_at=now,
                )
            )
        session.add(
            DiscordCursor(
                network_id=dbot.network_id,
                channel_id=f"dm:{old}",
                message_id=str(discord.utils.time_snowflake(now - timedelta(days=40))),
                updated_at=now,
            )
        )
    run = await start_adapter(dbot, fake)
    try:
        await run.settle()
        read = {c.path.split("/")[2] for c in fake.calls_to("GET", r"/channels/\d+/messages")}
        assert read & set(recent) == set(recent[-DM_CATCH_UP_MOST:])  # the most recently active ones
        assert old not in read
    finally:
        await run.stop()


async def test_discord_asking_for_a_reconnect_resumes_and_loses_nothing(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    heads = world.channels["heads"]
    await fake.request_reconnect()  # op 7
    question = fake.post(heads, world.uid(HEAD), "question: whole-school approaches to oracy?")
    await fake.wait_for(lambda: fake.resumes == 1 and fake.live_sessions() == 1)
    await running.settle()
    assert fake.identifies == 1  # resumed, not a new session
    assert [t["id"] for t in fake.threads_of(heads)] == [question["id"]]
    assert len(fake.bot_messages(question["id"])) == 1 and len(fake.dms_to(world.uid(PEER))) == 1


async def test_chatter_waits_behind_what_is_queued_and_a_run_of_it_takes_one_place(
    dbot: PeerBot, fake: FakeDiscord, world: World
) -> None:
    from tests.discord.handlers import Gate

    heads = int(world.channels["heads"])
    run = await start_adapter(dbot, fake, workers=1, queue_capacity=3)
    adapter = run.adapter
    try:
        Gate.entered, Gate.release = asyncio.Event(), asyncio.Event()
        held = fake.post(str(heads), world.uid(HEAD), "hold: 0")
        await asyncio.wait_for(Gate.entered.wait(), 10)  # the only worker is busy with it
        Gate.entered = None
        chatter = [fake.post(str(heads), world.uid(HEAD), f"morning all {i}") for i in range(50)]
        await fake.wait_for(run.caught_up)
        assert adapter.intake.pending() == 1 and adapter.overflowed == 0  # fifty in one place
        after = fake.post(str(heads), world.uid(HEAD), "hold: 1")
        more = [fake.post(str(heads), world.uid(SENCO), f"lovely weather {i}") for i in range(3)]
        await fake.wait_for(run.caught_up)
        assert adapter.intake.pending() == 3  # chatter, the second hold, chatter
        # Nothing moves the channel's cursor past the message still being handled.
        assert (adapter.cursors.get(heads) or 0) < int(held["id"])
        Gate.release.set()
        await run.settle()
        assert adapter.cursors.get(heads) == int(more[-1]["id"])
        assert adapter.passed_over == 53 and adapter.core_handled == 2 and adapter.overflowed == 0
        assert {held["id"], after["id"]} <= await handled(dbot)
        assert not {m["id"] for m in chatter + more} & await handled(dbot)
        assert [m["content"] for m in fake.bot_messages()] == ["handled hold: 0", "handled hold: 1"]
    finally:
        Gate.entered = Gate.release = None
        await run.stop()
    # A restart reads on from after the last chatter: nothing again.
    again = await start_adapter(dbot, fake)
    try:
        await again.settle()
        assert again.adapter.core_handled == 0 and len(fake.bot_messages()) == 2
    finally:
        await again.stop()


async def test_files_of_a_message_read_again_after_a_restart_are_not_downloaded_again(
    running: Running, dbot: PeerBot, fake: FakeDiscord, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    dm, uid = world.dm(HEAD), world.uid(HEAD)
    fake.post(dm, uid, "files")
    await saved_then_never_again(running, monkeypatch)
    fake.post(dm, uid, "files", attachments=[("notes.md", b"# Notes\n", "text/markdown")])
    await running.settle()
    await running.stop()
    assert [m["content"] for m in fake.dms_to(uid)] == ["no files", "files: notes.md (8 bytes)"]
    downloads = [c for c in fake.calls if "notes.md" in c.path]
    assert len(downloads) == 1
    again = await start_adapter(dbot, fake)
    try:
        await again.settle()
        assert again.adapter.core_handled >= 1  # read back and handed to the core again: a repeat
        assert [c for c in fake.calls if "notes.md" in c.path] == downloads  # not fetched again
        assert [m["content"] for m in fake.dms_to(uid)] == ["no files", "files: notes.md (8 bytes)"]
    finally:
        await again.stop()
