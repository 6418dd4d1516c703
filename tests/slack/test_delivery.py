"""Retries, rate limits, crashes and refusals: nothing lost, nothing twice."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from adapters.slack import api
from adapters.slack.api import Throttle
from adapters.slack.transport import OUTBOX_EVENT_TYPE
from bot.clock import FrozenClock
from bot.delivery import Address, PermanentError, RateLimited, TransientError
from bot.events import MessageRef
from bot.models import OutboxMessage
from bot.network import store
from bot.replies import Message, OutgoingFile, ToGroup, ToPerson
from tests.slack.conftest import HEAD, PEER, running
from tests.slack.harness import CHANNELS, SlackHarness, fixture, manual_throttle
from tests.support.slack import BOT_USER, MANIFEST_SCOPES
from tests.support.waiting import eventually


async def rows(slack: SlackHarness) -> list[OutboxMessage]:
    async with slack.bot.db.session() as session:
        return list((await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())


async def queue_dm(slack: SlackHarness, email: str, text: str, key: str, **kw: object) -> None:
    async with slack.bot.db.session() as session:
        person = await store.person_by_email(session, slack.bot.network_id, email)
        assert person is not None
        await slack.bot.queue(session, ToPerson(person.id), Message(text=text, **kw), key=key)  # type: ignore[arg-type]


def clock(slack: SlackHarness) -> FrozenClock:
    assert isinstance(slack.bot.clock, FrozenClock)
    return slack.bot.clock


def posts(slack: SlackHarness, text: str) -> list[object]:
    return [m for m in slack.fake.messages if m.user == BOT_USER and m.text == text]


async def test_a_retried_event_is_processed_once(slack: SlackHarness) -> None:
    answer, ts = await slack.message(HEAD, "whoami", event_id="Ev0RETRY01")
    await slack.settle()
    again, _ = await slack.message(HEAD, "whoami", event_id="Ev0RETRY01", ts=ts, retry=1)
    third, _ = await slack.message(HEAD, "whoami", event_id="Ev0RETRY01", ts=ts, retry=2)
    await slack.settle()
    assert (answer.status, again.status, third.status) == (200, 200, 200)
    assert len(slack.fake.called("chat.postMessage")) == 1


async def test_a_retry_racing_the_first_delivery_is_processed_once(slack: SlackHarness) -> None:
    _, ts = await slack.message(HEAD, "Q: racing", where="heads", event_id="Ev0RACE001")
    await slack.message(HEAD, "Q: racing", where="heads", event_id="Ev0RACE001", ts=ts, retry=1)
    await slack.settle()
    assert len(posts(slack, "Thanks — I'll find someone.")) == 1


async def test_a_mention_arriving_as_message_and_app_mention_is_handled_once(slack: SlackHarness) -> None:
    _, ts = await slack.message(HEAD, "shout once", where="heads", mention=True, event_id="Ev0MSG0001")
    answer = await slack.event(
        "event_app_mention",
        USER=slack.uid(HEAD),
        CHANNEL=CHANNELS["heads"],
        TEXT=f"<@{BOT_USER}> shout once",
        TS=ts,
        EVENT_ID="Ev0MENTION1",
    )
    assert answer.status == 200
    await slack.settle()
    assert len(posts(slack, "shout once")) == 1


async def test_a_429_on_an_outbox_message_waits_retry_after_and_sends_once(slack: SlackHarness) -> None:
    time_ = manual_throttle(slack)
    slack.fake.rate_limit("chat.postMessage", retry_after=30)
    await queue_dm(slack, PEER, "Can you help?", "r:1")
    await slack.bot.deliverer.drain()
    [row] = await rows(slack)
    assert row.status == "pending" and row.attempts == 0
    assert row.not_before == clock(slack).now() + timedelta(seconds=30)
    assert "rate limit" in (row.last_error or "")
    # Our side keeps the pause too: an early retry does not even call Slack.
    calls = len(slack.fake.called("chat.postMessage"))
    clock(slack).advance(timedelta(seconds=31))
    time_.now += 10
    await slack.bot.deliverer.drain()
    [row] = await rows(slack)
    assert row.status == "pending" and len(slack.fake.called("chat.postMessage")) == calls
    clock(slack).advance(timedelta(seconds=31))
    time_.now += 30
    await slack.bot.deliverer.drain()
    [row] = await rows(slack)
    assert row.status == "sent" and len(posts(slack, "Can you help?")) == 1


async def test_a_429_on_an_immediate_reply_is_retried_after_retry_after(slack: SlackHarness) -> None:
    time_ = manual_throttle(slack)
    slack.fake.rate_limit("chat.postEphemeral", retry_after=4, times=2)
    await slack.message(HEAD, "whoami", where="heads", mention=True)
    await slack.settle()
    assert time_.slept == [4.0, 4.0]
    assert len(slack.fake.called("chat.postEphemeral")) == 3 and len(slack.fake.ephemerals) == 1


async def test_an_immediate_reply_slack_will_not_take_now_goes_later_by_dm(slack: SlackHarness) -> None:
    manual_throttle(slack)
    slack.fake.rate_limit("chat.postEphemeral", retry_after=60)  # longer than a reply may wait
    await slack.message(HEAD, "whoami", where="heads", mention=True)
    await slack.settle()
    assert slack.fake.ephemerals == []
    [row] = await rows(slack)
    assert row.key.startswith("slack:reply:") and row.status == "sent"
    [sent] = [m for m in slack.fake.messages if m.user == BOT_USER]
    assert sent.channel == slack.fake.dm_channel(slack.uid(HEAD)) and sent.text.startswith("You are Priya Shah")


async def test_a_burst_of_replies_beyond_the_rate_limit_loses_none(
    slack: SlackHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    manual_throttle(slack)  # Slack's clock stands still: only the burst allowance goes at once
    monkeypatch.setattr(api, "INTERACTIVE_MAX_WAIT", 3.0)  # chat.postEphemeral: 10 at once, then 5 within 3s
    await asyncio.gather(*(slack.message(HEAD, "whoami", where="heads", mention=True) for _ in range(20)))
    await slack.settle()
    assert len(slack.fake.ephemerals) == 15
    later = [r for r in await rows(slack) if r.key.startswith("slack:reply:")]
    assert len(later) == 5 and {r.status for r in later} == {"sent"}
    dms = [m for m in slack.fake.messages if m.user == BOT_USER]
    assert len(dms) == 5 and all(m.text.startswith("You are Priya Shah") for m in dms)


async def test_a_public_reply_that_cannot_go_now_goes_later_in_its_thread(slack: SlackHarness) -> None:
    manual_throttle(slack)
    slack.fake.rate_limit("chat.postMessage", retry_after=60)
    _, ts = await slack.message(HEAD, "Q: who runs a good phonics catch-up?", where="heads")
    await slack.settle()
    [later] = [r for r in await rows(slack) if r.key.startswith("slack:reply:")]
    assert later.status == "pending" and later.target["kind"] == "thread"
    clock(slack).advance(timedelta(seconds=61))
    slack.adapter.api.throttle = Throttle()
    await slack.bot.deliverer.drain()
    [thanks] = posts(slack, "Thanks — I'll find someone.")
    assert thanks.channel == CHANNELS["heads"] and thanks.thread_ts == ts  # type: ignore[attr-defined]


async def test_a_crash_after_slack_accepted_does_not_send_twice(slack: SlackHarness) -> None:
    await queue_dm(slack, PEER, "Can you help?", "r:crash")
    await slack.bot.deliverer.drain()
    [row] = await rows(slack)
    assert row.status == "sent"
    # The process died after Slack accepted the message but before the row was marked sent:
    async with slack.bot.db.session() as session:
        stored = await session.get(OutboxMessage, row.id)
        assert stored is not None
        stored.status, stored.lease_until, stored.sent_at = "sending", clock(slack).now() - timedelta(seconds=1), None
    await slack.bot.deliverer.drain()
    [row] = await rows(slack)
    assert row.status == "sent" and row.attempts == 2
    [message] = posts(slack, "Can you help?")
    assert row.message_ref is not None and row.message_ref["message_id"] == message.ts  # type: ignore[attr-defined]
    [history] = slack.fake.called("conversations.history")
    assert history.args["include_all_metadata"] == "true"


async def test_a_retried_thread_reply_is_found_in_its_thread(slack: SlackHarness) -> None:
    transport = slack.adapter.transport
    root = slack.fake.add_message(CHANNELS["heads"], slack.uid(HEAD), "Q: root")
    address = Address(platform="slack", kind="thread", channel_id=CHANNELS["heads"], thread_id=root.ts)
    first = await transport.send(address, Message(text="answer"), key="t:1", attempt=1)
    again = await transport.send(address, Message(text="answer"), key="t:1", attempt=2)
    assert first == again and len(posts(slack, "answer")) == 1
    assert slack.fake.called("conversations.replies")[0].args["ts"] == root.ts


async def test_a_retry_whose_history_cannot_be_read_is_sent_rather_than_lost(slack: SlackHarness) -> None:
    transport = slack.adapter.transport
    address = Address(platform="slack", kind="channel", channel_id=CHANNELS["heads"])
    slack.fake.fail("conversations.history", "internal_error")
    await transport.send(address, Message(text="once at least"), key="h:1", attempt=2)
    assert len(posts(slack, "once at least")) == 1 and slack.fake.called("conversations.history")


async def test_a_retry_finds_the_message_and_sends_only_the_missing_file(slack: SlackHarness) -> None:
    transport = slack.adapter.transport
    address = Address(platform="slack", kind="channel", channel_id=CHANNELS["heads"])
    files = (OutgoingFile(name="a.ics", data=b"A"), OutgoingFile(name="b.csv", data=b"B"))
    slack.fake.fail("files.completeUploadExternal", "internal_error")
    try:
        await transport.send(address, Message(text="with files", files=files), key="f:1", attempt=1)
    except TransientError:
        pass
    else:
        raise AssertionError("the upload failure should be transient")
    await transport.send(address, Message(text="with files", files=files), key="f:1", attempt=2)
    assert len(posts(slack, "with files")) == 1
    shared = [u["name"] for u in slack.fake.uploads.values() if u["shared"]]
    assert sorted(shared) == ["a.ics", "b.csv"]
    await transport.send(address, Message(text="with files", files=files), key="f:1", attempt=3)
    assert len([u for u in slack.fake.uploads.values() if u["shared"]]) == 2


async def test_metadata_carries_the_outbox_key(slack: SlackHarness) -> None:
    await queue_dm(slack, PEER, "Keyed", "key:42")
    await slack.bot.deliverer.drain()
    [message] = posts(slack, "Keyed")
    assert message.metadata == {"event_type": OUTBOX_EVENT_TYPE, "event_payload": {"key": "key:42"}}  # type: ignore[attr-defined]


async def test_an_archived_channel_fails_permanently_with_a_reason_for_the_convenor(slack: SlackHarness) -> None:
    slack.fake.channels[CHANNELS["sbm"]].is_archived = True
    async with slack.bot.db.session() as session:
        await slack.bot.queue(session, ToGroup("sbm"), Message(text="Contracts"), key="g:1")
    await slack.bot.deliverer.drain()
    [row] = await rows(slack)
    assert row.status == "failed" and row.last_error == "the Slack channel is archived"


async def test_a_deactivated_person_is_reached_in_the_fallback_thread(slack: SlackHarness) -> None:
    slack.fake.users[slack.uid(PEER)]["deleted"] = True
    root = slack.fake.add_message(CHANNELS["heads"], slack.uid(HEAD), "Q: who knows?")
    fallback = MessageRef(platform="slack", channel_id=CHANNELS["heads"], message_id=root.ts)
    async with slack.bot.db.session() as session:
        person = await store.person_by_email(session, slack.bot.network_id, PEER)
        assert person is not None
        await slack.bot.queue(session, ToPerson(person.id, fallback), Message(text="Can you help?"), key="fb:1")
    await slack.bot.deliverer.drain()
    [row] = await rows(slack)
    assert row.status == "sent"
    [message] = [m for m in slack.fake.messages if m.user == BOT_USER]
    assert message.channel == CHANNELS["heads"] and message.thread_ts == root.ts
    assert message.blocks[0]["text"]["text"] == f"<@{slack.uid(PEER)}> Can you help?"


async def test_a_deactivated_person_without_fallback_fails_with_a_reason(slack: SlackHarness) -> None:
    slack.fake.users[slack.uid(PEER)]["deleted"] = True
    await queue_dm(slack, PEER, "Hello", "d:1")
    await slack.bot.deliverer.drain()
    [row] = await rows(slack)
    assert row.status == "failed" and row.last_error == "that person's Slack account has been deactivated"


async def test_slack_errors_on_its_side_are_retried_with_back_off(slack: SlackHarness) -> None:
    slack.fake.fail("chat.postMessage", "internal_error", status=500)
    await queue_dm(slack, PEER, "Later", "t:500")
    await slack.bot.deliverer.drain()
    [row] = await rows(slack)
    assert row.status == "pending" and row.attempts == 1 and "internal_error" in (row.last_error or "")
    clock(slack).advance(timedelta(seconds=6))
    await slack.bot.deliverer.drain()
    [row] = await rows(slack)
    assert row.status == "sent" and len(posts(slack, "Later")) == 1


async def test_a_revoked_token_makes_messages_wait_without_hammering_slack(slack: SlackHarness) -> None:
    slack.fake.revoked = "token_revoked"
    for n in range(3):
        await queue_dm(slack, PEER, f"Waiting {n}", f"w:{n}")
    await slack.bot.deliverer.drain()
    waiting = await rows(slack)
    assert [r.status for r in waiting] == ["pending"] * 3 and all(r.attempts == 0 for r in waiting)
    assert all("Slack refused the bot token (token_revoked)" in (r.last_error or "") for r in waiting)
    assert all(r.not_before >= clock(slack).now() + timedelta(seconds=59) for r in waiting)
    assert slack.adapter.access.problem == "token_revoked"
    calls = len(slack.fake.calls)
    clock(slack).advance(timedelta(minutes=2))
    await slack.bot.deliverer.drain()
    assert len(slack.fake.calls) == calls  # the retries waited without calling Slack
    assert [r.status for r in await rows(slack)] == ["pending"] * 3
    watcher = slack.adapter._watcher
    assert watcher is not None and not watcher.done()  # re-checking the token, patiently
    # The convenor reinstalls the app; the adapter notices and the held messages go at once.
    slack.fake.revoked = None
    assert await slack.adapter.refresh_identity()
    await asyncio.gather(*slack.adapter._chores)
    await slack.bot.deliverer.drain()
    assert [r.status for r in await rows(slack)] == ["sent"] * 3


async def test_tokens_revoked_event_is_noted_and_the_adapter_keeps_running(slack: SlackHarness) -> None:
    answer = await slack.event("event_tokens_revoked")
    assert answer.status == 200
    assert slack.adapter.access.problem == "tokens_revoked"
    watcher = slack.adapter._watcher
    assert watcher is not None and not watcher.done()


async def test_another_bots_revoked_token_changes_nothing(slack: SlackHarness) -> None:
    payload = fixture("event_tokens_revoked", EVENT_ID="Ev0OTHER01", TS=slack.fake.next_ts())
    payload["event"]["tokens"] = {"oauth": ["U0SOMEONE1"], "bot": ["U0OTHERBOT"]}  # another app's bot user
    answer = await slack.deliver("events_api", payload)
    assert answer.status == 200
    assert slack.adapter.access.problem is None and slack.adapter._watcher is None
    await queue_dm(slack, PEER, "Still flowing", "other:1")
    await slack.bot.deliverer.drain()
    [row] = await rows(slack)
    assert row.status == "sent" and len(posts(slack, "Still flowing")) == 1


async def test_a_missing_scope_waits_for_a_reinstall_rather_than_failing(slack: SlackHarness) -> None:
    slack.fake.scopes = ",".join(sorted(slack.fake.granted - {"chat:write"}))  # installed before chat:write
    async with slack.bot.db.session() as session:
        await slack.bot.queue(session, ToGroup("heads"), Message(text="Agenda"), key="s:1")
    await slack.bot.deliverer.drain()
    [row] = await rows(slack)
    assert row.status == "pending" and row.attempts == 0
    assert "lacks a permission (missing_scope on chat.postMessage)" in (row.last_error or "")
    assert row.not_before >= clock(slack).now() + timedelta(minutes=14)
    assert slack.adapter.access.problem is None  # other messages still flow
    # The convenor adds the scope and reinstalls: the message goes at its next try.
    slack.fake.scopes = MANIFEST_SCOPES
    clock(slack).advance(timedelta(minutes=16))
    await slack.bot.deliverer.drain()
    [row] = await rows(slack)
    assert row.status == "sent" and len(posts(slack, "Agenda")) == 1


async def test_without_im_write_dms_wait_for_the_scope(slack: SlackHarness) -> None:
    slack.fake.scopes = ",".join(sorted(slack.fake.granted - {"im:write"}))
    await queue_dm(slack, PEER, "Can you help?", "scope:dm")
    await slack.bot.deliverer.drain()
    [row] = await rows(slack)
    assert row.status == "pending" and row.attempts == 0
    assert "lacks a permission (missing_scope on conversations.open)" in (row.last_error or "")


async def test_files_failing_after_the_text_went_are_retried_without_a_second_text(slack: SlackHarness) -> None:
    slack.fake.fail("files.getUploadURLExternal", "missing_scope")
    async with slack.bot.db.session() as session:
        message = Message(text="Invite", files=(OutgoingFile(name="m.ics", data=b"x"),))
        await slack.bot.queue(session, ToGroup("heads"), message, key="s:2")
    await slack.bot.deliverer.drain()
    [row] = await rows(slack)
    assert row.status == "pending" and row.attempts == 1 and "the files were not" in (row.last_error or "")
    clock(slack).advance(timedelta(seconds=6))
    await slack.bot.deliverer.drain()
    [row] = await rows(slack)
    assert row.status == "sent" and len(posts(slack, "Invite")) == 1
    assert [u["shared"] for u in slack.fake.uploads.values() if u["data"] is not None] == [[CHANNELS["heads"]]]


async def test_transport_maps_every_failure_kind(slack: SlackHarness) -> None:
    transport = slack.adapter.transport
    address = Address(platform="slack", kind="channel", channel_id=CHANNELS["heads"])
    slack.fake.fail("chat.postMessage", "msg_too_long")
    try:
        await transport.send(address, Message(text="x"), key="k", attempt=1)
    except PermanentError as exc:
        assert str(exc) == "the message is too long for Slack"
    slack.fake.rate_limit("chat.postMessage", retry_after=7)
    try:
        await transport.send(address, Message(text="x"), key="k2", attempt=1)
    except RateLimited as exc:
        assert exc.retry_after == 7
    missing = Address(platform="slack", kind="channel", channel_id="C0NOWHERE1")
    try:
        await transport.send(missing, Message(text="x"), key="k3", attempt=1)
    except PermanentError as exc:
        assert "not found" in str(exc)
    edit = Address(platform="slack", kind="edit", channel_id=CHANNELS["heads"], message_id="1.2")
    try:
        await transport.send(edit, Message(text="x"), key="k4", attempt=1)
    except PermanentError as exc:
        assert str(exc) == "the message to update no longer exists"


async def test_the_per_channel_limit_hands_long_waits_back_to_the_outbox(slack: SlackHarness) -> None:
    time_ = manual_throttle(slack)
    for n in range(6):
        async with slack.bot.db.session() as session:
            await slack.bot.queue(session, ToGroup("heads"), Message(text=f"burst {n}"), key=f"b:{n}")
    await slack.bot.deliverer.run_once()
    statuses = [r.status for r in await rows(slack)]
    # About one a second per channel: a burst of three goes at once, waits of up to two
    # seconds are taken, and a longer wait is handed back to the outbox (not counted as a failure).
    assert statuses.count("sent") == 5 and statuses.count("pending") == 1
    assert sorted(time_.slept) == [1.0, 2.0]
    [pending] = [r for r in await rows(slack) if r.status == "pending"]
    assert "rate limit" in (pending.last_error or "") and pending.attempts == 0
    assert pending.not_before == clock(slack).now() + timedelta(seconds=3)


async def test_an_edit_of_an_ephemeral_message_uses_its_response_url(slack: SlackHarness) -> None:
    await slack.command(HEAD, "announce heads")
    await slack.settle()
    [poll] = [m for m in slack.fake.messages if m.user == BOT_USER and m.text.startswith("Meeting")]
    payload = slack.press_payload(HEAD, poll, "test.take".replace("take", "vote"), ephemeral=True)
    payload["actions"][0]["action_id"] = "test.take:0"
    await slack.deliver("interactive", payload)
    await slack.settle()
    replaced = [r for r in slack.fake.responses if r.get("replace_original")]
    assert [r["text"] for r in replaced] == ["Taken by Priya Shah."]
    assert slack.fake.called("chat.update") == []


async def test_work_in_flight_is_finished_on_shutdown_and_the_rest_kept(slack: SlackHarness) -> None:
    slack.fake.hold = asyncio.Event()  # the answers cannot go yet
    for n in range(4):
        await slack.message(HEAD, f"shout {n}", where="heads", mention=True)
    assert slack.adapter.inbox.pending == 4
    await eventually(lambda: slack.adapter.inbox.running == 1)  # one channel: one at a time, in order
    stopping = asyncio.create_task(slack.adapter.stop())
    for _ in range(5):
        await asyncio.sleep(0)
    assert not slack.adapter.inbox.accepting and not stopping.done()  # stopped taking, still finishing
    slack.fake.hold.set()
    await stopping
    assert [m.text for m in slack.fake.messages if m.user == BOT_USER] == ["shout 0"]
    # New events after shutdown began are refused, so Slack retries them elsewhere or later.
    assert not slack.adapter.work.submit(asyncio.sleep, label="late")
    # The three not yet started are in the database, and the next start handles them.
    after = await running(slack.bot, slack.fake)
    try:
        await after.settle()
        assert [m.text for m in slack.fake.messages if m.user == BOT_USER] == [f"shout {n}" for n in range(4)]
    finally:
        await after.close()
        await after.adapter.stop()
