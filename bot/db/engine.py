"""The database handle: one async engine, sessions with one transaction each.

SQLite (the embedded default) runs in WAL mode with a busy timeout and foreign keys on,
and every transaction starts ``BEGIN IMMEDIATE`` so that two writers queue politely
instead of failing half-way. PostgreSQL is used through asyncpg.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from bot.errors import ConfigError

SQLITE_BUSY_TIMEOUT_MS = 30_000
_READING = "peerbot_reading"  # an execution option: a transaction that only reads (Database.reading)


def normalise_url(url: str) -> str:
    """Map the URLs people paste (``postgres://``, ``sqlite:///``) to async drivers."""
    url = url.strip()
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"database URL '{_redact(url)}' is not a URL such as sqlite:///peerbot.sqlite3") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif backend == "postgresql":
        driver = parsed.drivername.partition("+")[2]
        if driver in ("", "psycopg2", "asyncpg"):
            if importlib.util.find_spec("asyncpg") is None:
                raise ConfigError("PostgreSQL needs the asyncpg driver: pip install 'peerbot[postgres]'")
            parsed = parsed.set(drivername="postgresql+asyncpg")
    else:
        raise ConfigError(f"database URL: '{backend}' is not supported (use SQLite or PostgreSQL)")
    return parsed.render_as_string(hide_password=False)


def _redact(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable>"


class Database:
    """One database: an engine, a session factory and the schema's migrations."""

    def __init__(self, url: str, *, schema: str | None = None, echo: bool = False) -> None:
        self.url = normalise_url(url)
        self.schema = schema
        # Statement parameters carry people's words (questions, answers): never in an error
        # message or a log line.
        kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        else:
            kwargs["pool_pre_ping"] = True
            if schema:
                kwargs["connect_args"] = {"server_settings": {"search_path": schema}}
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._readers = async_sessionmaker(self.engine.execution_options(**{_READING: True}), expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return make_url(self.url).get_backend_name()

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def display_url(self) -> str:
        return _redact(self.url)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in one transaction: committed on success, rolled back on error."""
        async with self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A session that only reads, in one transaction that is rolled back at the end. On
        SQLite it begins without taking the write lock (``BEGIN``, not ``BEGIN IMMEDIATE``):
        in WAL mode a reader neither waits for the writers nor holds them up."""
        async with self._readers() as session:
            try:
                await session.connection()
                yield session
            finally:
                await session.rollback()

    async def ensure_schema(self, *, migrate: bool) -> None:
        """Bring the schema to the newest migration, or explain how to.

        ``migrate=True`` upgrades in place (the embedded SQLite default does this on every
        start); otherwise an out-of-date database is an error naming the command to run.
        """
        from bot.db import migrate as migrations

        async with self.engine.connect() as conn:
            current = await conn.run_sync(migrations.current_revision)
        head = migrations.head_revision()
        if current == head:
            return
        if not migrate:
            state = "is empty" if current is None else "needs upgrading"
            raise ConfigError(f"the database {state}: run `peerbot db upgrade` first")
        await self.upgrade()

    async def upgrade(self, target: str = "head") -> None:
        from bot.db import migrate as migrations

        async with self.engine.begin() as conn:
            await conn.run_sync(migrations.upgrade, target)

    async def revision(self) -> tuple[str | None, str | None]:
        from bot.db import migrate as migrations

        async with self.engine.connect() as conn:
            current = await conn.run_sync(migrations.current_revision)
        return current, migrations.head_revision()

    async def dispose(self) -> None:
        await self.engine.dispose()


class _Aiosqlite(aiosqlite.Connection):
    """aiosqlite's connection, mended for a race that hangs shutdown (aiosqlite 0.22).

    ``stop()`` queues the worker thread's last job, which closes the SQLite connection.
    SQLAlchemy's ``terminate()`` (a connection thrown away because its task was cancelled
    mid-statement) starts a graceful ``close()`` in a task of its own and, when cancelled
    again, calls ``stop()``. When ``close()`` comes second it fails, forgets the SQLite
    connection before the worker closes it (so it stays open, write lock and all, until
    the garbage collector finds it), and queues a second ``stop()`` behind the last job,
    which is never run: the task waits forever and ``asyncio.run`` never returns at
    shutdown. When it comes first, its own closing ``stop()`` waits forever the same way.
    Here, once stopping has begun, ``close()`` and ``stop()`` leave it to the job queued.
    """

    def stop(self) -> asyncio.Future[Any] | None:
        if not self._running:
            return None
        return super().stop()

    async def close(self) -> None:
        if not self._running:
            return
        await super().close()


class _Sqlite(sqlite3.Connection):
    """A SQLite connection that rolls back what it has open before it closes.

    Closing a connection while a cursor still holds a statement it has not finished (a
    task cancelled between running a query and fetching its rows, whose cursor lives on
    in the exception's traceback) does not close it: SQLite keeps it as a "zombie" until
    that statement is finalized, open transaction and write lock included. Every other
    writer then waits out the busy timeout (30 s) and fails. Rolling back first ends the
    transaction whatever the cursors hold."""

    def close(self) -> None:
        try:
            if self.in_transaction:
                self.rollback()
        except sqlite3.Error:
            pass  # closing is what matters; the transaction ends with the connection
        super().close()


def _open_aiosqlite(database: str | Path, *, iter_chunk_size: int = 64, **kwargs: Any) -> _Aiosqlite:
    """What ``aiosqlite.connect`` does, with :class:`_Aiosqlite` over :class:`_Sqlite`
    (SQLAlchemy passes its own arguments: the file, the busy timeout, ...)."""

    def connector() -> sqlite3.Connection:
        connection: sqlite3.Connection = sqlite3.connect(str(database), factory=_Sqlite, **kwargs)
        return connection

    connection = _Aiosqlite(connector, iter_chunk_size)
    connection._thread.daemon = True  # as SQLAlchemy does: a leaked connection must not keep the process
    return connection


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        return dialect.dbapi.connect(*cargs, async_creator_fn=_open_aiosqlite, **cparams)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver; BEGIN IMMEDIATE below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(_READING) else "BEGIN IMMEDIATE")


__all__ = ["AsyncSession", "Database", "normalise_url"]
