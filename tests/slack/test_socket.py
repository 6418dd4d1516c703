"""Socket Mode: the same listeners, reached through slack_sdk's WebSocket client talking
to the fake Slack's socket (opened through a real ``apps.connections.open``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from adapters.slack import socket as slack_socket
from bot.app import PeerBot
from bot.clock import FrozenClock
from bot.db.engine import Database
from tests.slack.conftest import HEAD, Snapshot, open_slack_bot, running, slack_config
from tests.slack.harness import SlackHarness, fixture
from tests.support.slack import APP_TOKEN, BOT_USER, FakeSlack
from tests.support.waiting import eventually


async def connected(fake: FakeSlack) -> None:
    await eventually(lambda: fake.socket_connected)


@pytest.fixture
async def socket_bot(
    database: Database, clock: FrozenClock, fake_slack: FakeSlack, slack_env: None, demo_rows: Snapshot
) -> PeerBot:
    return await open_slack_bot(database, clock, fake_slack, slack_config(fake_slack, mode="socket"), demo_rows)


@pytest.fixture
async def sock(socket_bot: PeerBot, fake_slack: FakeSlack) -> AsyncIterator[SlackHarness]:
    harness = await running(socket_bot, fake_slack)
    try:
        await connected(fake_slack)
        yield harness
    finally:
        await harness.adapter.stop()
        socket_bot._stop.set()


def dm_posts(sock: SlackHarness, email: str) -> list[str]:
    channel = sock.fake.dm_channel(sock.uid(email))
    return [m.text for m in sock.fake.posted(channel) if m.user == BOT_USER]


async def test_socket_mode_connects_with_the_app_token(sock: SlackHarness) -> None:
    [opened] = sock.fake.called("apps.connections.open")
    assert opened.token == APP_TOKEN


async def test_an_event_is_acked_before_the_work_and_handled(sock: SlackHarness) -> None:
    sock.fake.hold = asyncio.Event()  # a slow Slack: the reply cannot go yet, the ack must
    answer, _ = await sock.message(HEAD, "whoami")
    assert answer.status == 200 and sock.adapter.inbox.pending == 1 and dm_posts(sock, HEAD) == []
    sock.fake.hold.set()
    await sock.settle()
    assert dm_posts(sock, HEAD)[0].startswith("You are Priya Shah")


async def test_a_redelivered_envelope_is_processed_once(sock: SlackHarness) -> None:
    _, ts = await sock.message(HEAD, "whoami", event_id="Ev0SOCKET1")
    await sock.message(HEAD, "whoami", event_id="Ev0SOCKET1", ts=ts, retry=1)
    await sock.settle()
    assert len(dm_posts(sock, HEAD)) == 1


async def test_slash_commands_and_buttons_over_the_socket(sock: SlackHarness) -> None:
    answer = await sock.command(HEAD, "offer k.lloyd@hollybrook.sch.uk")
    assert answer.status == 200 and answer.text == ""
    await sock.settle()
    assert sock.fake.responses[-1]["text"] == "Asked."
    [request] = [m for m in sock.fake.messages if m.user == BOT_USER and m.text.startswith("Can you help")]
    await sock.press("k.lloyd@hollybrook.sch.uk", request, "test.take")
    await sock.settle()
    assert request.text == "Taken by Karen Lloyd."


async def test_form_errors_go_back_in_the_ack(sock: SlackHarness) -> None:
    await sock.command(HEAD, "kb add")
    await sock.settle()
    [modal] = sock.fake.modals
    huge = sock.fake.host_file("big.pdf", b"x")
    huge["size"] = 50 * 1024 * 1024
    answer = await sock.submit(HEAD, modal, text="Big", files=[huge])
    assert answer.json()["response_action"] == "errors"


async def test_when_full_an_envelope_is_not_acked_so_slack_redelivers_it(sock: SlackHarness) -> None:
    sock.adapter.inbox.limit = 0
    envelope_id = await sock.fake.envelope(
        "events_api",
        fixture(
            "event_message",
            USER=sock.uid(HEAD),
            CHANNEL=sock.fake._open_dm(sock.uid(HEAD)),
            CHANNEL_TYPE="im",
            TEXT="whoami",
            TS="1764000000.000001",
            EVENT_ID="Ev0FULL001",
        ),
    )
    with pytest.raises(TimeoutError):
        await sock.fake.wait_ack(envelope_id, within=0.5)
    sock.adapter.inbox.limit = 10
    sock.fake.add_message(sock.fake._open_dm(sock.uid(HEAD)), sock.uid(HEAD), "whoami")
    await sock.message(HEAD, "whoami", event_id="Ev0FULL001", ts="1764000000.000001", retry=1)
    await sock.settle()
    assert len(dm_posts(sock, HEAD)) == 1


async def test_a_disconnect_request_reconnects(sock: SlackHarness) -> None:
    await sock.fake.disconnect_sockets()
    await eventually(lambda: sock.fake.connections_opened >= 2 and sock.fake.socket_connected)
    answer, _ = await sock.message(HEAD, "whoami")
    assert answer.status == 200


async def test_a_refused_app_token_backs_off_without_ending_the_process(
    socket_bot: PeerBot, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(slack_socket.PatientSocketModeClient, "reconnect_first", 0.05)
    fake_slack.app_token_refused = "invalid_auth"
    harness = await running(socket_bot, fake_slack)
    try:
        await eventually(lambda: len(fake_slack.called("apps.connections.open")) >= 3)
        assert not fake_slack.socket_connected
        refusals = [r for r in caplog.records if r.levelno == logging.ERROR and "invalid_auth" in r.getMessage()]
        assert refusals and "Socket Mode" in refusals[0].getMessage()
        fake_slack.app_token_refused = None
        await connected(fake_slack)
        answer, _ = await harness.message(HEAD, "whoami")
        assert answer.status == 200
    finally:
        await harness.adapter.stop()
        socket_bot._stop.set()
