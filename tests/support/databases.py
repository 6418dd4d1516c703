"""Fresh, migrated databases for tests: SQLite files and PostgreSQL schemas.

SQLite: the schema is migrated once into a template file, copied for each test; a test of
the demo network copies a second template that has it imported already (the import,
about a third of such a test's time, then runs once a session instead of once a test).
PostgreSQL: ``PEERBOT_TEST_DATABASE_URL`` (default: the local ``test`` database) gets a
schema of its own for this test run, migrated once and truncated between tests. Under
``CI=true`` an unreachable PostgreSQL fails the run instead of skipping.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import text

from bot.db.base import Base
from bot.db.engine import Database

T = TypeVar("T")

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion in a thread of its own (safe inside a running loop)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def pg_url() -> str:
    return os.environ.get("PEERBOT_TEST_DATABASE_URL") or DEFAULT_PG


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


async def _migrate(url: str, schema: str | None = None) -> None:
    db = Database(url, schema=schema)
    try:
        if schema:
            async with db.engine.begin() as conn:
                await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        await db.upgrade()
    finally:
        await db.dispose()


def make_sqlite_template(folder: Path) -> Path:
    path = folder / "template.sqlite3"
    run_sync(_migrate(f"sqlite:///{path}"))
    return path


def make_sqlite_demo_template(template: Path, folder: Path, config: Any, now: Any) -> Path:
    """The migrated template with the demo network imported, as the ``demo_bot`` fixture
    would import it (the same config, the same clock)."""
    from bot.app import PeerBot
    from bot.clock import FrozenClock
    from bot.demo import demo_sources
    from bot.network.importer import import_network

    path = folder / "demo.sqlite3"
    shutil.copyfile(template, path)

    async def go() -> None:
        bot = await PeerBot.open(
            config, db=Database(f"sqlite:///{path}"), clock=FrozenClock(now), migrate=False, platforms=["console"]
        )
        try:
            async with bot.db.session() as session:
                await import_network(session, bot.network_id, now=now, **demo_sources())
        finally:
            await bot.close()

    run_sync(go())
    return path


def fresh_sqlite(template: Path, folder: Path) -> str:
    target = folder / f"peerbot-{uuid.uuid4().hex[:8]}.sqlite3"
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


class PostgresSchema:
    """One schema for this test session; ``reset`` empties every table between tests."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.schema = f"pb_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self._script: str | None = None

    def create(self) -> None:
        run_sync(asyncio.wait_for(_migrate(self.url, self.schema), timeout=60))

    def drop(self) -> None:
        async def go() -> None:
            db = Database(self.url)
            try:
                async with db.engine.begin() as conn:
                    await conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
            finally:
                await db.dispose()

        run_sync(go())

    async def reset(self, db: Database) -> None:
        """Empty every table and restart every id sequence. DELETE of a test's few rows, in
        dependency order, is about five times quicker than TRUNCATE of two dozen tables;
        sent as one script, it is one round trip instead of one a statement."""
        async with db.engine.begin() as conn:
            if self._script is None:
                found = await conn.execute(
                    text(
                        "SELECT sequence_name FROM information_schema.sequences "
                        "WHERE sequence_schema = current_schema()"
                    )
                )
                tables = reversed(Base.metadata.sorted_tables)  # our own names, not input
                deletes = [f'DELETE FROM "{table.name}"' for table in tables]  # noqa: S608
                restarts = [f'ALTER SEQUENCE "{sequence}" RESTART' for sequence in found.scalars()]
                self._script = ";\n".join(deletes + restarts)
            raw = await conn.get_raw_connection()
            await raw.driver_connection.execute(self._script)  # asyncpg: a script, no parameters


async def reachable(url: str) -> str | None:
    """``None`` when PostgreSQL answers, else why not."""
    db = Database(url)
    try:
        async with asyncio.timeout(5), db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        await db.dispose()
