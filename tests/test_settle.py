"""After start-up, the long-running bot keeps what start-up built out of the garbage
collector's full passes (they would otherwise pause answering for tens of milliseconds)."""

from __future__ import annotations

import gc

from bot.app import PeerBot


async def test_settling_freezes_what_start_up_built(bot: PeerBot) -> None:
    try:
        bot.settle()
        assert gc.get_freeze_count() > 1000
        assert not any(o is bot for o in gc.get_objects())  # the collector's passes no longer walk it
    finally:
        gc.unfreeze()
