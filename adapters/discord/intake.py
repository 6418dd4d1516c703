"""Work that arrives from the gateway, handled in order per channel; and the cursors.

The gateway loop only filters a message and queues it: handling (the core, the database,
replies) happens in a few workers. Everything from one group channel — its messages,
its threads' messages, and the catch-up read of its history — goes to the same worker,
so a question is handled before the follow-up posted under it.

The queues are bounded (``capacity`` items each): a flood faster than the core can
handle is not held in memory. What does not fit is *deferred* instead — for a message,
a read of its channel's history from that message on (the adapter decides; history is
the source) — and queued behind what is already waiting as soon as there is room.

:class:`Cursors` remembers the newest message handled in each watched channel, thread
and DM conversation (kept as ``dm:<id>``). It only moves after a message was handled,
and is written to the database every few seconds and at shutdown; a crash in between
means a little history is read again on reconnect, and the core drops what it has seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Hashable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from bot.db.engine import Database
from bot.dispatch.dispatcher import replies_gone
from bot.models.discord_state import DiscordCursor

log = logging.getLogger(__name__)


QUEUE_CAPACITY = 500  # items waiting per worker


class Intake:
    def __init__(
        self, process: Callable[[Any], Awaitable[None]], *, workers: int = 4, capacity: int = QUEUE_CAPACITY
    ) -> None:
        self.process = process
        count = max(1, workers)
        self.queues: list[asyncio.Queue[Any]] = [asyncio.Queue(maxsize=max(1, capacity)) for _ in range(count)]
        # Per queue, work that did not fit, by key (one each), in the order it was deferred.
        self.deferred: list[dict[Hashable, Any]] = [{} for _ in range(count)]
        self.tasks: list[asyncio.Task[None]] = []
        self.busy: set[asyncio.Task[None]] = set()
        self.closing = False
        self.handled = 0

    def start(self) -> None:
        self.closing = False
        if not self.tasks:
            self.tasks = [
                asyncio.create_task(self._work(i), name=f"discord-intake-{i}") for i in range(len(self.queues))
            ]

    def submit(self, route: int, item: Any) -> bool:
        """Queue ``item``; ``False`` when its queue is full (nothing was queued)."""
        try:
            self.queues[route % len(self.queues)].put_nowait(item)
        except asyncio.QueueFull:
            return False
        return True

    def defer(self, route: int, key: Hashable, item: Any) -> None:
        """Queue ``item`` once there is room (at once if there is); one item per ``key``."""
        index = route % len(self.queues)
        deferred = self.deferred[index]
        if key in deferred:
            return
        deferred[key] = item
        self._refill(index)

    def submit_or_defer(self, route: int, key: Hashable, item: Any) -> None:
        if not self.submit(route, item):
            self.defer(route, key, item)

    def _refill(self, index: int) -> None:
        queue, deferred = self.queues[index], self.deferred[index]
        while deferred and not queue.full():
            key = next(iter(deferred))
            queue.put_nowait(deferred.pop(key))

    def pending(self) -> int:
        return sum(q.qsize() for q in self.queues) + sum(len(d) for d in self.deferred)

    async def join(self) -> None:
        """Wait until everything submitted so far has been handled."""
        for q in self.queues:
            await q.join()

    async def _work(self, index: int) -> None:
        queue = self.queues[index]
        me = asyncio.current_task()
        assert me is not None
        while not self.closing:
            item = await queue.get()
            self.busy.add(me)
            try:
                await self.process(item)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("handling a Discord %s failed", type(item).__name__)
            finally:
                self.busy.discard(me)
                self.handled += 1
                self._refill(index)  # before task_done: join() must not see an empty queue
                queue.task_done()

    async def stop(self, grace: float = 5.0) -> None:
        """Finish what is being handled (up to ``grace`` seconds), drop the rest: what was
        dropped from a channel is read again from its history on the next start."""
        self.closing = True
        for task in self.tasks:
            if task not in self.busy:
                task.cancel()
        busy = [t for t in self.tasks if t in self.busy]
        if busy:
            await asyncio.wait(busy, timeout=grace)
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.tasks = []
        self.busy.clear()
        for queue, deferred in zip(self.queues, self.deferred, strict=True):  # let go of what was dropped
            deferred.clear()
            while not queue.empty():
                queue.get_nowait()
                queue.task_done()


class Cursors:
    def __init__(self, db: Database, network_id: int) -> None:
        self.db = db
        self.network_id = network_id
        self.values: dict[int, int] = {}
        self.dms: set[int] = set()  # which of the channels are DM conversations
        self.dirty: set[int] = set()
        self.sent: set[str] = set()  # events whose kept replies have gone (let go of with the save)
        self._lock = asyncio.Lock()

    async def load(self) -> None:
        async with self.db.session() as session:
            rows = await session.execute(
                select(DiscordCursor.channel_id, DiscordCursor.message_id).where(
                    DiscordCursor.network_id == self.network_id
                )
            )
            self.values, self.dms = {}, set()
            for key, message_id in rows:
                cid = int(key.removeprefix("dm:"))
                self.values[cid] = int(message_id)
                if key.startswith("dm:"):
                    self.dms.add(cid)

    def get(self, channel_id: int) -> int | None:
        return self.values.get(channel_id)

    def advance(self, channel_id: int, message_id: int, *, dm: bool = False) -> None:
        if dm:
            self.dms.add(channel_id)
        if message_id > self.values.get(channel_id, 0):
            self.values[channel_id] = message_id
            self.dirty.add(channel_id)

    def replied(self, event_id: str) -> None:
        """The replies the core kept for this event have gone: let go of them with the next
        save (see :meth:`bot.dispatch.dispatcher.Dispatcher.handle_keeping`)."""
        self.sent.add(event_id)

    async def flush(self) -> None:
        async with self._lock:
            if not self.dirty and not self.sent:
                return
            changed = {cid: self.values[cid] for cid in self.dirty}
            sent = set(self.sent)
            self.dirty.clear()
            self.sent.clear()
            try:
                async with self.db.session() as session:
                    await replies_gone(session, "discord", sorted(sent))
                    for cid, mid in changed.items():
                        key = f"dm:{cid}" if cid in self.dms else str(cid)
                        row = await session.get(DiscordCursor, (self.network_id, key))
                        if row is None:
                            session.add(
                                DiscordCursor(
                                    network_id=self.network_id,
                                    channel_id=key,
                                    message_id=str(mid),
                                    updated_at=datetime.now(UTC),
                                )
                            )
                        elif int(row.message_id) < mid:
                            row.message_id = str(mid)
                            row.updated_at = datetime.now(UTC)
            except BaseException:
                self.dirty.update(changed)
                self.sent.update(sent)
                raise

    async def run_flusher(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not save the Discord channel cursors; will try again")
