"""peerbot on Slack: slack-bolt's AsyncApp in Socket Mode or HTTP mode.

Registered as the ``slack`` entry of ``peerbot.adapters``; ``peerbot slack check`` and
``peerbot slack manifest`` come through ``peerbot.cli``.
"""

from adapters.slack.app import SlackAdapter

__all__ = ["SlackAdapter"]
