"""peerbot: the platform-neutral core.

Nothing in this package imports Slack, Discord or any adapter; adapters are found
through the ``peerbot.adapters`` entry points (see :mod:`bot.plugins`).
"""

__version__ = "0.1.0"
