"""Waiting in tests for something that happens in the background."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def eventually(condition: Callable[[], bool], *, within: float = 5.0) -> None:
    """Wait (polling) until ``condition()`` holds; fail after ``within`` seconds."""
    for _ in range(int(within / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition did not hold in time")
