"""Adapters and their CLI commands are plugins, found through entry points.

The core never imports an adapter: ``peerbot run`` looks each configured platform up in
the ``peerbot.adapters`` entry-point group, and adapters add commands such as
``peerbot slack check`` through the ``peerbot.cli`` group.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Protocol

from bot.errors import ConfigError

if TYPE_CHECKING:
    from bot.app import PeerBot

EXTRAS = {"slack": "slack", "discord": "discord"}


class Adapter(Protocol):
    """A running connection to one platform."""

    platform: str

    async def run(self) -> None:
        """Connect and serve until :meth:`stop` is called (or, for the console, input ends)."""
        ...

    async def stop(self) -> None: ...


AdapterFactory = Callable[["PeerBot"], Adapter]
CliRegistrar = Callable[[Any], None]  # called with the top-level subparsers action


def load_adapter(platform: str) -> AdapterFactory:
    for ep in entry_points(group="peerbot.adapters"):
        if ep.name == platform:
            try:
                factory: AdapterFactory = ep.load()
            except ImportError as exc:
                extra = EXTRAS.get(platform, platform)
                raise ConfigError(
                    f"the {platform} adapter needs packages that are not installed ({exc.name}): "
                    f"pip install 'peerbot[{extra}]'"
                ) from None
            return factory
    extra = EXTRAS.get(platform, platform)
    raise ConfigError(f"there is no {platform} adapter installed: pip install 'peerbot[{extra}]'")


def cli_registrars() -> list[CliRegistrar]:
    found: list[CliRegistrar] = []
    for ep in sorted(entry_points(group="peerbot.cli"), key=lambda e: e.name):
        try:
            found.append(ep.load())
        except ImportError:
            continue  # that platform's extra is not installed; its commands are simply absent
    return found
