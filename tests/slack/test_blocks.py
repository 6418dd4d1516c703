"""Block Kit within Slack's limits, whatever the core sends (checked by the fake's own
validator, the one that answers ``invalid_blocks`` in the end-to-end tests)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.slack.blocks import (
    action_of,
    chunks,
    home_view,
    message_payload,
    modal_view,
    shortcut_for,
    shortcut_named,
)
from bot.home import HomeSection
from bot.replies import Button, Message
from tests.support.slack import FakeSlack, _SlackError

fake = FakeSlack()


def valid(blocks: list[dict[str, Any]], *, limit: int = 50) -> bool:
    try:
        fake._blocks({"blocks": blocks}, limit=limit)
    except _SlackError:
        return False
    return True


buttons = st.lists(
    st.builds(
        Button,
        label=st.text(min_size=1, max_size=120),
        action=st.from_regex(r"[a-z]{1,10}\.[a-z]{1,10}", fullmatch=True),
        value=st.text(max_size=60),
        style=st.sampled_from(["default", "primary", "danger"]),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=3500), buttons)
def test_any_message_renders_within_slacks_limits(text: str, found: list[Button]) -> None:
    payload = message_payload(Message(text=text, buttons=tuple(found)))
    assert valid(payload["blocks"])
    assert payload["text"] and len(payload["text"]) <= 3000
    elements = [e for b in payload["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [(action_of(e["action_id"]), e.get("value", "")) for e in elements] == [(b.action, b.value) for b in found]


@given(st.text(max_size=9000), st.integers(min_value=50, max_value=3000))
def test_chunks_keep_the_text_and_the_limit(text: str, limit: int) -> None:
    pieces = chunks(text, limit)
    assert all(len(p) <= limit for p in pieces)
    assert "".join(pieces).replace("\n", "") == text.replace("\n", "") or not text.strip()


def test_long_text_is_split_at_line_breaks() -> None:
    text = "\n".join(f"- line {i} " + "x" * 80 for i in range(60))
    blocks = message_payload(Message(text=text))["blocks"]
    assert len(blocks) == 2 and all(len(b["text"]["text"]) <= 3000 for b in blocks)
    assert blocks[1]["text"]["text"].startswith("• line")


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.builds(
            HomeSection,
            title=st.text(min_size=1, max_size=200),
            lines=st.lists(st.text(min_size=1, max_size=300), max_size=12).map(tuple),
            buttons=buttons.map(lambda b: tuple(b[:6])),
            empty=st.text(max_size=50),
        ),
        max_size=30,
    )
)
def test_any_home_fits_in_one_view(sections: list[HomeSection]) -> None:
    view = home_view(sections, network="Riverside Learning Partnership")
    assert view["type"] == "home" and valid(view["blocks"], limit=100)


def test_the_home_says_when_more_is_waiting() -> None:
    sections = [HomeSection(title=f"S{i}", lines=("a",)) for i in range(60)]
    view = home_view(sections, network="N")
    assert len(view["blocks"]) <= 100
    assert "More is waiting" in view["blocks"][-2]["elements"][0]["text"]


def test_modals_and_shortcuts() -> None:
    ask = shortcut_named("ask")
    assert ask is not None and shortcut_for("ask", "") == ask and shortcut_for("ask", "something") is None
    kb_add = shortcut_for("kb", "add")
    assert kb_add is not None and kb_add.with_file
    view = modal_view(kb_add, channel_id=None, is_direct=True, max_file_mb=20)
    assert view["callback_id"] == "peerbot.command" and valid(view["blocks"], limit=100)
    assert view["blocks"][0]["element"]["type"] == "file_input"


@pytest.mark.parametrize(("action_id", "action"), [("referral.accept:3", "referral.accept"), ("plain", "plain")])
def test_action_of(action_id: str, action: str) -> None:
    assert action_of(action_id) == action
