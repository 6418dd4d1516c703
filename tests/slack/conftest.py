"""Fixtures for the Slack adapter: a fake Slack, the demo network with Slack ids, and a
running adapter (HTTP mode by default; ``socket_slack`` for Socket Mode).

Two sets of handlers: ``slack`` runs the basics and the test handlers in
``tests/slack/handlers.py``, which produce every shape of reply the core can (the
adapter's own behaviour, independent of what the flows decide); ``flows`` runs the
handlers ``peerbot run`` loads (:data:`bot.handlers.MODULES`: routing, the knowledge
base, meetings, the audit...) so that every real flow is driven through Slack."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Table, select, text

from adapters.slack import SlackAdapter
from bot import handlers as bot_handlers
from bot.app import PeerBot
from bot.clock import FrozenClock
from bot.config import Config
from bot.db.base import Base
from bot.db.engine import Database
from bot.models.network import Person
from tests.conftest import DEMO_NOW, make_config
from tests.slack.harness import CHANNELS, UNMAPPED, SlackHarness
from tests.support import databases
from tests.support.slack import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, FakeSlack

MODULES = ("bot.handlers.basics", "tests.slack.handlers")
REAL_MODULES = bot_handlers.MODULES  # what `peerbot run` loads
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


def slack_config(
    fake: FakeSlack, *, mode: str = "http", sections: dict[str, Any] | None = None, **slack: Any
) -> Config:
    return make_config(
        {
            "platforms": {"run": ["slack"]},
            "slack": {"mode": mode, "channels": CHANNELS, "api_url": fake.api_url, "drain_seconds": 5, **slack},
            **(sections or {}),
        }
    )


def slack_ids(emails: list[str]) -> dict[str, str]:
    return {email: f"U0P{i:07d}" for i, email in enumerate(sorted(emails))}


Snapshot = list[tuple[Table, list[dict[str, Any]]]]


@pytest.fixture(scope="session")
def demo_rows(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    """The demo network with Slack ids, imported once per test session and kept as rows
    (restoring rows takes milliseconds; importing the CSV files takes a good part of a second)."""

    async def build() -> Snapshot:
        from bot.demo import demo_sources
        from bot.network.importer import import_network

        db = Database(databases.fresh_sqlite(sqlite_template, tmp_path_factory.mktemp("slack-demo")))
        try:
            bot = await PeerBot.open(make_config(), db=db, clock=FrozenClock(DEMO_NOW), migrate=False, modules=MODULES)
            async with bot.db.session() as session:
                await import_network(session, bot.network_id, now=DEMO_NOW, **demo_sources())
            async with bot.db.session() as session:
                people = list((await session.execute(select(Person))).unique().scalars())
                ids = slack_ids([p.email for p in people])
                for p in people:
                    p.slack_id = ids[p.email]
            async with db.engine.connect() as conn:
                return [
                    (table, [dict(row) for row in (await conn.execute(table.select())).mappings()])
                    for table in Base.metadata.sorted_tables
                ]
        finally:
            await db.dispose()

    return databases.run_sync(build())


async def restore(db: Database, snapshot: Snapshot) -> None:
    async with db.engine.begin() as conn:
        for table, rows in snapshot:
            if rows:
                await conn.execute(table.insert(), rows)
        if db.dialect == "postgresql":
            for table, rows in snapshot:
                if rows and "id" in table.c and table.c.id.autoincrement in (True, "auto"):
                    # Table names come from our own metadata, not from input.
                    latest = f'(SELECT MAX(id) FROM "{table.name}")'  # noqa: S608
                    await conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), {latest})"))


async def open_slack_bot(
    database: Database,
    clock: FrozenClock,
    fake: FakeSlack,
    config: Config,
    snapshot: Snapshot,
    *,
    modules: tuple[str, ...] = MODULES,
) -> PeerBot:
    await restore(database, snapshot)
    bot = await PeerBot.open(config, db=database, clock=clock, migrate=False, platforms=["slack"], modules=modules)
    ids: dict[str, str] = {}
    for table, rows in snapshot:
        if table.name == "people":
            for row in rows:
                ids[row["email"]] = row["slack_id"]
                fake.add_user(row["slack_id"], row["name"], row["email"])
    bot.slack_ids = ids  # type: ignore[attr-defined]
    return bot


@pytest.fixture
async def slack_bot(
    database: Database, clock: FrozenClock, fake_slack: FakeSlack, slack_env: None, demo_rows: Snapshot
) -> PeerBot:
    return await open_slack_bot(database, clock, fake_slack, slack_config(fake_slack), demo_rows)


@pytest.fixture
async def flows_bot(
    database: Database, clock: FrozenClock, fake_slack: FakeSlack, slack_env: None, demo_rows: Snapshot
) -> PeerBot:
    """The demo network with the real handlers (routing sees its own changes at once)."""
    config = slack_config(fake_slack, sections={"routing": {"index_check_seconds": 0}})
    return await open_slack_bot(database, clock, fake_slack, config, demo_rows, modules=REAL_MODULES)


@pytest.fixture
async def flows(flows_bot: PeerBot, fake_slack: FakeSlack) -> AsyncIterator[SlackHarness]:
    """Everything ``peerbot run`` would do, driven through signed HTTP into Bolt."""
    harness = await running(flows_bot, fake_slack)
    try:
        yield harness
    finally:
        await harness.close()
        await harness.adapter.stop()
        flows_bot._stop.set()


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
