"""The inbox behind Slack's acknowledgements: an event Slack was told we have is handled,
once, even if the process dies first; a retry of a waiting event is kept once; when the
event cannot be kept, Slack is not acknowledged (and sends it again)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, text

from bot.clock import FrozenClock
from bot.events import event_from_json
from bot.inbox import InboxUnavailable
from bot.models import InboxEvent, SeenEvent
from tests.slack.conftest import HEAD, running
from tests.slack.harness import CHANNELS, SlackHarness, manual_throttle
from tests.support.slack import BOT_USER


async def inbox_rows(slack: SlackHarness) -> list[dict[str, Any]]:
    async with slack.bot.db.session() as session:
        rows = (await session.execute(select(InboxEvent).order_by(InboxEvent.id))).scalars()
        return [{c.name: getattr(r, c.name) for c in InboxEvent.__table__.columns if c.name != "id"} for r in rows]


async def hold_the_drainer(slack: SlackHarness) -> None:
    """Events are kept and acknowledged, nothing handles them (as in the moment before a crash)."""
    await slack.adapter.inbox.stop(0)
    await slack.adapter.inbox.start(drain=False)


def bot_texts(slack: SlackHarness, channel: str) -> list[str]:
    return [m.text for m in slack.fake.posted(channel) if m.user == BOT_USER]


async def test_an_acknowledged_event_survives_a_crash_and_is_handled_once(slack: SlackHarness) -> None:
    await hold_the_drainer(slack)
    heads = CHANNELS["heads"]
    question, ts = await slack.message(HEAD, "Q: how do you run phonics catch-up?", where="heads", event_id="Ev0Q1")
    command = await slack.command(HEAD, "whoami")
    assert (question.status, command.status, command.text) == (200, 200, "")
    assert len(await inbox_rows(slack)) == 2
    await slack.adapter.stop()  # the process ends with both acknowledged and neither handled
    assert slack.fake.ephemerals == [] and slack.fake.responses == [] and bot_texts(slack, heads) == []

    after = await running(slack.bot, slack.fake)  # the next start, on the same database
    try:
        await after.settle()
        # Slack retries the question (its first delivery timed out): dropped as a repeat.
        retry, _ = await after.message(
            HEAD, "Q: how do you run phonics catch-up?", where="heads", event_id="Ev0Q1", ts=ts, retry=1
        )
        assert retry.status == 200
        await after.settle()
        assert bot_texts(after, heads) == [
            "Thanks — I'll find someone.",
            "Follow-up about: Q: how do you run phonics catch-up?",
        ]
        [note] = after.fake.ephemerals  # the immediate private reply still reaches them, once
        assert note["text"] == "Only you can see this: noted in heads."
        [whoami] = after.fake.responses  # through the command's response_url
        assert whoami["text"].startswith("You are Priya Shah")
        assert await inbox_rows(after) == []
    finally:
        await after.close()
        await after.adapter.stop()


async def handle_and_die(slack: SlackHarness) -> None:
    """Each waiting event handled by the core, in its own transaction, as the drainer would;
    then the process dies before any immediate reply has gone."""
    async with slack.bot.db.session() as session:
        rows = (await session.execute(select(InboxEvent).order_by(InboxEvent.id))).scalars().all()
    for row in rows:
        assert await slack.bot.handle(event_from_json(row.event), inbox_row=row.id)  # replies made...
    await slack.adapter.stop()  # ...and never sent


async def test_replies_made_before_a_crash_are_sent_after_the_restart_once(slack: SlackHarness) -> None:
    await hold_the_drainer(slack)
    await slack.message(HEAD, "shout once", where="heads", mention=True, event_id="Ev0K1")
    await slack.command(HEAD, "whoami")
    await handle_and_die(slack)
    assert bot_texts(slack, CHANNELS["heads"]) == [] and slack.fake.responses == []
    kept = await inbox_rows(slack)
    assert [len(r["replies"]) for r in kept] == [1, 1]  # in the handling's own transaction

    after = await running(slack.bot, slack.fake)
    try:
        await after.settle()
        # Not lost, although the events themselves are not handled again (seen_events).
        assert bot_texts(after, CHANNELS["heads"]) == ["shout once"]
        [whoami] = after.fake.responses  # through the command's response_url, as it would have
        assert whoami["text"].startswith("You are Priya Shah") and whoami["response_type"] == "ephemeral"
        assert await inbox_rows(after) == []
        async with after.bot.db.session() as session:
            assert (await session.execute(select(func.count()).select_from(SeenEvent))).scalar_one() == 2
    finally:
        await after.close()
        await after.adapter.stop()


async def die_before_deletes(slack: SlackHarness) -> None:
    """Restart the drainer so that the process dies once an event is handled and answered,
    before its row's delete (the row stays, with its kept replies)."""
    inbox = slack.adapter.inbox
    await inbox.stop(0)
    real_change = inbox._change

    async def no_delete(kind: str, row_id: int) -> Any:
        if kind == "delete":
            raise InboxUnavailable("died")
        return await real_change(kind, row_id)

    inbox._change = no_delete  # type: ignore[method-assign]
    await inbox.start()


async def test_a_crash_between_replying_and_removal_sends_nothing_twice(slack: SlackHarness) -> None:
    await hold_the_drainer(slack)
    await slack.message(HEAD, "shout once", where="heads", mention=True)
    await die_before_deletes(slack)  # the process dies once the reply has gone
    await slack.settle()
    assert bot_texts(slack, CHANNELS["heads"]) == ["shout once"]
    [row] = await inbox_rows(slack)
    assert row["replies"] is not None  # kept, and already sent
    await slack.adapter.stop()
    after = await running(slack.bot, slack.fake)
    try:
        await after.settle()
        # Found in the channel by its key (message metadata), not posted again.
        assert bot_texts(after, CHANNELS["heads"]) == ["shout once"]
        assert await inbox_rows(after) == []
    finally:
        await after.close()
        await after.adapter.stop()


async def test_a_reply_handed_to_the_outbox_before_a_crash_is_sent_once_by_the_outbox(slack: SlackHarness) -> None:
    manual_throttle(slack)
    # The reply meets a long rate limit, and so does the outbox's first go at it: it waits there.
    slack.fake.rate_limit("chat.postMessage", retry_after=60, times=2)
    await die_before_deletes(slack)  # the process dies once the reply was handed over
    await slack.message(HEAD, "shout once", where="heads", mention=True)
    await slack.settle()
    [row] = await inbox_rows(slack)
    assert row["replies"] is not None and not [m for m in slack.fake.messages if m.user == BOT_USER]
    await slack.adapter.stop()
    after = await running(slack.bot, slack.fake)
    try:
        await after.settle()  # the kept reply is the outbox's to send: not sent here as well
        clock = after.bot.clock
        assert isinstance(clock, FrozenClock)
        clock.advance(timedelta(seconds=61))
        await after.bot.deliverer.drain()
        sent = [(m.channel, m.text) for m in after.fake.messages if m.user == BOT_USER]
        assert sent == [(after.fake.dm_channel(after.uid(HEAD)), "shout once")]  # once, by the outbox
        assert await inbox_rows(after) == []
    finally:
        await after.close()
        await after.adapter.stop()


async def test_a_retry_of_a_waiting_event_is_kept_once(slack: SlackHarness) -> None:
    await hold_the_drainer(slack)
    _, ts = await slack.message(HEAD, "shout hello", where="heads", mention=True, event_id="Ev0R1")
    for n in (1, 2):  # Slack's retries while the first is still waiting
        answer, _ = await slack.message(
            HEAD, "shout hello", where="heads", mention=True, event_id="Ev0R1", ts=ts, retry=n
        )
        assert answer.status == 200
    # The app_mention event Slack sends beside the message event is the same message.
    await slack.message(HEAD, "shout hello", where="heads", mention=True, event_id="Ev0R2", ts=ts)
    assert len(await inbox_rows(slack)) == 1 and slack.adapter.inbox.repeats == 3
    await slack.adapter.inbox.stop(0)
    await slack.adapter.inbox.start()
    await slack.settle()
    assert bot_texts(slack, CHANNELS["heads"]) == ["shout hello"]


async def test_when_the_event_cannot_be_written_slack_is_not_acknowledged(slack: SlackHarness) -> None:
    async with slack.bot.db.session() as session:
        await session.execute(text("ALTER TABLE inbox RENAME TO inbox_away"))
    answer, ts = await slack.message(HEAD, "whoami", event_id="Ev0DB1")
    assert answer.status == 503  # Slack sends it again
    command = await slack.command(HEAD, "whoami")
    assert command.status == 200 and command.text.startswith("Sorry — I couldn't take that just now")
    async with slack.bot.db.session() as session:
        await session.execute(text("ALTER TABLE inbox_away RENAME TO inbox"))
        assert (await session.execute(select(func.count()).select_from(SeenEvent))).scalar_one() == 0
    answer, _ = await slack.message(HEAD, "whoami", event_id="Ev0DB1", ts=ts, retry=1)
    assert answer.status == 200
    await slack.settle()
    assert len(bot_texts(slack, slack.fake.dm_channel(slack.uid(HEAD)))) == 1


async def test_past_the_backlog_limit_events_get_503_and_nothing_is_kept(slack: SlackHarness) -> None:
    await hold_the_drainer(slack)
    slack.adapter.inbox.limit = 3
    statuses = [(await slack.message(HEAD, f"shout {n}", where="heads", mention=True))[0].status for n in range(5)]
    assert statuses == [200, 200, 200, 503, 503]
    assert len(await inbox_rows(slack)) == 3


async def test_events_in_one_channel_are_handled_in_the_order_received(slack: SlackHarness) -> None:
    manual_throttle(slack)  # Slack's pacing of public messages costs no real time here
    await hold_the_drainer(slack)
    for n in range(12):
        await slack.message(HEAD, f"shout {n}", where="heads", mention=True)
        await slack.message(HEAD, f"shout {n}", where="sbm", mention=True)
    await slack.adapter.inbox.stop(0)
    await slack.adapter.inbox.start()  # eight workers, two channels
    await slack.settle()
    for channel in ("heads", "sbm"):
        assert bot_texts(slack, CHANNELS[channel]) == [f"shout {n}" for n in range(12)]


async def test_an_event_that_keeps_failing_is_dropped_and_the_person_told(slack: SlackHarness) -> None:
    from adapters.slack.app import GAVE_UP

    await hold_the_drainer(slack)
    await slack.command(HEAD, "whoami")
    await slack.adapter.stop()
    async with slack.bot.db.session() as session:  # five runs died while handling it
        await session.execute(text("UPDATE inbox SET attempts = 5"))
    after = await running(slack.bot, slack.fake)
    try:
        await after.settle()
        assert [r["text"] for r in after.fake.responses] == [GAVE_UP]  # privately, where they asked
        assert after.fake.responses[0]["response_type"] == "ephemeral"
        assert after.adapter.inbox.dropped == 1 and await inbox_rows(after) == []
    finally:
        await after.close()
        await after.adapter.stop()


async def test_chatter_is_acknowledged_without_being_kept(slack: SlackHarness) -> None:
    await hold_the_drainer(slack)
    chatter, _ = await slack.message(HEAD, "morning all", where="heads", event_id="Ev0CHAT")
    question, _ = await slack.message(HEAD, "Q: how do you run phonics catch-up?", where="heads", event_id="Ev0Q2")
    assert (chatter.status, question.status) == (200, 200)
    [kept] = await inbox_rows(slack)  # only what the core wants
    assert "phonics" in kept["event"]["text"] and "morning" not in str(kept)


async def test_a_press_on_an_ephemeral_message_handled_before_a_crash_still_edits_it_in_place(
    slack: SlackHarness,
) -> None:
    await slack.command(HEAD, "announce heads")
    await slack.settle()
    [poll] = [m for m in slack.fake.messages if m.user == BOT_USER and m.text.startswith("Meeting")]
    await hold_the_drainer(slack)
    payload = slack.press_payload(HEAD, poll, "test.vote", ephemeral=True)
    payload["actions"][0]["action_id"] = "test.take:0"
    await slack.deliver("interactive", payload)
    await handle_and_die(slack)  # the edit is queued in the outbox, the process gone
    after = await running(slack.bot, slack.fake)
    try:
        await after.settle()
        # The kept reply's response_url is known again: the edit replaces the ephemeral
        # message through it (chat.update cannot edit one).
        assert [r["text"] for r in after.fake.responses if r.get("replace_original")] == ["Taken by Priya Shah."]
        assert after.fake.called("chat.update") == []
    finally:
        await after.close()
        await after.adapter.stop()


async def test_files_are_fetched_once_though_their_event_is_handled_again_after_a_crash(slack: SlackHarness) -> None:
    await die_before_deletes(slack)  # the process dies once the event is handled and answered
    notes = slack.fake.host_file("notes.md", b"# Notes\n\nOnce.", mimetype="text/markdown")
    await slack.message(HEAD, "kb policy", files=[notes])
    await slack.settle()
    dm = slack.fake.dm_channel(slack.uid(HEAD)) or ""
    assert bot_texts(slack, dm) == ["kb [policy] files [notes.md=14:b'# Notes\\n\\nOnc']"]
    assert len(slack.fake.called("files.download")) == 1
    await slack.adapter.stop()
    after = await running(slack.bot, slack.fake)
    try:
        await after.settle()  # the row is handled again: a repeat, answered from what was kept
        assert len(after.fake.called("files.download")) == 1  # not fetched a second time
        assert bot_texts(after, dm) == ["kb [policy] files [notes.md=14:b'# Notes\\n\\nOnc']"]
        assert await inbox_rows(after) == []
    finally:
        await after.close()
        await after.adapter.stop()
