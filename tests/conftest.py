"""Fixtures: ``database`` runs a test on SQLite and on PostgreSQL; ``bot`` opens a bot."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.app import PeerBot
from bot.clock import FrozenClock
from bot.config import config_from_dict
from bot.db.engine import Database
from tests.support import databases
from tests.support.chat import Chat

DEMO_NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday in Autumn 2


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return databases.make_sqlite_template(tmp_path_factory.mktemp("db"))


@pytest.fixture(scope="session")
def sqlite_demo_template(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return databases.make_sqlite_demo_template(
        sqlite_template, tmp_path_factory.mktemp("demo"), make_config(), DEMO_NOW
    )


@pytest.fixture(scope="session")
def postgres_schema() -> Iterator[databases.PostgresSchema | None]:
    url = databases.pg_url()
    problem = databases.run_sync(databases.reachable(url))
    if problem is not None:
        if databases.in_ci():
            pytest.fail(f"PostgreSQL is required under CI=true but is unreachable at {url}: {problem}")
        yield None
        return
    schema = databases.PostgresSchema(url)
    schema.create()
    try:
        yield schema
    finally:
        schema.drop()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated, empty database: each test using it runs once per backend. (On SQLite,
    a test of the demo network gets it with the network imported: see ``demo_bot``.)"""
    if request.param == "sqlite":
        template = sqlite_template
        if "demo_bot" in request.fixturenames:
            template = request.getfixturevalue("sqlite_demo_template")
        db = Database(databases.fresh_sqlite(template, tmp_path))
        try:
            yield db
        finally:
            await db.dispose()
        return
    pg: databases.PostgresSchema | None = request.getfixturevalue("postgres_schema")
    if pg is None:
        pytest.skip("PostgreSQL is not reachable (set PEERBOT_TEST_DATABASE_URL); under CI this fails")
    db = Database(pg.url, schema=pg.schema)
    await pg.reset(db)
    try:
        yield db
    finally:
        await db.dispose()


def make_config(extra: dict[str, Any] | None = None, *, path: Path | None = None) -> Any:
    data: dict[str, Any] = {"network": {"name": "Test Network"}}
    for key, value in (extra or {}).items():
        data[key] = value
    return config_from_dict(data, path=path)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(DEMO_NOW)


@pytest.fixture
async def bot(database: Database, clock: FrozenClock) -> AsyncIterator[PeerBot]:
    """A bot on an empty network, on each backend, with a frozen clock."""
    b = await PeerBot.open(make_config(), db=database, clock=clock, migrate=False, platforms=["console"])
    try:
        yield b
    finally:
        b._stop.set()


@pytest.fixture
async def demo_bot(bot: PeerBot) -> PeerBot:
    """The bot with the shipped demo network imported (on SQLite, the database was copied
    with it already imported, the same way: ``sqlite_demo_template``)."""
    from sqlalchemy import func, select

    from bot.demo import demo_sources
    from bot.models import School
    from bot.network.importer import import_network

    async with bot.db.session() as session:
        imported = await session.scalar(select(func.count(School.id)).where(School.network_id == bot.network_id))
        if not imported:
            await import_network(session, bot.network_id, now=bot.clock.now(), **demo_sources())
    return bot


@pytest.fixture
async def chat(demo_bot: PeerBot) -> Chat:
    return Chat(demo_bot)
