"""The core's neutral messages in Discord's idiom.

- Text: the neutral markup (``**bold**``, ``_italic_``, ``- `` bullets) is Discord
  markdown already; what Discord would read differently (``# `` headings, ``> ``
  quotes, ``-# `` subtext, ``@everyone``) is neutralised. Up to 2,000 characters go
  in the message's content; longer text (the core allows 3,500) goes in an embed.
- Buttons: :class:`PeerbotButton`, a ``discord.ui.DynamicItem`` whose ``custom_id`` is
  ``pb:<action>:<value>`` — stable, so a button still works after a restart (persistent:
  no timeout, registered once with ``Client.add_dynamic_items``).
- Files: attachments, as long as Discord will take them; a file that is too big is left
  off with a line saying so.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import Any

import discord

from bot.replies import Button, Message

CONTENT_LIMIT = 2000
EMBED_LIMIT = 4096
MAX_BUTTONS = 25  # five rows of five
LABEL_LIMIT = 80
DEFAULT_FILE_LIMIT = 10 * 1024 * 1024  # what Discord accepts from a bot in an unboosted server

CUSTOM_ID_TEMPLATE = r"pb:(?P<action>[^:]+):(?P<value>[\s\S]*)"
_CUSTOM_ID = re.compile(CUSTOM_ID_TEMPLATE)
_LINE_START = re.compile(r"^(\s*)(#{1,3} |-# |>>> |> )", re.M)
_MASS_MENTION = re.compile(r"@(everyone|here)\b")

STYLES = {
    "default": discord.ButtonStyle.secondary,
    "primary": discord.ButtonStyle.primary,
    "danger": discord.ButtonStyle.danger,
}
NEUTRAL_STYLES = {v: k for k, v in STYLES.items()}


def custom_id(action: str, value: str) -> str:
    return f"pb:{action}:{value}"


def parse_custom_id(cid: str) -> tuple[str, str] | None:
    m = _CUSTOM_ID.fullmatch(cid)
    return (m["action"], m["value"]) if m else None


def render_text(text: str) -> str:
    """Neutral markup as Discord markdown (they agree on bold, italics and bullets)."""
    text = _LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), text)
    return _MASS_MENTION.sub("@\u200b\\1", text)


class PeerbotButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=CUSTOM_ID_TEMPLATE):
    """A core :class:`~bot.replies.Button` on Discord. Pressing it, even on a message sent
    before a restart, calls the adapter with the button's own action and value."""

    def __init__(self, action: str, value: str, *, label: str = "…", style: str = "default") -> None:
        super().__init__(
            discord.ui.Button(
                label=label[:LABEL_LIMIT] or "…",
                style=STYLES.get(style, discord.ButtonStyle.secondary),
                custom_id=custom_id(action, value),
            )
        )
        self.action = action
        self.value = value

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
    ) -> PeerbotButton:
        label = getattr(item, "label", None) or "…"
        style = NEUTRAL_STYLES.get(getattr(item, "style", discord.ButtonStyle.secondary), "default")
        return cls(match["action"], match["value"], label=label, style=style)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        handler = getattr(interaction.client, "on_peerbot_button", None)
        if handler is not None:
            await handler(interaction, self.action, self.value)


@dataclass
class Rendered:
    """Keyword arguments for discord.py's send/edit, built fresh for each attempt."""

    content: str | None
    embed: discord.Embed | None
    buttons: tuple[Button, ...]
    files: list[tuple[str, bytes]] = field(default_factory=list)
    link: tuple[str, str] | None = None  # (label, url): a button that opens a thread

    def view(self) -> discord.ui.View | None:
        if not self.buttons and self.link is None:
            return None
        view = discord.ui.View(timeout=None)
        for b in self.buttons[: MAX_BUTTONS - (1 if self.link else 0)]:
            view.add_item(PeerbotButton(b.action, b.value, label=b.label, style=b.style))
        if self.link is not None:
            view.add_item(discord.ui.Button(label=self.link[0][:LABEL_LIMIT], url=self.link[1]))
        return view

    def discord_files(self) -> list[discord.File]:
        return [discord.File(io.BytesIO(data), filename=name) for name, data in self.files]

    def send_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if self.content is not None:
            kwargs["content"] = self.content
        if self.embed is not None:
            kwargs["embed"] = self.embed
        view = self.view()
        if view is not None:
            kwargs["view"] = view
        if self.files:
            kwargs["files"] = self.discord_files()
        return kwargs

    def edit_kwargs(self) -> dict[str, Any]:
        """Replace everything: text, embed and buttons (none left means none shown)."""
        kwargs: dict[str, Any] = {"content": self.content, "embed": self.embed, "view": self.view()}
        if self.files:
            kwargs["attachments"] = self.discord_files()
        return kwargs

    def signature(self) -> tuple[str, str, tuple[str, ...]]:
        """What identifies this message among the bot's recent ones (for a retried send)."""
        ids = tuple(custom_id(b.action, b.value) for b in self.buttons)
        return (
            self.content or "",
            (self.embed.description or "") if self.embed else "",
            ids + ((self.link[1],) if self.link else ()),
        )


def render(message: Message, *, file_limit: int = DEFAULT_FILE_LIMIT) -> Rendered:
    text = render_text(message.text)
    files: list[tuple[str, bytes]] = []
    for f in message.files:
        if len(f.data) > file_limit:
            text += f"\n_({f.name} is too big to attach here: {len(f.data) / 1_048_576:.1f} MB.)_"
        else:
            files.append((f.name, f.data))
    seen: set[str] = set()
    buttons: list[Button] = []
    for b in message.buttons:
        cid = custom_id(b.action, b.value)
        if cid in seen:  # Discord refuses two components with one custom_id
            continue
        seen.add(cid)
        buttons.append(b)
    buttons = buttons[:MAX_BUTTONS]
    content: str | None
    embed: discord.Embed | None = None
    if len(text) <= CONTENT_LIMIT:
        content = text if text.strip() else ("\u200b" if not (buttons or files) else None)
    else:
        content = None
        embed = discord.Embed(description=text[:EMBED_LIMIT])
    return Rendered(content=content, embed=embed, buttons=tuple(buttons), files=files)
