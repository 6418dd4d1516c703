"""The adapter's parts on their own: the throttle, error sorting, the work pool, log
redaction, the form-body fix, the manifest, and the core's independence from Slack."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from adapters.slack.api import (
    SlackAuthFailure,
    SlackRateLimited,
    SlackRefused,
    SlackUnavailable,
    Throttle,
    ThrottleWait,
    _form,
    classify,
)
from adapters.slack.app import SlackAdapter, bolt_request
from adapters.slack.logs import RedactPayloads
from adapters.slack.manifest import BOT_EVENTS, BOT_SCOPES, manifest
from adapters.slack.work import WorkPool
from bot.errors import ConfigError
from tests.support.slack import CONVERSATION_SCOPES, EVENT_SCOPES, METHOD_SCOPES, FakeSlack

ROOT = Path(__file__).resolve().parents[2]


# -- the throttle ---------------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_tiers_allow_a_burst_then_pace() -> None:
    clock = Clock()
    throttle = Throttle(clock=clock)
    waits = [throttle.reserve("conversations.history", max_wait=None) for _ in range(7)]
    assert waits[:5] == [0.0] * 5  # Tier 3: 50 a minute, bursts of 5
    assert waits[5] == pytest.approx(1.2) and waits[6] == pytest.approx(2.4)
    clock.now += 60
    assert throttle.reserve("conversations.history", max_wait=None) == 0.0


def test_post_message_is_paced_per_channel() -> None:
    clock = Clock()
    throttle = Throttle(clock=clock)
    a, b = Throttle.key("chat.postMessage", "C1"), Throttle.key("chat.postMessage", "C2")
    assert [throttle.reserve(a, max_wait=2) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert throttle.reserve(b, max_wait=2) == 0.0
    assert throttle.reserve(a, max_wait=2) == pytest.approx(1.0)
    with pytest.raises(ThrottleWait) as waited:
        throttle.reserve(a, max_wait=1.5)
    assert waited.value.wait == pytest.approx(2.0)


def test_a_429_pauses_the_method() -> None:
    clock = Clock()
    throttle = Throttle(clock=clock)
    throttle.pause("views.publish", 30)
    with pytest.raises(ThrottleWait):
        throttle.reserve("views.publish", max_wait=10)
    assert throttle.reserve("views.publish", max_wait=None) == pytest.approx(30)
    clock.now += 31
    assert throttle.reserve("chat.update", max_wait=0) == 0.0


def response(status: int, data: dict[str, Any], headers: dict[str, str] | None = None) -> AsyncSlackResponse:
    return AsyncSlackResponse(
        client=None,  # type: ignore[arg-type]
        http_verb="POST",
        api_url="https://slack.com/api/x",
        req_args={},
        data=data,
        headers=headers or {},
        status_code=status,
    )


@pytest.mark.parametrize(
    ("status", "error", "headers", "kind"),
    [
        (429, "ratelimited", {"Retry-After": "12"}, SlackRateLimited),
        (200, "token_revoked", {}, SlackAuthFailure),
        (200, "missing_scope", {}, SlackAuthFailure),
        (200, "channel_not_found", {}, SlackRefused),
        (200, "invalid_something_new", {}, SlackRefused),
        (500, "internal_error", {}, SlackUnavailable),
        (200, "fatal_error", {}, SlackUnavailable),
        (200, "a_brand_new_error", {}, SlackUnavailable),
    ],
)
def test_failures_are_sorted(status: int, error: str, headers: dict[str, str], kind: type) -> None:
    failure = classify("chat.postMessage", SlackApiError("x", response(status, {"ok": False, "error": error}, headers)))
    assert isinstance(failure, kind) and failure.code == error
    if isinstance(failure, SlackRateLimited):
        assert failure.retry_after == 12


def test_form_fields_are_strings() -> None:
    assert _form({"a": True, "b": 3, "c": None, "d": [{"id": "F1"}], "e": "x"}) == {
        "a": "true",
        "b": "3",
        "d": '[{"id":"F1"}]',
        "e": "x",
    }


def test_a_refused_token_pauses_longer_only_when_a_later_try_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    from adapters.slack import transport

    now = [1000.0]
    monkeypatch.setattr(transport.time, "monotonic", lambda: now[0])
    events: list[str] = []
    access = transport.Access(on_refused=lambda: events.append("refused"), on_recovered=lambda: events.append("ok"))
    assert [access.refused("invalid_auth") for _ in range(3)] == [60.0, 60.0, 60.0]  # messages sent at once
    assert access.blocked_for() == 60.0
    now[0] += 61
    assert access.blocked_for() == 0.0 and access.refused("invalid_auth") == 120.0
    access.ok()
    access.ok()
    assert access.problem is None and events == ["refused"] * 4 + ["ok"]


# -- the work pool --------------------------------------------------------------------------
async def test_the_pool_bounds_runs_and_drains_work() -> None:
    pool = WorkPool(concurrency=2, limit=3)
    running = 0
    most = 0
    gate = asyncio.Event()

    async def job() -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await gate.wait()
        running -= 1

    assert all(pool.submit(job, label="t") for _ in range(3))
    assert not pool.submit(job, label="t") and pool.refused == 1
    await asyncio.sleep(0.01)
    assert most == 2
    gate.set()
    assert await pool.drain(1.0) == 0
    assert pool.done == 3 and not pool.submit(job, label="late")


async def test_the_pool_cancels_what_outlives_its_grace_and_logs_failures(caplog: pytest.LogCaptureFixture) -> None:
    pool = WorkPool(concurrency=2, limit=5)

    async def forever() -> None:
        await asyncio.sleep(3600)

    async def broken() -> None:
        raise ValueError("secret text")

    pool.submit(forever, label="stuck")
    pool.submit(broken, label="message")
    await asyncio.sleep(0.01)
    assert await pool.drain(0.05) == 1
    assert pool.failed == 1
    assert "handling a message failed (ValueError)" in caplog.text and "secret text" not in caplog.text


async def test_work_waits_while_slack_is_being_answered() -> None:
    pool = WorkPool(concurrency=2, limit=5, defer=60.0)
    started: list[str] = []

    async def job() -> None:
        started.append("job")

    with pool.receiving():
        pool.submit(job, label="t")
        for _ in range(5):
            await asyncio.sleep(0)
        assert started == [] and pool.deferred == 1  # the acknowledgement comes first...
    await asyncio.wait_for(pool.idle(), timeout=10)  # ...and the work right after it, not `defer` later
    assert started == ["job"]


async def test_a_request_that_never_ends_delays_work_by_defer_no_more() -> None:
    pool = WorkPool(concurrency=2, limit=5, defer=0.2)
    loop = asyncio.get_running_loop()
    started: list[float] = []

    async def job() -> None:
        started.append(loop.time())

    with pool.receiving():
        begin = loop.time()
        pool.submit(job, label="t")
        await asyncio.wait_for(pool.idle(), timeout=10)
    assert started[0] - begin >= 0.19  # (generous above: a loaded machine may be late, never early)


async def test_sustained_traffic_does_not_stall_the_work() -> None:
    pool = WorkPool(concurrency=2, limit=100, defer=0.5)
    done = 0

    async def job() -> None:
        nonlocal done
        done += 1

    with pool.receiving():  # requests overlapping without a break, as under sustained load
        for _ in range(60):
            pool.submit(job, label="t")
        for _ in range(5):
            await asyncio.sleep(0)
        # Every job waits for a quiet moment side by side, none holding one of the two workers...
        assert pool.deferred == 60 and done == 0
        # ...so all are handled about `defer` after they came (not 60 / 2 x 0.5 s = 15 s).
        await asyncio.wait_for(pool.idle(), timeout=10)
    assert done == 60 and pool.deferred == 0


# -- logs -----------------------------------------------------------------------------------
def test_library_log_lines_lose_their_payloads() -> None:
    record = logging.LogRecord(
        "slack_bolt.AsyncApp", logging.WARNING, __file__, 1, "Unhandled request (%s)", ({"text": "Jo Bloggs"},), None
    )
    assert RedactPayloads().filter(record) and "Jo Bloggs" not in record.getMessage()
    quiet = logging.LogRecord("x", logging.WARNING, __file__, 1, "As you gave `client` as well, ...", (), None)
    assert not RedactPayloads().filter(quiet)


# -- the form-body fix ----------------------------------------------------------------------
@given(st.text(max_size=200))
def test_slash_command_bodies_survive_any_text(text: str) -> None:
    form = {"command": "/peerbot", "text": text, "user_id": "U1", "channel_id": "C1", "channel_name": "payload-team"}
    request = bolt_request(urlencode(form), "", {"content-type": "application/x-www-form-urlencoded"})
    assert request.body.get("command") == "/peerbot" and request.body.get("text") == text
    assert request.context.user_id == "U1"


def test_interaction_bodies_are_still_read_as_payloads() -> None:
    body = urlencode({"payload": json.dumps({"type": "block_actions", "user": {"id": "U1"}})})
    request = bolt_request(body, "", {"content-type": "application/x-www-form-urlencoded"})
    assert request.body["type"] == "block_actions"


# -- configuration --------------------------------------------------------------------------
async def test_missing_or_wrong_secrets_are_clear_config_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import make_config

    class FakeBot:
        def __init__(self, config: Any) -> None:
            self.config = config

    config = make_config({"slack": {"mode": "socket"}})
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    with pytest.raises(ConfigError, match=r"slack\.bot_token_env names SLACK_BOT_TOKEN, which is not set"):
        SlackAdapter(FakeBot(config))  # type: ignore[arg-type]
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxp-a-user-token")
    with pytest.raises(ConfigError, match="Bot User OAuth Token"):
        SlackAdapter(FakeBot(config))  # type: ignore[arg-type]
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    with pytest.raises(ConfigError, match=r"slack\.app_token_env names SLACK_APP_TOKEN"):
        SlackAdapter(FakeBot(config))  # type: ignore[arg-type]
    monkeypatch.setenv("SLACK_APP_TOKEN", "xoxb-wrong-kind")
    with pytest.raises(ConfigError, match="app-level token"):
        SlackAdapter(FakeBot(config))  # type: ignore[arg-type]
    http = make_config({"slack": {"mode": "http", "channels": {"heads": "heads"}}})
    monkeypatch.delenv("SLACK_SIGNING_SECRET", raising=False)
    with pytest.raises(ConfigError, match="signing_secret_env names SLACK_SIGNING_SECRET"):
        SlackAdapter(FakeBot(http))  # type: ignore[arg-type]
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s")
    with pytest.raises(ConfigError, match="'heads' is not a Slack channel id"):
        SlackAdapter(FakeBot(http))  # type: ignore[arg-type]


def test_the_adapter_is_found_through_its_entry_point() -> None:
    from bot.plugins import cli_registrars, load_adapter

    assert load_adapter("slack") is SlackAdapter
    assert any(r.__module__ == "adapters.slack.check" for r in cli_registrars())


# -- the manifest ---------------------------------------------------------------------------
def test_the_manifest_in_the_repository_is_the_generated_one() -> None:
    shipped = json.loads((ROOT / "adapters" / "slack" / "manifest.json").read_text(encoding="utf-8"))
    assert shipped == manifest()
    assert shipped["settings"]["socket_mode_enabled"] is True
    assert shipped["features"]["slash_commands"][0]["command"] == "/peerbot"
    assert shipped["features"]["app_home"]["home_tab_enabled"] is True
    assert shipped["settings"]["interactivity"]["is_enabled"] is True
    assert sorted(shipped["oauth_config"]["scopes"]["bot"]) == sorted(BOT_SCOPES)
    assert 175 <= len(shipped["display_information"]["long_description"]) <= 4000
    assert len(shipped["display_information"]["description"]) <= 140


def test_slack_private_groups_default_to_dsl_and_senco_and_must_name_groups() -> None:
    from bot.config import config_from_dict

    assert config_from_dict({"network": {"name": "N"}}).settings.slack.private_groups == ["dsl", "senco"]
    with pytest.raises(ConfigError, match=r"slack\.private_groups: there is no group 'DSL'"):
        config_from_dict({"network": {"name": "N"}, "slack": {"private_groups": ["DSL"]}})


def test_the_http_manifest_points_every_request_url_at_peerbot() -> None:
    url = "https://bot.example.org/slack/events"
    m = manifest(http_url=url)
    assert m["settings"]["socket_mode_enabled"] is False
    assert m["settings"]["event_subscriptions"]["request_url"] == url
    assert m["settings"]["interactivity"]["request_url"] == url
    assert m["features"]["slash_commands"][0]["url"] == url


def test_the_manifest_grants_what_every_subscribed_event_needs() -> None:
    for event in BOT_EVENTS:
        needed = EVENT_SCOPES[event]  # a new subscription needs its entry (Slack's event reference)
        assert not needed or set(needed) & set(BOT_SCOPES), f"{event} needs one of {needed}"


def test_the_fake_knows_the_scope_of_every_method_it_serves() -> None:
    served = {name[3:].replace("_", ".", 1) for name in dir(FakeSlack) if name.startswith("_m_")}
    assert served == set(METHOD_SCOPES) | set(CONVERSATION_SCOPES)
    # ...and the tests run with exactly the scopes the manifest asks for.
    assert FakeSlack().granted == set(BOT_SCOPES)


# -- the core stays platform-neutral -----------------------------------------------------------
def test_the_core_never_imports_slack() -> None:
    pattern = re.compile(r"^\s*(from|import)\s+(slack_bolt|slack_sdk|adapters)\b", re.M)
    for folder in ("bot", "knowledge"):
        for path in (ROOT / folder).rglob("*.py"):
            assert not pattern.search(path.read_text(encoding="utf-8")), path
