"""Rendering neutral messages for Discord, and the ids it carries (property tests)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.discord.commands import normalise
from adapters.discord.outgoing import nonce_for
from adapters.discord.render import CONTENT_LIMIT, custom_id, parse_custom_id, render, render_text
from adapters.discord.translate import strip_mentions
from bot.replies import MAX_TEXT, Button, Message, OutgoingFile

actions = st.text(
    alphabet=st.characters(blacklist_characters=":", blacklist_categories=("Cs",)), min_size=1, max_size=40
)
values = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=50)


@given(actions, values)
def test_a_buttons_custom_id_carries_its_action_and_value_and_fits_discord(action: str, value: str) -> None:
    cid = custom_id(action, value)
    assert len(cid) <= 100
    assert parse_custom_id(cid) == (action, value)


@given(st.text(max_size=120))
def test_only_peerbots_own_custom_ids_parse(text: str) -> None:
    parsed = parse_custom_id(text)
    assert (parsed is not None) == bool(re.fullmatch(r"pb:[^:]+:[\s\S]*", text))


@given(st.text(max_size=200))
def test_nonces_are_short_stable_and_distinct(key: str) -> None:
    nonce = nonce_for(key)
    assert len(nonce) == 25 and nonce == nonce_for(key)
    assert nonce != nonce_for(key + "x") and nonce != nonce_for(key, "fallback")


def test_neutral_markup_is_discord_markdown_already() -> None:
    text = "**Oak Primary** offers:\n- _Phonics_ training\n- Early reading"
    assert render_text(text) == text


def test_what_discord_would_read_differently_is_neutralised() -> None:
    assert render_text("# not a heading") == "\\# not a heading"
    assert render_text("> not a quote\n-# not small") == "\\> not a quote\n\\-# not small"
    assert render_text("ping @everyone and @here") == "ping @\u200beveryone and @\u200bhere"


@settings(max_examples=200)
@given(st.text(max_size=300))
def test_rendered_text_never_starts_a_heading_or_quote_or_pings_everyone(text: str) -> None:
    out = render_text(text)
    for line in out.split("\n"):
        assert not re.match(r"^\s*(#{1,3} |-# |> )", line)
    assert not re.search(r"@(everyone|here)\b", out)


@given(st.text(min_size=1, max_size=MAX_TEXT))
def test_text_fits_in_the_content_or_an_embed(text: str) -> None:
    rendered = render(Message(text=text))
    if rendered.embed is None:
        assert rendered.content is not None and len(rendered.content) <= CONTENT_LIMIT
    else:
        assert rendered.content is None and len(rendered.embed.description or "") <= 4096


def test_buttons_are_deduplicated_and_capped() -> None:
    buttons = tuple(Button(label=f"B{i}", action="poll.vote", value=str(i % 30)) for i in range(40))
    rendered = render(Message(text="Vote", buttons=buttons))
    ids = [custom_id(b.action, b.value) for b in rendered.buttons]
    assert len(ids) == 25 and len(set(ids)) == 25


def test_a_file_too_big_for_discord_is_left_off_with_a_note() -> None:
    big = OutgoingFile(name="minutes.pdf", data=b"x" * 2_000_000)
    small = OutgoingFile(name="invite.ics", data=b"BEGIN:VCALENDAR")
    rendered = render(Message(text="The minutes", files=(big, small)), file_limit=1_000_000)
    assert [name for name, _ in rendered.files] == ["invite.ics"]
    assert rendered.content == "The minutes\n_(minutes.pdf is too big to attach here: 1.9 MB.)_"


@pytest.mark.parametrize(
    ("ours", "theirs", "same"),
    [
        ([{"name": "peerbot", "description": "d", "options": []}], [{"name": "peerbot", "description": "d"}], True),
        (
            [{"name": "peerbot", "description": "d", "options": [{"type": 1, "name": "help", "description": "h"}]}],
            [{"name": "peerbot", "description": "d", "options": [{"type": 1, "name": "help", "description": "H"}]}],
            False,
        ),
    ],
)
def test_commands_are_compared_on_what_users_see(ours: list, theirs: list, same: bool) -> None:  # type: ignore[type-arg]
    assert (normalise(ours) == normalise(theirs)) is same


ME = 1000000000000000001
JO = 1000000000000000002
mentionless = st.text(alphabet=st.characters(blacklist_characters="<", blacklist_categories=("Cs",)), max_size=80)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"<@{ME}> strengths oak", "strengths oak"),
        (f"<@!{ME}>, network", "network"),
        (f"whoami <@{ME}>", "whoami"),
        ("<@&77> help", "help"),
        (f"could <@{JO}> help?", "could @Jo Khan help?"),
        (f"does anyone, <@{ME}>, know  about   this?", "does anyone, peerbot, know  about   this?"),
        ("unknown <@5>", "unknown @someone"),
    ],
)
def test_mentions_are_read_as_people_write_them(text: str, expected: str) -> None:
    assert strip_mentions(text, ME, {JO: "Jo Khan"}, own_role=77) == expected


@given(mentionless)
def test_text_without_mentions_is_left_alone(text: str) -> None:
    assert strip_mentions(text, ME, {}) == text.strip()


@given(mentionless, mentionless)
def test_the_bots_mention_never_reaches_the_core(before: str, after: str) -> None:
    out = strip_mentions(f"{before}<@{ME}>{after}<@!{ME}>", ME, {}, own_role=None)
    assert str(ME) not in out
