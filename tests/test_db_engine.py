"""The SQLite connections the engine opens: aiosqlite's, mended so that closing a
connection that is already stopping never waits forever (it hung shutdown), over SQLite
connections that let go of their write lock when closed, whatever a cursor still holds."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

from sqlalchemy import text

from bot.db.engine import Database, _Aiosqlite, _open_aiosqlite, _Sqlite


async def test_the_engine_opens_the_mended_sqlite_connection(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    try:
        async with db.engine.connect() as conn:
            assert (await conn.scalar(text("PRAGMA busy_timeout"))) == 30_000  # SQLAlchemy's arguments kept
            raw = await conn.get_raw_connection()
            assert isinstance(raw.driver_connection, _Aiosqlite)
            assert isinstance(raw.driver_connection._connection, _Sqlite)
            assert raw.driver_connection._thread.daemon
    finally:
        await db.dispose()


async def _held(tmp_path: Path) -> tuple[_Aiosqlite, threading.Event]:
    """A connection in a write transaction whose worker thread is busy until the event is
    set, so that the order in which jobs are queued is the order of the calls below."""
    connection = await _open_aiosqlite(str(tmp_path / "x.sqlite3"), isolation_level=None)
    await connection.execute("BEGIN IMMEDIATE")
    release = threading.Event()
    connection._tx.put_nowait((None, release.wait))
    return connection, release


async def _closed(connection: _Aiosqlite, tmp_path: Path) -> None:
    """The worker has ended and the SQLite connection is closed: its write lock is free."""
    await asyncio.to_thread(connection._thread.join, 5)
    assert not connection._thread.is_alive() and connection._connection is None
    other = sqlite3.connect(tmp_path / "x.sqlite3", timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # "database is locked" if the first was left open
        other.execute("ROLLBACK")
    finally:
        other.close()


async def test_closing_a_connection_already_stopping_does_not_wait_forever(tmp_path: Path) -> None:
    # SQLAlchemy's terminate() when cancelled at once: stop() first, then the graceful close().
    connection, release = await _held(tmp_path)
    connection.stop()
    closing = asyncio.create_task(connection.close())
    await asyncio.sleep(0.01)
    release.set()
    await asyncio.wait_for(closing, 5)
    await _closed(connection, tmp_path)


async def test_stopping_a_connection_while_it_closes_does_not_leave_the_close_waiting(tmp_path: Path) -> None:
    # SQLAlchemy's terminate() cancelled part-way: the graceful close() first, then stop().
    connection, release = await _held(tmp_path)
    closing = asyncio.create_task(connection.close())
    await asyncio.sleep(0.01)  # close() has queued its job behind the busy one
    connection.stop()
    release.set()
    await asyncio.wait_for(closing, 5)
    await _closed(connection, tmp_path)


async def test_a_transaction_cancelled_twice_leaves_no_task_behind(tmp_path: Path) -> None:
    """End to end through SQLAlchemy: a task cancelled mid-statement, and again while its
    connection is being thrown away, leaves nothing running (nothing for shutdown to wait on)."""
    db = Database(f"sqlite:///{tmp_path / 'x.sqlite3'}")

    async def work() -> None:
        async with db.session() as session:
            for _ in range(5):
                await session.execute(text("SELECT 1"))

    try:
        for i in range(60):
            task = asyncio.create_task(work())
            for _ in range(1 + i % 6):
                await asyncio.sleep(0)
            task.cancel()
            for _ in range(i % 4):
                await asyncio.sleep(0)
            task.cancel()
            await asyncio.wait({task}, timeout=5)
            assert task.done()
        await asyncio.sleep(0.05)
        left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        if left:
            _, pending = await asyncio.wait(left, timeout=5)
            assert not pending, pending
        async with db.session() as session:  # and the database still works
            assert (await session.scalar(text("SELECT 1"))) == 1
    finally:
        await db.dispose()


async def test_a_connection_closed_with_a_query_unfinished_frees_the_write_lock(tmp_path: Path) -> None:
    # A task cancelled between running a query and fetching its rows: its cursor lives on
    # (in the traceback) when the connection is thrown away. Plain sqlite3 keeps the
    # closed connection, and its write lock, until that cursor is freed (30 s of "database
    # is locked" for every other writer, then a failure).
    for how in ("close", "stop"):
        connection = await _open_aiosqlite(str(tmp_path / "x.sqlite3"), isolation_level=None)
        await connection.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER PRIMARY KEY)")
        await connection.execute("INSERT INTO t DEFAULT VALUES")
        await connection.execute("INSERT INTO t DEFAULT VALUES")
        await connection.execute("BEGIN IMMEDIATE")
        cursor = await connection.execute("INSERT INTO t DEFAULT VALUES RETURNING x")  # one row stepped
        if how == "close":
            await connection.close()
        else:
            await asyncio.wait_for(asyncio.shield(connection.stop()), 5)  # type: ignore[arg-type]
        await _closed(connection, tmp_path)  # while the cursor still holds its statement
        del cursor
