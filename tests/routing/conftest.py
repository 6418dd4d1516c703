"""Fixtures: a bot on the labelled 24-school network, with a recording chat."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.app import PeerBot
from bot.clock import FrozenClock
from bot.db.engine import Database
from tests.conftest import make_config
from tests.support.chat import Chat
from tests.support.routing import load_network


@pytest.fixture
def routing_settings() -> dict[str, Any]:
    """Override in a test module to change ``[routing]``."""
    return {}


@pytest.fixture
async def net_bot(database: Database, clock: FrozenClock, routing_settings: dict[str, Any]) -> AsyncIterator[PeerBot]:
    config = make_config({"routing": {"index_check_seconds": 0, **routing_settings}})
    bot = await PeerBot.open(config, db=database, clock=clock, migrate=False, platforms=["console"])
    await load_network(bot)
    try:
        yield bot
    finally:
        bot._stop.set()


@pytest.fixture
async def net(net_bot: PeerBot) -> Chat:
    return Chat(net_bot)
