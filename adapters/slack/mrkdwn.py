"""Text both ways: the core's neutral markup to Slack ``mrkdwn``, and Slack's message
markup (``<@U1>``, ``<https://x|label>``, ``&amp;``) to the plain text the core reads."""

from __future__ import annotations

import html
import re

# Slack's own tokens that must survive escaping: user, channel, group and special mentions.
_SLACK_TOKEN = re.compile(r"<(?:@[UW][A-Z0-9]+|#[CG][A-Z0-9]+(?:\|[^<>]*)?|!(?:here|channel|everyone))>")
_BOLD = re.compile(r"\*\*(.+?)\*\*", re.S)
_BULLET = re.compile(r"^(\s*)- ", re.M)


def to_mrkdwn(text: str) -> str:
    """``**bold**`` → ``*bold*``, ``- `` bullets → ``•``; ``&``, ``<`` and ``>`` escaped
    except inside Slack's own mention tokens, so user text cannot forge a link or a ping."""
    parts: list[str] = []
    pos = 0
    for m in _SLACK_TOKEN.finditer(text):
        parts.append(_escape(text[pos : m.start()]))
        parts.append(m.group(0))
        pos = m.end()
    parts.append(_escape(text[pos:]))
    out = "".join(parts)
    out = _BOLD.sub(r"*\1*", out)
    return _BULLET.sub(r"\1• ", out)


def to_plain(text: str) -> str:
    """The neutral markup without its marks: for notification previews and fallbacks."""
    out = _BOLD.sub(r"\1", text)
    return _BULLET.sub(r"\1• ", out)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")


def from_slack(text: str, *, bot_user_id: str | None) -> tuple[str, bool]:
    """Slack message text → (plain text, whether it mentions the bot).

    The bot's own mention is removed; other people's mentions stay as Slack tokens (they
    render again if the core echoes the text back to Slack); links, channel names and
    special mentions become readable text; HTML entities are decoded.
    """
    mentioned = False
    if bot_user_id:
        bot_mention = re.compile(r"\s*<@" + re.escape(bot_user_id) + r"(?:\|[^<>]*)?>")
        text, n = bot_mention.subn("", text)
        mentioned = n > 0

    def link(m: re.Match[str]) -> str:
        target, label = m.group(1), m.group(2)
        if target.startswith("@"):
            return m.group(0)  # another person's mention: keep the token
        if target.startswith("#"):
            return f"#{label}" if label else m.group(0)
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
