"""Exactly once, whatever happens: a real bot process killed with SIGKILL while nudges are
due, then restarted; and two bots sweeping and delivering on one database at once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time as walltime
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bot import outbox
from bot.app import PeerBot
from bot.db.engine import Database
from bot.meetings import service
from bot.meetings.sweep import sweep
from bot.models import Meeting, OutboxMessage
from tests.conftest import make_config
from tests.support.chat import RecordingTransport
from tests.support.meetings import clock_of, meetings, outbox_rows

ROOT = Path(__file__).resolve().parents[2]
MEETING_DAY = datetime(2026, 12, 9, 9, 30, tzinfo=UTC)  # Wed 9 Dec, 09:30 London


async def prepare(bot: PeerBot, actions: int) -> int:
    """Book the Autumn 2 heads meeting for 9 Dec and add actions due for review that week."""
    await sweep(bot)
    from bot.network import store

    async with bot.db.session() as session:
        [m] = [m for m in await service.meetings(session, bot.network_id) if m.half_term == "Autumn 2"]
        meeting = await session.get(Meeting, m.id)
        assert meeting is not None
        now = bot.clock.now()
        await service.book(session, bot, meeting, MEETING_DAY, MEETING_DAY + timedelta(hours=2), now)
        people = await store.people(session, bot.network_id)
        for i in range(actions):
            await service.add_action(
                session,
                bot,
                owner=people[i % len(people)],
                review_on=date(2026, 12, 10) + timedelta(days=i % 5),
                action=f"Action {i}",
                now=now,
            )
        return meeting.id


def start_worker(database: Database, log: Path, offset: float, *, exit_when_idle: bool) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "tests.meetings.worker", "--url", database.url, "--log", str(log)]
    cmd += ["--offset", str(offset), "--delay", "0.03"]
    if database.schema:
        cmd += ["--schema", database.schema]
    if exit_when_idle:
        cmd.append("--exit-when-idle")
    return subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE)


def _lines(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


async def wait_for_lines(log: Path, n: int, proc: subprocess.Popen[bytes], within: float = 30) -> None:
    deadline = walltime.monotonic() + within
    while walltime.monotonic() < deadline:
        if await asyncio.to_thread(_lines, log) >= n:
            return
        if proc.poll() is not None:
            err = proc.stderr.read().decode()[-2000:] if proc.stderr else ""
            raise AssertionError(f"the worker exited early: {err}")
        await asyncio.sleep(0.02)
    raise AssertionError("the worker sent nothing in time")


async def test_sigkill_while_nudges_are_due_then_restart_delivers_each_once(
    database: Database, demo_bot: PeerBot, tmp_path: Path
) -> None:
    meeting_id = await prepare(demo_bot, actions=40)
    # The worker's clock reads 08:45 on the meeting day: the agenda, "starting soon" and every
    # action reminder are due; the "add agenda items" nudge expired when the agenda went out.
    when = datetime(2026, 12, 9, 8, 45, tzinfo=UTC)
    pending = [r for r in await outbox_rows(demo_bot) if r.status == "pending"]
    expected = {r.key for r in pending}
    pointless = {r.key for r in pending if r.expires_at is not None and r.expires_at <= when}
    assert len(expected) > 40 and f"meeting:{meeting_id}:nudge:14d:0" in pointless
    offset = (when - datetime.now(UTC)).total_seconds()
    log = tmp_path / "sent.log"
    first = start_worker(database, log, offset, exit_when_idle=False)
    try:
        await wait_for_lines(log, 12, first)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    killed_after = len(log.read_text().splitlines())
    assert killed_after < len(expected), "killed too late to prove anything"
    # Restart after the dead worker's lease has run out.
    second = start_worker(
        database, log, offset + (outbox.LEASE + timedelta(minutes=1)).total_seconds(), exit_when_idle=True
    )
    try:
        code = await asyncio.to_thread(second.wait, 60)
    finally:
        if second.poll() is None:
            second.kill()
    assert code == 0, second.stderr.read().decode()[-2000:] if second.stderr else ""
    lines = [line.split(" ")[0] for line in log.read_text().splitlines()]
    counts = Counter(lines)
    assert [k for k, n in counts.items() if n > 1] == []
    rows = {r.key: r for r in await outbox_rows(demo_bot)}
    for key in pointless:  # pointless by then: skipped, never sent
        assert rows[key].status == "skipped" and key not in counts
    for key in expected - pointless:
        assert counts[key] == 1 and rows[key].status == "sent", key
    pids = {line.split(" ")[1] for line in log.read_text().splitlines()}
    assert len(pids) == 2  # both processes did part of the work


async def test_two_bots_sweep_and_deliver_on_one_database_at_once(database: Database, demo_bot: PeerBot) -> None:
    clock = clock_of(demo_bot)
    await prepare(demo_bot, actions=30)
    other_db = Database(database.url, schema=database.schema)
    other = await PeerBot.open(make_config(), db=other_db, clock=clock, migrate=False, platforms=["console"])
    t1, t2 = RecordingTransport(delay=0.002), RecordingTransport(delay=0.002)
    demo_bot.deliverer.register(t1)
    other.deliverer.register(t2)
    demo_bot.deliverer.batch = other.deliverer.batch = 5
    try:
        # Walk past the meeting in half-day steps, both bots sweeping and delivering concurrently.
        for _ in range(2 * 17):
            clock.advance(timedelta(hours=12))
            await asyncio.gather(sweep(demo_bot), sweep(other))
            await asyncio.gather(demo_bot.deliverer.drain(), other.deliverer.drain())
    finally:
        await other_db.dispose()
    keys = [s.key for s in t1.sent + t2.sent]
    assert keys and [k for k, n in Counter(keys).items() if n > 1] == []
    if database.dialect == "postgresql":  # SQLite serialises writers: one may do all the work
        assert t1.sent and t2.sent
    sent = {r.key for r in await outbox_rows(demo_bot) if r.status == "sent"}
    assert set(keys) == sent
    assert len([k for k in keys if k.startswith("action:")]) == 30
    # Both sweepers saw the same rows: one poll per half-term, never two meetings for one.
    rows = await meetings(demo_bot)
    assert len({(m.group_name, m.term_start) for m in rows}) == len(rows)
    polls = [k for k in keys if k.endswith(":poll")]
    assert len(polls) == len(set(polls)) >= 1
    async with demo_bot.db.session() as session:
        from sqlalchemy import func, select

        dupes = await session.execute(
            select(OutboxMessage.key, OutboxMessage.platform, func.count())
            .group_by(OutboxMessage.key, OutboxMessage.platform)
            .having(func.count() > 1)
        )
        assert dupes.all() == []
