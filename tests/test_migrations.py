"""Migrations: they build exactly the schema the models describe, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from bot.db import migrate
from bot.db.base import Base
from bot.db.engine import Database


def _diff(connection) -> list:  # type: ignore[no-untyped-def]
    ctx = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(ctx, Base.metadata)


async def test_migrated_schema_matches_models(database: Database) -> None:
    async with database.engine.connect() as conn:
        diff = await conn.run_sync(_diff)
        current = await conn.run_sync(migrate.current_revision)
    assert diff == []
    assert current == migrate.head_revision()


async def test_upgrade_is_safe_to_repeat(database: Database) -> None:
    await database.upgrade()
    await database.ensure_schema(migrate=False)


async def test_empty_sqlite_is_migrated_on_first_start(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = Database(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    try:
        await db.ensure_schema(migrate=True)
        current, head = await db.revision()
        assert current == head
        async with db.engine.connect() as conn:
            mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar()
            timeout = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar()
        assert mode == "wal" and timeout == 30000
    finally:
        await db.dispose()


async def test_an_unmigrated_database_is_explained(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from bot.errors import ConfigError

    db = Database(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    try:
        with pytest.raises(ConfigError, match="run `peerbot db upgrade` first"):
            await db.ensure_schema(migrate=False)
    finally:
        await db.dispose()
