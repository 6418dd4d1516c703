"""peerbot on Discord, through discord.py 2.x.

Registered as the ``discord`` entry point of ``peerbot.adapters`` (``peerbot run`` with
``platforms.run = ["discord"]``), and ``peerbot discord check`` through ``peerbot.cli``.
The core never imports this package.
"""

import discord

# peerbot never joins voice channels: don't warn that voice libraries are missing.
discord.VoiceClient.warn_nacl = False
discord.VoiceClient.warn_dave = False

from adapters.discord.adapter import DiscordAdapter  # noqa: E402

__all__ = ["DiscordAdapter"]
