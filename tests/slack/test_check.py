"""``peerbot slack check`` says exactly what is missing; ``peerbot slack manifest``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from adapters.slack.check import run_check
from bot.cli import main
from bot.network import store
from bot.replies import Message, ToGroup
from tests.slack.conftest import PEER, SENCO, Snapshot, open_slack_bot, slack_config
from tests.slack.harness import CHANNELS
from tests.support import databases
from tests.support.slack import FakeSlack


async def test_a_complete_set_up_passes(fake_slack: FakeSlack, slack_env: None) -> None:
    report = await run_check(slack_config(fake_slack), check_database=False)
    assert report.problems == [] and report.team == "Test Schools"
    assert report.warnings == []
    assert "every scope peerbot needs is granted" in report.ok
    assert [c["ok"] for c in report.channels] == [True] * 4


async def test_missing_secrets_are_named(fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(name, raising=False)
    report = await run_check(slack_config(fake_slack, mode="socket"), check_database=False)
    assert report.problems == [
        "SLACK_BOT_TOKEN is not set: put the app's Bot User OAuth Token (xoxb-...) from OAuth & Permissions in it",
        "SLACK_APP_TOKEN is not set: create an app-level token with connections:write under Basic Information > "
        "App-Level Tokens and put it (xapp-...) in it",
    ]
    http = await run_check(slack_config(fake_slack, mode="http"), check_database=False)
    assert any(p.startswith("SLACK_SIGNING_SECRET is not set") for p in http.problems)
    assert fake_slack.calls == []


async def test_a_revoked_token_is_reported(fake_slack: FakeSlack, slack_env: None) -> None:
    fake_slack.revoked = "token_revoked"
    report = await run_check(slack_config(fake_slack), check_database=False)
    assert report.problems == [
        "Slack refused the bot token (token_revoked): reinstall the app (Settings > Install App) and put the new "
        "Bot User OAuth Token in the environment"
    ]


async def test_slack_out_of_reach_is_reported(slack_env: None) -> None:
    fake = FakeSlack()
    fake.url = "http://127.0.0.1:9"  # nothing listens there
    report = await run_check(slack_config(fake), check_database=False)
    [problem] = report.problems
    assert problem.startswith("could not reach Slack at http://127.0.0.1:9/api/")


async def test_missing_scopes_are_listed(fake_slack: FakeSlack, slack_env: None) -> None:
    fake_slack.scopes = "chat:write,commands,channels:read,groups:read,channels:history,groups:history,im:history"
    report = await run_check(slack_config(fake_slack), check_database=False)
    assert report.scopes_missing == [
        "files:read",
        "files:write",
        "im:read",
        "im:write",
        "users:read",
        "users:read.email",
    ]
    assert report.problems[0].startswith("the app lacks the scopes files:read, files:write, im:read, im:write")


async def test_channel_problems_are_specific(fake_slack: FakeSlack, slack_env: None) -> None:
    fake_slack.channels[CHANNELS["heads"]].is_member = False
    fake_slack.channels[CHANNELS["sbm"]].is_archived = True
    fake_slack.channels[CHANNELS["dsl"]].is_private = False
    fake_slack.channels[CHANNELS["senco"]].is_member = False  # private: Slack hides it entirely
    config = slack_config(fake_slack, channels={k: v for k, v in CHANNELS.items()})
    report = await run_check(config, check_database=False)
    assert report.problems == [
        "#dsl (the dsl channel) is public: anyone in the workspace can read it, so peerbot posts nothing there "
        "(its messages wait); make it private in Slack (channel details > Settings > Change to a private channel)",
        "peerbot is not in #heads (the heads channel): type /invite @peerbot there",
        "slack.channels.sbm: #sbm is archived",
        "slack.channels.senco: Slack has no channel G0SENCO001 that peerbot can see (channel_not_found); "
        "for a private channel, first type /invite @peerbot in it",
    ]
    assert report.warnings == []
    assert next(c for c in report.channels if c["group"] == "dsl")["problem"] == "public"
    # Only the configured private groups must be private.
    relaxed = await run_check(slack_config(fake_slack, private_groups=["senco"]), check_database=False)
    assert not any("#dsl" in p for p in relaxed.problems)
    unmapped = await run_check(slack_config(fake_slack, channels={"heads": CHANNELS["heads"]}), check_database=False)
    assert any(w.startswith("no Slack channel for the dsl group") for w in unmapped.warnings)


async def test_socket_mode_checks_the_app_token(fake_slack: FakeSlack, slack_env: None) -> None:
    fake_slack.app_token_refused = "invalid_auth"
    report = await run_check(slack_config(fake_slack, mode="socket"), check_database=False)
    assert report.problems == [
        "Slack refused the app-level token (invalid_auth): check Socket Mode is on and the token has "
        "connections:write (Basic Information > App-Level Tokens)"
    ]


@pytest.fixture
async def checked_db(
    sqlite_template: Path, tmp_path: Path, fake_slack: FakeSlack, slack_env: None, demo_rows: Snapshot
) -> AsyncIterator[str]:
    """An SQLite file holding the demo network with Slack ids (the check opens it itself)."""
    from bot.clock import FrozenClock
    from bot.db.engine import Database
    from tests.conftest import DEMO_NOW

    url = databases.fresh_sqlite(sqlite_template, tmp_path)
    db = Database(url)
    bot = await open_slack_bot(db, FrozenClock(DEMO_NOW), fake_slack, slack_config(fake_slack), demo_rows)
    try:
        yield url
    finally:
        await db.dispose()
        bot._stop.set()


async def test_people_and_waiting_messages_are_checked(checked_db: str, fake_slack: FakeSlack) -> None:
    from bot.app import PeerBot
    from bot.models import OutboxMessage
    from tests.conftest import make_config

    config = make_config(
        {
            "database": {"url": checked_db},
            "slack": {"channels": CHANNELS, "api_url": fake_slack.api_url},
            "platforms": {"run": ["slack"]},
        }
    )
    bot = await PeerBot.open(config, platforms=["slack"])
    try:
        async with bot.db.session() as session:
            peer = await store.person_by_email(session, bot.network_id, PEER)
            senco = await store.person_by_email(session, bot.network_id, SENCO)
            assert peer is not None and senco is not None and peer.slack_id and senco.slack_id
            peer_id, senco_id = peer.slack_id, senco.slack_id
            senco.slack_id = None
            await bot.queue(session, ToGroup("heads"), Message(text="x"), key="k")
        async with bot.db.session() as session:
            row = (await session.execute(select(OutboxMessage))).scalar_one()
            row.last_error = "Slack rate limit on chat.postMessage (retry after 3.0s)"
    finally:
        await bot.close()
    fake_slack.users[peer_id]["deleted"] = True
    report = await run_check(config)
    assert report.people["unknown_in_workspace"] == [f"{PEER} ({peer_id})"]
    assert report.people["suggested_slack_ids"] == {SENCO: senco_id}
    assert report.problems[0].startswith("1 people's slack_id is not an active member of this workspace: k.lloyd")
    assert any(f"from their emails: {SENCO} → {senco_id}" in w for w in report.warnings)
    assert "1 Slack message(s) are waiting to be retried (last error: Slack rate limit" in " ".join(report.warnings)


def write_config(tmp_path: Path, fake: FakeSlack) -> Path:
    path = tmp_path / "peerbot.toml"
    channels = "\n".join(f'{group} = "{cid}"' for group, cid in CHANNELS.items())
    path.write_text(
        f'[network]\nname = "Test Network"\n[platforms]\nrun = ["slack"]\n[slack]\nmode = "socket"\n'
        f'api_url = "{fake.api_url}"\n[slack.channels]\n{channels}\n',
        encoding="utf-8",
    )
    return path


def test_the_cli_prints_json_and_fails_with_the_first_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.support.slack import APP_TOKEN, BOT_TOKEN

    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_APP_TOKEN", APP_TOKEN)
    fake = FakeSlack()
    with fake.in_thread():
        for group, cid in CHANNELS.items():
            fake.add_channel(cid, group, is_private=group in ("dsl", "senco"))
        config = write_config(tmp_path, fake)
        assert main(["--config", str(config), "slack", "check", "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["ok"] is True and out["team"] == "Test Schools"
        assert out["warnings"] == ["people not checked: the database is not set up yet (run `peerbot db upgrade`)"]
        assert main(["--config", str(config), "slack", "check", "--no-database"]) == 0
        assert capsys.readouterr().out.splitlines()[-1] == "OK"
        fake.channels[CHANNELS["heads"]].is_member = False
        assert main(["--config", str(config), "slack", "check", "--no-database"]) == 2
        captured = capsys.readouterr()
        assert "  problem: peerbot is not in #heads" in captured.out
        assert captured.err == "error: peerbot is not in #heads (the heads channel): type /invite @peerbot there\n"


def test_the_manifest_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["slack", "manifest", "--http-url", "https://bot.example.org/slack/events"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["settings"]["event_subscriptions"]["request_url"] == "https://bot.example.org/slack/events"
    assert main(["slack", "manifest", "--http-url", "http://insecure"]) == 2
    assert capsys.readouterr().err.startswith("error: --http-url must be the public https:// URL")
