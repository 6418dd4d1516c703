"""peerbot on Discord, through discord.py 2.x.

Registered as the ``discord`` entry point of ``peerbot.adapters`` (``peerbot run`` with
``platforms.run = ["discord"]``), and ``peerbot discord check`` through ``peerbot.cli``.
The core never imports this package.
"""

from adapters.discord.adapter import DiscordAdapter

__all__ = ["DiscordAdapter"]
