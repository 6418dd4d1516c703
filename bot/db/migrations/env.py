"""Alembic environment. Run through ``peerbot db upgrade`` (which passes a connection),
or, to write a new migration, ``alembic revision --autogenerate -m "..."`` with
``PEERBOT_DATABASE_URL`` naming a scratch database at the current head."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection

import bot.models  # noqa: F401  (registers every table on Base.metadata)
from bot.db.base import Base

config = context.config


def run_with(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_standalone(url: str) -> None:
    from bot.db.engine import Database

    db = Database(url)
    async with db.engine.begin() as conn:
        await conn.run_sync(run_with)
    await db.dispose()


connection = config.attributes.get("connection")
if connection is not None:
    run_with(connection)
else:
    url = os.environ.get("PEERBOT_DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("set PEERBOT_DATABASE_URL to a scratch database to run alembic directly")
    asyncio.run(run_standalone(url))
