"""The inbox: events a platform has been told we have, kept in the database until handled.

An adapter calls :meth:`Inbox.put` *before* it acknowledges an event: the event (the core's
typed event, as JSON, with whatever the adapter needs to answer it) is committed first, so
an acknowledged event survives a crash, and when the write fails the adapter does not
acknowledge and the platform sends the event again. ``(platform, event_id)`` is unique: a
platform's retry of an event still waiting is not queued twice.

**Group commit.** Writes wait in one list; a single writer task commits everything waiting
in one transaction, then the next lot. Requests that arrive together share a commit, and
each one's acknowledgement waits for its own batch's commit (never longer).

**The drainer.** ``concurrency`` workers hand rows to the adapter's handler (which calls
:meth:`bot.app.PeerBot.handle`), one at a time per conversation (in the order they were
received) and conversations side by side. A row is deleted once handled and answered.
The handling's own transaction keeps its immediate replies in the row
(:func:`keep_replies`, called by the dispatcher), so a crash after that commit loses
nothing: when the row is next claimed (by the next start, or by another process taking it
over: see below) the claim hands the kept replies to the handler, which sends
them instead of handling the event again (the dispatcher would drop it anyway: it has
seen its id, ``seen_events``; an event without an id is given one here). Only a crash in
the instant between a reply going and the row's delete can repeat a reply, where the
adapter cannot find it sent (Slack looks for a posted one by its key; an ephemeral note
cannot be looked for).

**Several processes** (a deploy's old and new process side by side, or more than one
worker) share the table safely. Each row belongs to the process that took it in
(``owner``) for a *lease* (``lease_until``), which that process renews every third of
``lease`` seconds while it runs; only the owner claims a row. A process that stops lets go
of the rows it has not handled, and any running process takes over rows with no owner, or
whose owner's lease has run out (it died), when it starts and then every third of the
lease. So rows left by a crash are handled once the lease has run out (``lease``, default
:data:`LEASE_SECONDS`), by whichever process is running, and no row is claimed by a
second process while the first keeps its lease (a process stalled past its lease loses
its rows: its own claims then find them gone).

**A handler that keeps failing** does not block its conversation for ever: each attempt is
counted in the row *before* it starts (so an event that brings the process down counts
too); a failure is retried after a short pause, and after ``max_attempts`` the row is
dropped, logged by kind and id (never its text), and the adapter's ``gave_up`` hook tells
the person.

**Acknowledgements first.** While requests are being answered (:meth:`Inbox.receiving`),
a row waits for a quiet moment (no request for ``quiet_gap``) before it is handled, at most
``defer`` seconds after it was received, so a burst is acknowledged at full speed and
handled just after.

Rows hold what people wrote: erasure and retention cover them (:mod:`bot.privacy.inbox`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.base import conflict_insert
from bot.db.engine import Database
from bot.events import AnyEvent, event_from_json, event_to_json
from bot.models.messaging import InboxEvent

log = logging.getLogger("peerbot.inbox")

MAX_ATTEMPTS = 5
MAX_BATCH = 500
LEASE_SECONDS = 10.0  # how long rows stay a process's after it last said it is alive
EVENT_ID_CHARS = 128  # as seen_events keeps them


class InboxError(Exception):
    """The event was not kept: the platform must not be told we have it."""


class InboxFull(InboxError):
    """More events are waiting than the limit allows."""


class InboxClosed(InboxError):
    """The inbox is stopping (or has not started)."""


class InboxUnavailable(InboxError):
    """The database would not take the event."""


@dataclass(slots=True)
class InboxItem:
    """One waiting event, as the handler receives it."""

    id: int
    event: AnyEvent
    context: dict[str, Any]
    conversation: str
    attempts: int = 0
    since: float = 0.0  # loop time it was received (or found at start)
    # The immediate replies of a handling that committed but may not have sent them (a
    # crash): the handler sends these instead of handling the event again.
    replies: list[dict[str, Any]] | None = None


Handler = Callable[[InboxItem], Awaitable[None]]


@dataclass(slots=True)
class _Insert:
    row: dict[str, Any]
    event: AnyEvent
    future: asyncio.Future[bool]


Claimed = tuple[int, list[dict[str, Any]] | None]  # attempts (with this one), kept replies


@dataclass(slots=True)
class _Change:
    kind: str  # "claim" | "delete"
    row_id: int
    future: asyncio.Future[Claimed | None]


@dataclass
class _Batch:
    inserts: list[_Insert] = field(default_factory=list)
    changes: list[_Change] = field(default_factory=list)


def conversation_of(event: AnyEvent) -> str:
    """Events in one conversation (a channel, a DM) are handled in the order received."""
    return f"{event.place.platform}:{event.place.channel_id}"[:200]


class RequestTraffic:
    """Requests from a platform being answered now, and when the last one ended: work that
    can wait a moment (handling what was acknowledged) lets the acknowledgements go first.
    One is shared by everything behind an adapter's endpoint."""

    def __init__(self) -> None:
        self._answering = 0
        self._quiet = asyncio.Event()
        self._quiet.set()
        self._last = 0.0

    @property
    def quiet(self) -> bool:
        """No request is being answered now."""
        return self._quiet.is_set()

    @contextlib.contextmanager
    def receiving(self) -> Iterator[None]:
        """Around answering one request."""
        self._answering += 1
        self._quiet.clear()
        try:
            yield
        finally:
            self._answering -= 1
            self._last = asyncio.get_running_loop().time()
            if self._answering == 0:
                self._quiet.set()

    async def wait_quiet(self, deadline: float, *, gap: float = 0.0) -> None:
        """Wait until no request has been answered for ``gap`` seconds (a burst answered in
        lock-step has gaps of well under a millisecond between its requests; steady traffic
        leaves longer ones), or until the loop's clock reaches ``deadline``."""
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            remaining = deadline - now
            if remaining <= 0:
                return
            if self._quiet.is_set():
                calm = self._last + gap - now
                if calm <= 0:
                    return
                await asyncio.sleep(min(calm, remaining))
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._quiet.wait(), remaining)


class Inbox:
    def __init__(
        self,
        db: Database,
        *,
        network_id: int,
        platform: str,
        clock: Clock,
        handler: Handler,
        gave_up: Handler | None = None,
        concurrency: int = 8,
        limit: int = 10_000,
        max_attempts: int = MAX_ATTEMPTS,
        defer: float = 1.0,
        quiet_gap: float = 0.01,
        retry_pause: float = 0.5,
        traffic: RequestTraffic | None = None,
        lease: float = LEASE_SECONDS,
    ) -> None:
        self.db = db
        self.lease = lease
        self.owner = uuid.uuid4().hex[:16]  # this process's mark on the rows it holds
        self._keeper: asyncio.Task[None] | None = None
        self.network_id = network_id
        self.platform = platform
        self.clock = clock
        self.handler = handler
        self.gave_up = gave_up
        self.concurrency = concurrency
        self.limit = limit
        self.max_attempts = max_attempts
        self.defer = defer
        self.quiet_gap = quiet_gap
        self.retry_pause = retry_pause
        self.accepting = False
        # counters (health, tests, benchmarks)
        self.handled = 0
        self.failed = 0
        self.dropped = 0
        self.repeats = 0  # a platform's retry of an event already waiting
        # the writer
        self._batch = _Batch()
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._writing = 0
        self._committing = False
        self._writer_done = False
        self._insert: Any = None
        # the drainer
        self._waiting: dict[str, deque[InboxItem]] = {}
        self._count = 0
        self._ready: asyncio.Queue[str] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._running = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.traffic = traffic or RequestTraffic()
        self._closing = False
        self._timers: set[asyncio.TimerHandle] = set()

    # -- state ------------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Events kept and not yet handled (waiting, or being handled now)."""
        return self._count

    @property
    def running(self) -> int:
        """Events being handled now."""
        return self._running

    @property
    def backlog(self) -> int:
        """What counts against ``limit``: kept and waiting, plus being written now."""
        return self._count + self._writing

    async def idle(self) -> None:
        """Wait until nothing is waiting or being handled (tests, benchmarks)."""
        while self._count or self._writing:
            self._idle.clear()
            await self._idle.wait()

    def _maybe_idle(self) -> None:
        if not self._count and not self._writing:
            self._idle.set()

    def receiving(self) -> contextlib.AbstractContextManager[None]:
        """Around answering a request from the platform: handling waits for it (each row at
        most ``defer`` after it was received)."""
        return self.traffic.receiving()

    # -- starting and stopping -------------------------------------------------------------
    async def start(self, *, drain: bool = True) -> int:
        """Pick up the rows a previous run left, start the writer and (``drain``) the
        workers; returns how many rows were found."""
        self._closing = False
        found = await self._take_over()
        if self._writer is None or self._writer.done():
            self._writer_done = False
            self._writer = asyncio.create_task(self._write_forever(), name=f"inbox:{self.platform}:writer")
        if drain:
            self._workers = [
                asyncio.create_task(self._work_forever(), name=f"inbox:{self.platform}:{n}")
                for n in range(self.concurrency)
            ]
        self.accepting = True
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.create_task(self._keep_leases(), name=f"inbox:{self.platform}:leases")
        if found:
            log.info("inbox: %d %s events left from before will be handled now", found, self.platform)
        return found

    def _lease_end(self) -> datetime:
        return self.clock.now() + timedelta(seconds=self.lease)

    async def _take_over(self) -> int:
        """Renew the lease on this process's rows, and take the rows no running process
        holds (let go of, or whose owner's lease has run out); returns how many were taken.
        Holding nothing, with nothing to take, it only reads (no write lock, on SQLite)."""
        table: Table = InboxEvent.__table__  # type: ignore[assignment]
        now, until = self.clock.now(), self._lease_end()
        unheld = and_(
            table.c.network_id == self.network_id,
            table.c.platform == self.platform,
            or_(table.c.owner.is_(None), table.c.lease_until < now),
        )
        holding = bool(self._count or self._writing)
        if not holding:
            async with self.db.reading() as session:
                if (await session.execute(select(table.c.id).where(unheld).limit(1))).first() is None:
                    return 0
        async with self.db.engine.begin() as conn:
            if holding:
                await conn.execute(update(table).where(table.c.owner == self.owner).values(lease_until=until))
            taken = (
                await conn.execute(
                    update(table)
                    .where(unheld)
                    .values(owner=self.owner, lease_until=until)
                    .returning(table.c.id, table.c.event, table.c.context, table.c.conversation, table.c.attempts)
                )
            ).all()
            found = 0
            loop_now = asyncio.get_running_loop().time()
            known = {item.id for items in self._waiting.values() for item in items}
            for row_id, data, context, conversation, attempts in sorted(taken, key=lambda r: r[0]):
                if row_id in known:
                    continue
                try:
                    event = event_from_json(data)
                except ValueError as exc:
                    log.error(
                        "inbox: a stored %s event (row %d) cannot be read (%s); dropped", self.platform, row_id, exc
                    )
                    await conn.execute(delete(table).where(table.c.id == row_id))
                    continue
                self._add(InboxItem(row_id, event, dict(context), conversation, attempts, loop_now))
                found += 1
        return found

    async def _keep_leases(self) -> None:
        """While running: renew this process's leases, and take over what a process that
        died (or stopped) left, every third of the lease."""
        while not self._closing:
            await asyncio.sleep(self.lease / 3)
            if self._closing:
                return
            try:
                found = await self._take_over()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "inbox: could not renew the %s leases (%s); trying again", self.platform, type(exc).__name__
                )
                continue
            if found:
                log.info("inbox: took over %d %s events another process left", found, self.platform)

    async def _let_go(self) -> None:
        """Stopping: the rows not handled are left for any running process (or the next start)."""
        table: Table = InboxEvent.__table__  # type: ignore[assignment]
        async with self.db.engine.begin() as conn:
            await conn.execute(update(table).where(table.c.owner == self.owner).values(owner=None, lease_until=None))

    async def stop(self, grace: float) -> int:
        """Stop taking events, let those being handled finish within ``grace`` seconds (the
        rest stay in the database, let go of for any running process or the next start);
        returns how many were cut short."""
        self.accepting = False
        self._closing = True
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._keeper
            self._keeper = None
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for _ in self._workers:
            self._ready.put_nowait("")  # wake idle workers so they see the inbox closing
        cut = 0
        if self._workers:
            _, unfinished = await asyncio.wait(set(self._workers), timeout=grace)
            cut = self._running  # the others were only waiting for their turn
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
            if cut:
                log.warning(
                    "inbox: %d %s events were cut short at shutdown; they stay to be handled later", cut, self.platform
                )
        self._workers = []
        if self._writer is not None:
            # What is being written finishes first (acknowledgements wait on it).
            self._writer_done = True
            self._wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._writer), max(grace, 1.0))
            except TimeoutError:
                self._writer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._writer
            self._writer = None
        try:
            await asyncio.wait_for(self._let_go(), max(grace, 1.0))
        except Exception as exc:  # they stay this process's until its lease runs out
            log.warning("inbox: could not let go of the waiting %s events (%s)", self.platform, type(exc).__name__)
        self._waiting.clear()
        self._ready = asyncio.Queue()
        self._count = 0
        self._maybe_idle()
        return cut

    # -- in -----------------------------------------------------------------------------
    async def put(self, event: AnyEvent, context: dict[str, Any] | None = None) -> bool:
        """Keep ``event`` (and the adapter's ``context``: JSON-ready) until it is handled.

        Returns ``True`` once it is committed, ``False`` when it was already waiting (a
        retry). Raises :class:`InboxFull`, :class:`InboxClosed`, or :class:`InboxUnavailable`
        when the database would not take it: then the platform must not be acknowledged.
        """
        if not self.accepting:
            raise InboxClosed("the inbox is not taking events")
        if self.backlog >= self.limit:
            raise InboxFull(f"{self.backlog} events are waiting")
        if not event.event_id:
            event = replace(event, event_id=f"inbox:{uuid.uuid4().hex}")
        elif len(event.event_id) > EVENT_ID_CHARS:
            event = replace(event, event_id=event.event_id[:EVENT_ID_CHARS])
        assert event.event_id is not None
        row = {
            "network_id": self.network_id,
            "platform": self.platform,
            "event_id": event.event_id,
            "conversation": conversation_of(event),
            "sender_id": event.sender.user_id[:64],
            "event": event_to_json(event),
            "context": context or {},
            "received_at": self.clock.now(),
            "attempts": 0,
            "owner": self.owner,
            "lease_until": self._lease_end(),
        }
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._batch.inserts.append(_Insert(row, event, future))
        self._writing += 1
        self._idle.clear()
        self._wake.set()
        try:
            return await future
        finally:
            self._writing -= 1
            self._maybe_idle()

    async def _change(self, kind: str, row_id: int) -> Claimed | None:
        future: asyncio.Future[Claimed | None] = asyncio.get_running_loop().create_future()
        self._batch.changes.append(_Change(kind, row_id, future))
        self._wake.set()
        return await future

    # -- the writer: one transaction for everything waiting ---------------------------------
    async def _write_forever(self) -> None:
        while not self._writer_done:
            await self._wake.wait()
            self._wake.clear()
            while self._batch.inserts or self._batch.changes:
                batch, self._batch = self._batch, _Batch()
                if len(batch.inserts) > MAX_BATCH:
                    self._batch.inserts, batch.inserts = batch.inserts[MAX_BATCH:], batch.inserts[:MAX_BATCH]
                self._committing = True
                try:
                    added, changed = await self._commit(batch)
                except asyncio.CancelledError:
                    self._fail(batch, InboxClosed("the inbox stopped"))
                    raise
                except Exception as exc:
                    log.error(
                        "inbox: could not write %d %s events (%s)",
                        len(batch.inserts),
                        self.platform,
                        type(exc).__name__,
                    )
                    self._fail(batch, InboxUnavailable(type(exc).__name__))
                    continue
                finally:
                    self._committing = False
                self._settle(batch, added, changed)

    async def _commit(self, batch: _Batch) -> tuple[dict[str, int], dict[int, Claimed | None]]:
        """One transaction for the batch. Core statements built once, run as executemany
        (SQLAlchemy sends the rows in one multi-row INSERT ... RETURNING): a batch costs
        about what one row does."""
        added: dict[str, int] = {}
        changed: dict[int, Claimed | None] = {}
        table: Table = InboxEvent.__table__  # type: ignore[assignment]
        async with self.db.engine.begin() as conn:
            if batch.inserts:
                if self._insert is None:
                    insert = conflict_insert(conn.dialect.name)
                    self._insert = (
                        insert(table)
                        .on_conflict_do_nothing(index_elements=["platform", "event_id"])
                        .returning(table.c.id, table.c.event_id)
                    )
                rows: dict[str, dict[str, Any]] = {}
                for op in batch.inserts:
                    rows.setdefault(op.row["event_id"], op.row)  # a retry in the same batch: once
                for row_id, event_id in (await conn.execute(self._insert, list(rows.values()))).all():
                    added[event_id] = row_id
            claims = [c.row_id for c in batch.changes if c.kind == "claim"]
            if claims:
                claim = (  # only a row still this process's: another may have taken it over
                    update(table)
                    .where(table.c.id.in_(claims), table.c.owner == self.owner)
                    .values(attempts=table.c.attempts + 1, lease_until=self._lease_end())
                    .returning(table.c.id, table.c.attempts, table.c.replies)
                )
                for row_id, attempts, replies in (await conn.execute(claim)).all():
                    changed[row_id] = (attempts, replies)
            deletes = [c.row_id for c in batch.changes if c.kind == "delete"]
            if deletes:
                await conn.execute(delete(table).where(table.c.id.in_(deletes)))
                for row_id in deletes:
                    changed[row_id] = (0, None)
        return added, changed

    def _fail(self, batch: _Batch, exc: Exception) -> None:
        futures: list[asyncio.Future[Any]] = [op.future for op in batch.inserts]
        futures += [change.future for change in batch.changes]
        for future in futures:
            if not future.done():
                future.set_exception(exc)

    def _settle(self, batch: _Batch, added: dict[str, int], changed: dict[int, Claimed | None]) -> None:
        now = asyncio.get_running_loop().time()
        for op in sorted(batch.inserts, key=lambda o: added.get(o.row["event_id"], 0)):
            row_id = added.pop(op.row["event_id"], None)
            if row_id is not None:
                self._add(InboxItem(row_id, op.event, op.row["context"], op.row["conversation"], 0, now))
            else:
                self.repeats += 1
            if not op.future.done():
                op.future.set_result(row_id is not None)
        for change in batch.changes:
            if not change.future.done():
                change.future.set_result(changed.get(change.row_id))

    # -- the drainer ----------------------------------------------------------------------
    def _add(self, item: InboxItem) -> None:
        items = self._waiting.get(item.conversation)
        if items is None:
            items = self._waiting[item.conversation] = deque()
        if not items:
            self._ready.put_nowait(item.conversation)
        items.append(item)
        self._count += 1
        self._idle.clear()

    def _done(self, conversation: str) -> None:
        items = self._waiting.get(conversation)
        if items:
            items.popleft()
            self._count -= 1
        if items:
            self._ready.put_nowait(conversation)
        else:
            self._waiting.pop(conversation, None)
        self._maybe_idle()

    def _later(self, conversation: str, delay: float) -> None:
        def again() -> None:
            self._timers.discard(timer)
            if not self._closing:
                self._ready.put_nowait(conversation)

        timer = asyncio.get_running_loop().call_later(delay, again)
        self._timers.add(timer)

    async def _work_forever(self) -> None:
        while not self._closing:
            conversation = await self._ready.get()
            items = self._waiting.get(conversation)
            if self._closing or not items:
                continue
            item = items[0]
            await self._wait_turn(item)
            if self._closing:
                return
            self._running += 1
            try:
                await self._one(item)
            finally:
                self._running -= 1

    async def _wait_turn(self, item: InboxItem) -> None:
        """Wait until requests have been quiet for ``quiet_gap`` seconds, or until the row
        has waited ``defer`` since it was received."""
        await self.traffic.wait_quiet(item.since + self.defer, gap=self.quiet_gap)

    async def _one(self, item: InboxItem) -> None:
        kind = type(item.event).__name__
        try:
            claimed = await self._change("claim", item.id)
        except InboxError:
            self._later(item.conversation, self.retry_pause)  # the database: try again shortly
            return
        if claimed is None:
            self._done(item.conversation)  # gone (erased, handled), or taken over by another process
            return
        attempts, item.replies = claimed
        item.attempts = attempts
        if attempts > self.max_attempts:
            await self._give_up(item, kind, "it was being handled when the process stopped")
            return
        try:
            await self.handler(item)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.failed += 1
            log.error(
                "inbox: handling a %s (%s) failed (%s), attempt %d of %d",
                kind,
                item.event.event_id,
                type(exc).__name__,
                attempts,
                self.max_attempts,
                exc_info=log.isEnabledFor(logging.DEBUG),
            )
            if attempts >= self.max_attempts:
                await self._give_up(item, kind, f"it failed {attempts} times")
            else:
                self._later(item.conversation, self.retry_pause * 2 ** (attempts - 1))
            return
        self.handled += 1
        await self._forget(item)

    async def _give_up(self, item: InboxItem, kind: str, why: str) -> None:
        self.dropped += 1
        log.error("inbox: gave up on a %s from %s (%s), %s", kind, self.platform, item.event.event_id, why)
        if self.gave_up is not None:
            try:
                await self.gave_up(item)
            except Exception as exc:
                log.warning("inbox: could not tell the sender (%s)", type(exc).__name__)
        await self._forget(item)

    async def _forget(self, item: InboxItem) -> None:
        try:
            await self._change("delete", item.id)
        except InboxError as exc:
            # The row stays: claimed again later (here, or by another process), it is dropped as a repeat.
            log.warning("inbox: could not remove a handled %s event (%s)", self.platform, exc)
        self._done(item.conversation)


async def keep_replies(session: AsyncSession, row_id: int, replies: list[dict[str, Any]]) -> None:
    """In the handling's transaction: keep its immediate replies (JSON, see
    :func:`bot.replies.replies_to_json`) in the event's row until they have gone."""
    await session.execute(update(InboxEvent).where(InboxEvent.id == row_id).values(replies=replies))
