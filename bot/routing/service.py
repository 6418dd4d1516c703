"""The routing service on a bot: one :class:`Router` with its strength index."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.routing.matcher import Matcher
from bot.routing.select import Router
from bot.routing.strengths import StrengthIndexCache

if TYPE_CHECKING:
    from bot.app import PeerBot


def router_of(bot: PeerBot) -> Router:
    """The bot's router, created on first use (start-up builds it ahead of the first question)."""
    router = bot.maybe_service(Router)
    if router is None:
        cache = StrengthIndexCache(
            Matcher(), bot.network_id, check_every=bot.config.settings.routing.index_check_seconds
        )
        router = Router(bot.config, cache)
        bot.provide(router)
    return router
