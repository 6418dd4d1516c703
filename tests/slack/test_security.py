"""HTTP mode refuses what Slack did not sign, and nothing it refuses is dispatched."""

from __future__ import annotations

import json
import logging
import time

import pytest
from sqlalchemy import func, select

from bot.models import SeenEvent
from tests.slack.conftest import DSL, HEAD
from tests.slack.harness import CHANNELS, SlackHarness, fixture
from tests.support.slack import SIGNING_SECRET, sign, signed_headers


def event_body(slack: SlackHarness, text: str = "whoami") -> str:
    channel = slack.fake._open_dm(slack.uid(HEAD))
    ts = slack.fake.add_message(channel, slack.uid(HEAD), text).ts
    payload = fixture(
        "event_message", USER=slack.uid(HEAD), CHANNEL=channel, CHANNEL_TYPE="im", TEXT=text, TS=ts, EVENT_ID="Ev1"
    )
    return json.dumps(payload)


async def nothing_happened(slack: SlackHarness) -> None:
    await slack.settle()
    async with slack.bot.db.session() as session:
        assert (await session.execute(select(func.count()).select_from(SeenEvent))).scalar_one() == 0
    assert slack.fake.called("chat.postMessage") == [] and slack.fake.responses == []
    assert slack.adapter.work.done == 0


TAMPERING = (
    "wrong secret",
    "stale by six minutes",
    "six minutes in the future",
    "no signature",
    "no timestamp",
    "no headers",
    "signature of another body",
)


async def test_unsigned_or_stale_requests_get_401_and_nothing_runs(slack: SlackHarness) -> None:
    body = event_body(slack)
    content = "application/json"
    for tamper in TAMPERING:
        headers = signed_headers(body, content_type=content)
        if tamper == "wrong secret":
            headers = signed_headers(body, content_type=content, secret="not-the-secret")
        elif tamper == "stale by six minutes":
            headers = signed_headers(body, content_type=content, at=time.time() - 360)
        elif tamper == "six minutes in the future":
            headers = signed_headers(body, content_type=content, at=time.time() + 360)
        elif tamper == "no signature":
            del headers["X-Slack-Signature"]
        elif tamper == "no timestamp":
            del headers["X-Slack-Request-Timestamp"]
        elif tamper == "no headers":
            headers = {"Content-Type": content}
        else:
            headers["X-Slack-Signature"] = sign(SIGNING_SECRET, headers["X-Slack-Request-Timestamp"], body + " ")
        answer = await slack.raw(body, headers)
        assert answer.status == 401, tamper
        assert answer.json() == {"error": "invalid request"}, tamper
    await nothing_happened(slack)
    # ...while the same body, properly signed and fresh, is accepted.
    assert (await slack.raw(body, signed_headers(body, content_type=content))).status == 200


async def test_a_forged_slash_command_and_button_are_refused(slack: SlackHarness) -> None:
    from urllib.parse import urlencode

    body = urlencode(slack.command_payload(HEAD, "network"))
    headers = signed_headers(body, content_type="application/x-www-form-urlencoded", secret="guess")
    assert (await slack.raw(body, headers)).status == 401
    await nothing_happened(slack)


async def test_a_signed_but_broken_body_is_a_bad_request(slack: SlackHarness) -> None:
    for body, content in (
        ('{"type": "event_callback", ', "application/json"),
        ("payload=%7Bnot-json", "application/x-www-form-urlencoded"),
        ("payload=%5B1%2C2%5D", "application/x-www-form-urlencoded"),
        ("[1, 2]", "application/json"),
    ):
        answer = await slack.raw(body, signed_headers(body, content_type=content))
        assert answer.status == 400
    await nothing_happened(slack)


async def test_a_replayed_signed_request_is_handled_once(slack: SlackHarness) -> None:
    # Within the five minutes a signature stays valid, the same bytes sent again (a replay,
    # or Slack retrying) must not act twice.
    body = event_body(slack, "whoami")
    headers = signed_headers(body, content_type="application/json")
    assert (await slack.raw(body, headers)).status == 200
    assert (await slack.raw(body, headers)).status == 200
    from urllib.parse import urlencode

    command = urlencode(slack.command_payload(HEAD, "whoami"))
    command_headers = signed_headers(command, content_type="application/x-www-form-urlencoded")
    assert (await slack.raw(command, command_headers)).status == 200
    assert (await slack.raw(command, command_headers)).status == 200
    await slack.settle()
    assert len(slack.fake.called("chat.postMessage")) == 1
    assert len(slack.fake.responses) == 1


async def test_logs_never_contain_message_text(slack: SlackHarness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "Q: Jamie Smith born 03/04/2015 disclosed"
    slack.fake.fail("chat.postMessage", "internal_error", times=5)
    await slack.message(DSL, secret, where="dsl")
    await slack.command(HEAD, f"kb {secret}")
    await slack.deliver("interactive", {"type": "mystery", "text": secret, "user": {"id": slack.uid(HEAD)}})
    await slack.settle()
    assert slack.fake.ephemerals, "the handler ran"
    ours = [
        r for r in caplog.records if r.name.split(".")[0] in ("peerbot", "bot", "adapters", "slack_bolt", "slack_sdk")
    ]
    assert ours, "something was logged"
    text = "\n".join(r.getMessage() + str(r.exc_info or "") for r in ours)
    assert "Jamie" not in text and "disclosed" not in text


async def test_the_health_endpoint_reports_the_token_state(slack: SlackHarness) -> None:
    import aiohttp

    url = f"http://127.0.0.1:{slack.adapter.http_port}/healthz"
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as response:
            assert response.status == 200 and (await response.json())["ok"] is True
        await slack.event("event_tokens_revoked", CHANNEL=CHANNELS["heads"])
        async with session.get(url) as response:
            assert response.status == 503
            assert (await response.json())["slack"] == "token refused (tokens_revoked)"
