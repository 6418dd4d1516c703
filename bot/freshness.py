"""Looking for other processes' changes ahead of the questions that need them.

Routing's in-memory state (:mod:`bot.routing.looks`) and the knowledge-base index
(:mod:`knowledge.service`) each look at the database for what other processes changed at
most every few seconds, when next used. Such a look costs a query (a millisecond or two on
SQLite), and it used to land on whichever question arrived once the interval had passed.

While questions are coming in, :func:`keep_fresh` takes that look in the background a
little before it falls due (and reads again whatever moved), so questions find the state
fresh and never pay for it. How fresh the state is stays as configured: no older than the
interval. Once nothing has used the state for ``busy_for`` seconds the task stops looking
(an idle bot sends the database nothing), and the first question after a quiet spell looks
for itself, as before. With an interval of 0 every use looks, and there is nothing to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.engine import Database

log = logging.getLogger(__name__)

BUSY_SECONDS = 120.0  # looks go on this long after the last use


async def keep_fresh(
    db: Database,
    stop: asyncio.Event,
    *,
    every: float,
    last_used: Callable[[], float],
    look: Callable[[AsyncSession, float], Awaitable[object]],
    busy_for: float = BUSY_SECONDS,
    timer: Callable[[], float] = time.monotonic,
) -> None:
    """Until ``stop``: every ``every / 2`` seconds, while the state was used (``last_used()``,
    on ``timer``) within ``busy_for`` seconds, call ``look(session, ahead)`` in a transaction
    of its own that only reads (:meth:`Database.reading`: on SQLite it takes no write lock),
    ``ahead`` being how soon a look would fall due that should be taken now."""
    tick = every / 2
    if tick <= 0:
        return
    while not stop.is_set():
        if timer() - last_used() < busy_for:
            try:
                async with db.reading() as session:
                    await look(session, tick)
            except Exception:  # the next use looks for itself; try again next time
                log.exception("looking for changes in the background failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=tick)
