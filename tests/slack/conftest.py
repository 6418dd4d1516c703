"""Fixtures for the Slack adapter: a fake Slack, the demo network with Slack ids, and a
running adapter (HTTP mode by default; ``socket_slack`` for Socket Mode)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from adapters.slack import SlackAdapter
from bot.app import PeerBot
from bot.clock import FrozenClock
from bot.config import Config
from bot.db.engine import Database
from bot.models.network import Person
from tests.conftest import make_config
from tests.slack.harness import CHANNELS, UNMAPPED, SlackHarness
from tests.support.slack import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, FakeSlack

MODULES = ("bot.handlers.basics", "tests.slack.handlers")
HEAD = "p.shah@oakfield.sch.uk"  # Oakfield's head, the convenor
SENCO = "h.cole@oakfield.sch.uk"
DSL = "t.birch@oakfield.sch.uk"
PEER = "k.lloyd@hollybrook.sch.uk"
STRANGER = "U0STRANGER"


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    await fake.start()
    fake.add_channel(CHANNELS["heads"], "heads")
    fake.add_channel(CHANNELS["dsl"], "dsl", is_private=True)
    fake.add_channel(CHANNELS["senco"], "senco", is_private=True)
    fake.add_channel(CHANNELS["sbm"], "sbm")
    fake.add_channel(UNMAPPED, "random")
    fake.add_user(STRANGER, "Stranger", "someone@elsewhere.org")
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
def slack_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_APP_TOKEN", APP_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)


def slack_config(fake: FakeSlack, *, mode: str = "http", **slack: Any) -> Config:
    return make_config(
        {
            "platforms": {"run": ["slack"]},
            "slack": {"mode": mode, "channels": CHANNELS, "api_url": fake.api_url, "drain_seconds": 5, **slack},
        }
    )


def slack_ids(emails: list[str]) -> dict[str, str]:
    return {email: f"U0P{i:07d}" for i, email in enumerate(sorted(emails))}


async def open_slack_bot(database: Database, clock: FrozenClock, fake: FakeSlack, config: Config) -> PeerBot:
    from bot.demo import demo_sources
    from bot.network.importer import import_network

    bot = await PeerBot.open(config, db=database, clock=clock, migrate=False, platforms=["slack"], modules=MODULES)
    async with bot.db.session() as session:
        await import_network(session, bot.network_id, now=clock.now(), **demo_sources())
    async with bot.db.session() as session:
        people = list((await session.execute(select(Person))).unique().scalars())
        ids = slack_ids([p.email for p in people])
        for p in people:
            p.slack_id = ids[p.email]
            fake.add_user(ids[p.email], p.name, p.email)
    bot.slack_ids = ids  # type: ignore[attr-defined]
    return bot


@pytest.fixture
async def slack_bot(database: Database, clock: FrozenClock, fake_slack: FakeSlack, slack_env: None) -> PeerBot:
    return await open_slack_bot(database, clock, fake_slack, slack_config(fake_slack))


async def running(bot: PeerBot, fake: FakeSlack) -> SlackHarness:
    adapter = SlackAdapter(bot, http_host="127.0.0.1", http_port=0)
    await adapter.start()
    return SlackHarness(adapter, fake, bot, bot.slack_ids)  # type: ignore[attr-defined]


@pytest.fixture
async def slack(slack_bot: PeerBot, fake_slack: FakeSlack) -> AsyncIterator[SlackHarness]:
    harness = await running(slack_bot, fake_slack)
    try:
        yield harness
    finally:
        await harness.close()
        await harness.adapter.stop()
        slack_bot._stop.set()
