"""The core's neutral messages as Block Kit: messages, the App Home view and modals.

Limits kept here, not trusted to the core: 3,000 characters per section, 75 per button
label, 25 buttons per actions block, 50 blocks per message and 100 per view, 255 per
``action_id`` and 2,000 per button ``value``. A button's ``action_id`` is the core's
``action`` plus ``:`` and its position, so that two buttons with one action (a poll's
dates) stay distinct; :func:`action_of` takes the position off again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from adapters.slack.mrkdwn import to_mrkdwn, to_plain
from bot.home import HomeSection
from bot.replies import Button, Message

SECTION_CHARS = 3000
LABEL_CHARS = 75
BUTTONS_PER_BLOCK = 25
MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
ACTION_ID_CHARS = 255
VALUE_CHARS = 2000
FALLBACK_CHARS = 3000

ADAPTER_ACTION = "slack~"  # actions the adapter handles itself (a home shortcut opening a modal)
MODAL_CALLBACK = "peerbot.command"

Block = dict[str, Any]


def action_of(action_id: str) -> str:
    """``referral.accept:2`` → ``referral.accept`` (the core's actions contain no ``:``)."""
    return action_id.split(":", 1)[0]


def chunks(text: str, limit: int = SECTION_CHARS) -> list[str]:
    """Split at line breaks (or, for one huge line, anywhere) into pieces of ``limit``."""
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            pieces.append(current)
            current = line
        else:
            current = candidate
    if current or not pieces:
        pieces.append(current)
    return [p for p in pieces if p.strip()] or [" "]


def button_elements(buttons: Sequence[Button], *, offset: int = 0) -> list[Block]:
    elements: list[Block] = []
    for i, b in enumerate(buttons, start=offset):
        label = b.label if len(b.label) <= LABEL_CHARS else b.label[: LABEL_CHARS - 1] + "…"
        element: Block = {
            "type": "button",
            "text": {"type": "plain_text", "text": label or " ", "emoji": True},
            "action_id": f"{b.action}:{i}"[:ACTION_ID_CHARS],
        }
        if b.value:
            element["value"] = b.value[:VALUE_CHARS]
        if b.style != "default":
            element["style"] = b.style
        elements.append(element)
    return elements


def actions_blocks(buttons: Sequence[Button], *, block_prefix: str = "pb-actions", offset: int = 0) -> list[Block]:
    """Buttons in rows of 25; positions count from ``offset`` so that every ``action_id``
    in a message or view is distinct."""
    blocks: list[Block] = []
    for start in range(0, len(buttons), BUTTONS_PER_BLOCK):
        group = buttons[start : start + BUTTONS_PER_BLOCK]
        blocks.append(
            {
                "type": "actions",
                "block_id": f"{block_prefix}-{start // BUTTONS_PER_BLOCK}",
                "elements": button_elements(group, offset=offset + start),
            }
        )
    return blocks


def message_payload(message: Message, *, lead: str = "") -> dict[str, Any]:
    """``text`` (the notification fallback) and ``blocks`` for chat.postMessage & co.

    ``lead`` is mrkdwn the adapter itself puts first, as it is: the one way a live mention
    (``<@U…>``) gets into a message. Everything from the core is escaped.
    """
    sections = [
        {"type": "section", "text": {"type": "mrkdwn", "text": c}}
        for c in chunks(lead + to_mrkdwn(message.text))
        if c.strip()
    ]
    if not sections and not message.buttons:
        sections = [{"type": "section", "text": {"type": "mrkdwn", "text": "…"}}]
    blocks: list[Block] = [*sections, *actions_blocks(message.buttons)]
    if len(blocks) > MESSAGE_BLOCKS:
        blocks = blocks[:MESSAGE_BLOCKS]
    fallback = lead + to_plain(message.text)
    if len(fallback) > FALLBACK_CHARS:
        fallback = fallback[: FALLBACK_CHARS - 1] + "…"
    return {"text": fallback or " ", "blocks": blocks}


@dataclass(frozen=True, slots=True)
class Shortcut:
    """A button on the App Home that opens a modal for one of the core's commands."""

    name: str  # the modal's key
    command: str  # the core command it runs
    label: str
    title: str
    input_label: str
    prefix: str = ""  # put before the typed text: "add" for "kb add ..."
    placeholder: str = ""
    multiline: bool = True
    with_file: bool = False
    submit: str = "Send"
    option: tuple[str, str] | None = None  # a tick box (label, the word it puts before the text)


SHORTCUTS: tuple[Shortcut, ...] = (
    Shortcut(
        name="ask",
        command="ask",
        label="Ask the network",
        title="Ask the network",
        input_label="Your question",
        placeholder="How did you handle…? (no pupil names, please)",
        submit="Ask",
        option=("Ask anonymously: peers won't see your name", "anonymously"),
    ),
    Shortcut(
        name="kb",
        command="kb",
        label="Search what we know",
        title="Search",
        input_label="What are you looking for?",
        placeholder="e.g. attendance policy, EHCP annual review",
        multiline=False,
        submit="Search",
    ),
    Shortcut(
        name="kb-add",
        command="kb",
        prefix="add",
        label="Share a file",
        title="Share a file",
        input_label="What is it? (a title)",
        placeholder="e.g. Our attendance policy 2026",
        multiline=False,
        with_file=True,
        submit="Share",
    ),
)


def shortcut_named(name: str) -> Shortcut | None:
    return next((s for s in SHORTCUTS if s.name == name), None)


def shortcut_for(command: str, args: str) -> Shortcut | None:
    """The modal a bare ``/peerbot COMMAND [prefix]`` opens, if any."""
    words = args.split()
    for s in SHORTCUTS:
        if s.command == command and words == ([s.prefix] if s.prefix else []):
            return s
    return None


def modal_view(shortcut: Shortcut, *, channel_id: str | None, is_direct: bool, max_file_mb: int) -> Block:
    """A modal asking for the text (and the file) a command needs."""
    blocks: list[Block] = []
    if shortcut.with_file:
        blocks.append(
            {
                "type": "input",
                "block_id": "file",
                "label": {"type": "plain_text", "text": f"The file (up to {max_file_mb} MB)"},
                "element": {"type": "file_input", "action_id": "file", "max_files": 1},
            }
        )
    element: Block = {
        "type": "plain_text_input",
        "action_id": "text",
        "multiline": shortcut.multiline,
        "max_length": 3000,
    }
    if shortcut.placeholder:
        element["placeholder"] = {"type": "plain_text", "text": shortcut.placeholder[:150]}
    blocks.append(
        {
            "type": "input",
            "block_id": "text",
            "optional": shortcut.with_file,
            "label": {"type": "plain_text", "text": shortcut.input_label},
            "element": element,
        }
    )
    if shortcut.option is not None:
        label, word = shortcut.option
        blocks.append(
            {
                "type": "input",
                "block_id": "option",
                "optional": True,
                "label": {"type": "plain_text", "text": "Options"},
                "element": {
                    "type": "checkboxes",
                    "action_id": "option",
                    "options": [{"text": {"type": "plain_text", "text": label[:75]}, "value": word}],
                },
            }
        )
    metadata = {"s": shortcut.name, "c": channel_id or "", "d": is_direct}
    return {
        "type": "modal",
        "callback_id": MODAL_CALLBACK,
        "private_metadata": json.dumps(metadata, separators=(",", ":")),
        "title": {"type": "plain_text", "text": shortcut.title[:24]},
        "submit": {"type": "plain_text", "text": shortcut.submit[:24]},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


def home_view(
    sections: Iterable[HomeSection], *, network: str, shortcuts: Sequence[Shortcut] = (), note: str = ""
) -> Block:
    """The App Home tab: the network's name, quick buttons, then each section."""
    blocks: list[Block] = [{"type": "header", "text": {"type": "plain_text", "text": network[:150], "emoji": True}}]
    if shortcuts:
        blocks.append(
            {
                "type": "actions",
                "block_id": "pb-shortcuts",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": s.label[:LABEL_CHARS]},
                        "action_id": f"{ADAPTER_ACTION}modal:{i}",
                        "value": s.name,
                        **({"style": "primary"} if i == 0 else {}),
                    }
                    for i, s in enumerate(shortcuts)
                ],
            }
        )
    if note:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": to_mrkdwn(note)[:SECTION_CHARS]}})
    section_blocks: list[Block] = []
    position = 0
    for n, section in enumerate(sections):
        part: list[Block] = [
            {"type": "divider"},
            {"type": "header", "text": {"type": "plain_text", "text": section.title[:150] or " ", "emoji": True}},
        ]
        body = "\n".join(f"- {line}" for line in section.lines) if section.lines else (section.empty or "Nothing here.")
        for c in chunks(to_mrkdwn(body)):
            part.append({"type": "section", "text": {"type": "mrkdwn", "text": c}})
        part.extend(actions_blocks(section.buttons, block_prefix=f"pb-home-{n}", offset=position))
        position += len(section.buttons)
        section_blocks.extend(part)
    room = VIEW_BLOCKS - len(blocks) - 1
    if len(section_blocks) > room:
        section_blocks = section_blocks[: room - 1]
        section_blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "More is waiting: type `/peerbot home`."}]}
        )
    blocks.extend(section_blocks)
    blocks.append(
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": "Type `/peerbot help` anywhere to see everything I can do."}],
        }
    )
    return {"type": "home", "blocks": blocks}


def stranger_home(network: str) -> Block:
    text = (
        f"Hello! I'm peerbot, the assistant for the *{to_mrkdwn(network)}* network. "
        "I don't have you on the network's list yet, so there is nothing to show here. "
        "If you should be, please ask your network convenor to add you."
    )
    return {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}
