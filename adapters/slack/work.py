"""Work that continues after Slack has been acknowledged: tracked, bounded, drained.

Since the inbox (:mod:`bot.inbox`) keeps every event the core handles, this pool runs only
what is not worth keeping across a restart: opening a form (its trigger lasts three
seconds) and drawing the App Home tab.

Bolt acknowledges and then forgets: its listener tasks are unbounded and lost on
shutdown. Here every piece of work is a task in one set, at most ``concurrency`` run at
once, at most ``limit`` wait (beyond that :meth:`WorkPool.submit` says no, and the
listener tells Slack to try again later), and :meth:`WorkPool.drain` finishes what was
acknowledged before the process exits.

Acknowledgements come first: while requests from Slack are being answered
(:meth:`WorkPool.receiving`), work waits for a quiet moment before it starts, so a burst
of events is acknowledged at full speed and handled just after, instead of the two
competing for the same CPU (and Slack's three seconds). That wait happens *before* a job
takes a worker, and lasts at most ``defer`` seconds from when the job was submitted: under
sustained traffic, when requests overlap without a break, every waiting job is released
``defer`` after it arrived and the workers run at full speed (waiting inside a worker's
slot instead let eight workers handle about eight jobs a second).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from bot.inbox import RequestTraffic

log = logging.getLogger("peerbot.slack")


class WorkPool:
    def __init__(
        self, *, concurrency: int, limit: int, defer: float = 1.0, traffic: RequestTraffic | None = None
    ) -> None:
        self.concurrency = concurrency
        self.limit = limit
        self.defer = defer
        self._semaphore = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self.traffic = traffic or RequestTraffic()
        self.accepting = True
        self.done = 0
        self.failed = 0
        self.refused = 0
        self.deferred = 0  # jobs waiting for requests to go quiet (holding no worker)

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def submit(self, job: Callable[[], Awaitable[None]], *, label: str) -> bool:
        """Start ``job`` in the background; ``False`` when full or shutting down.

        ``label`` names the kind of work for logs (``"message"``), never its content.
        """
        if not self.accepting or len(self._tasks) >= self.limit:
            self.refused += 1
            return False
        deadline = asyncio.get_running_loop().time() + self.defer
        task = asyncio.create_task(self._run(job, label, deadline), name=f"slack:{label}")
        self._tasks.add(task)
        self._idle.clear()
        task.add_done_callback(self._finished)
        return True

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not self._tasks:
            self._idle.set()

    def receiving(self) -> contextlib.AbstractContextManager[None]:
        """Around answering a request from Slack: work not yet started waits for it (each
        job at most ``defer`` after it was submitted)."""
        return self.traffic.receiving()

    async def _run(self, job: Callable[[], Awaitable[None]], label: str, deadline: float) -> None:
        if not self.traffic.quiet:
            # Acknowledgements first, but without holding a worker, and never past `deadline`.
            self.deferred += 1
            try:
                await self.traffic.wait_quiet(deadline)
            finally:
                self.deferred -= 1
        async with self._semaphore:
            started = time.monotonic()
            try:
                await job()
                self.done += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.failed += 1
                log.error(
                    "slack: handling a %s failed (%s) after %.0f ms",
                    label,
                    type(exc).__name__,
                    (time.monotonic() - started) * 1000,
                    exc_info=log.isEnabledFor(logging.DEBUG),
                )

    async def idle(self) -> None:
        """Wait until nothing is running or waiting (tests, benchmarks)."""
        while self._tasks:
            await self._idle.wait()

    async def drain(self, grace: float) -> int:
        """Stop taking work, finish what was taken within ``grace`` seconds, cancel the
        rest; returns how many had to be cancelled."""
        self.accepting = False
        if not self._tasks:
            return 0
        _, unfinished = await asyncio.wait(set(self._tasks), timeout=grace)
        for task in unfinished:
            task.cancel()
        if unfinished:
            await asyncio.gather(*unfinished, return_exceptions=True)
            log.warning("slack: %d acknowledged events were still being handled at shutdown", len(unfinished))
        return len(unfinished)
