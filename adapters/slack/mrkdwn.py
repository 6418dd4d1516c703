"""Text both ways: the core's neutral markup to Slack ``mrkdwn``, and Slack's message
markup (``<@U1>``, ``<https://x|label>``, ``&amp;``) to the plain text the core reads."""

from __future__ import annotations

import html
import re

_BOLD = re.compile(r"\*\*(.+?)\*\*", re.S)
_BULLET = re.compile(r"^(\s*)- ", re.M)


def to_mrkdwn(text: str) -> str:
    """``**bold**`` → ``*bold*``, ``- `` bullets → ``•``; ``&``, ``<`` and ``>`` always
    escaped.

    The core's text carries people's words (a question, an answer), so nothing in it is
    allowed to become a Slack token: ``<!channel>``, ``<!here>``, ``<@U…>`` or a link typed
    (or smuggled in as ``&lt;!channel&gt;``) reaches Slack as the characters it is made of.
    The only live mentions are the ones the adapter itself adds, outside this function
    (:func:`adapters.slack.blocks.message_payload`'s ``lead``).
    """
    out = escape(text)
    out = _BOLD.sub(r"*\1*", out)
    return _BULLET.sub(r"\1• ", out)


def to_plain(text: str) -> str:
    """The neutral markup without its marks: for notification previews and fallbacks
    (Slack reads that text as mrkdwn too, so it is escaped the same way)."""
    out = _BOLD.sub(r"\1", escape(text))
    return _BULLET.sub(r"\1• ", out)


def escape(text: str) -> str:
    """Slack's three control characters as entities: the text shows as typed, never as a
    mention, a ping or a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")


def from_slack(text: str, *, bot_user_id: str | None) -> tuple[str, bool]:
    """Slack message text → (plain text, whether it mentions the bot).

    The bot's own mention is removed; other people's mentions, links, channel names and
    special mentions become readable text (``@Jo``, ``#heads``, ``@channel``), never
    tokens, so that the core's text holds no Slack markup; HTML entities are decoded (what
    comes out may contain ``<`` and ``>`` as typed: :func:`to_mrkdwn` escapes them again).
    """
    mentioned = False
    if bot_user_id:
        bot_mention = re.compile(r"\s*<@" + re.escape(bot_user_id) + r"(?:\|[^<>]*)?>")
        text, n = bot_mention.subn("", text)
        mentioned = n > 0

    def link(m: re.Match[str]) -> str:
        target, label = m.group(1), m.group(2)
        if target.startswith("@"):
            return f"@{label}" if label else target  # another person: readable, never a ping
        if target.startswith("#"):
            return f"#{label}" if label else target
        if target.startswith("!"):
            name = target[1:].split("^", 1)[0]
            if label:
                return label
            return f"@{name}" if name in ("here", "channel", "everyone") else ""
        if target.startswith("mailto:"):
            return label or target[len("mailto:") :]
        if label and label != target:
            return f"{label} ({target})"
        return target

    text = _LINK.sub(link, text)
    text = html.unescape(text) if "&" in text else text
    text = text.strip()
    if mentioned:
        text = text.lstrip(":,; ").strip()
    return text, mentioned
