"""Payload translation and text conversion: examples, and properties over arbitrary input."""

from __future__ import annotations

import html
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.slack import translate
from adapters.slack.blocks import message_payload
from adapters.slack.mrkdwn import from_slack, to_mrkdwn, to_plain
from adapters.slack.translate import AccessLost, HomeOpened, Incoming, Malformed, OpenShortcut
from bot.events import ButtonPressed, CommandInvoked, MemberJoined, MessagePosted
from bot.replies import Message
from tests.slack.harness import fixture

BOT = "U0BOT00001"


def message(**event: Any) -> dict[str, Any]:
    body = fixture(
        "event_message", USER="U1", CHANNEL="C0HEADS001", CHANNEL_TYPE="channel", TEXT="hi", TS="1.1", EVENT_ID="Ev1"
    )
    body["event"].update(event)
    return body


# -- text ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("slack", "plain", "mentioned"),
    [
        (f"<@{BOT}> strengths oak", "strengths oak", True),
        (f"<@{BOT}|peerbot>: help", "help", True),
        (f"Hi <@{BOT}>, how do you do phonics?", "Hi, how do you do phonics?", True),
        ("ask <@U999> about it", "ask @U999 about it", False),
        ("ask <@U999|jo> about it", "ask @jo about it", False),
        ("&lt;!channel&gt; how do you run EHCP reviews?", "<!channel> how do you run EHCP reviews?", False),
        (
            "see <https://gov.uk/kcsie|KCSIE> and <https://ofsted.gov.uk>",
            "see KCSIE (https://gov.uk/kcsie) and https://ofsted.gov.uk",
            False,
        ),
        ("in <#C0HEADS001|heads> &amp; <!here>", "in #heads & @here", False),
        ("mail <mailto:jo@oak.sch.uk|jo@oak.sch.uk>", "mail jo@oak.sch.uk", False),
        ("attendance &lt; 90% &gt; bad", "attendance < 90% > bad", False),
        ("<!subteam^S123|@senco-team> help", "@senco-team help", False),
    ],
)
def test_slack_text_becomes_plain_text(slack: str, plain: str, mentioned: bool) -> None:
    assert from_slack(slack, bot_user_id=BOT) == (plain, mentioned)


def test_neutral_markup_becomes_mrkdwn() -> None:
    assert to_mrkdwn("**Oak** said:\n- one\n- two <3 & more") == "*Oak* said:\n• one\n• two &lt;3 &amp; more"
    # Nothing in the core's text is a live token, whoever typed it.
    assert to_mrkdwn("<@U0P0000001> can you help? <!here> <!channel> <https://evil|x>") == (
        "&lt;@U0P0000001&gt; can you help? &lt;!here&gt; &lt;!channel&gt; &lt;https://evil|x&gt;"
    )
    assert to_plain("**Meeting** booked\n- Wed") == "Meeting booked\n• Wed"
    assert to_plain("<!channel> & co") == "&lt;!channel&gt; &amp; co"


# Slack's live tokens, typed plainly or as the entities Slack sends them in.
_TOKENS = st.sampled_from(
    ["<!channel>", "<!here>", "<!everyone>", "<@U0P0000001>", "<#C0HEADS001>", "<!subteam^S1>", "<https://x|y>"]
)
_SLACKISH = st.lists(
    st.one_of(
        st.text(max_size=20),
        _TOKENS,
        _TOKENS.map(lambda t: t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")),
        st.sampled_from(["&lt;", "&gt;", "&amp;", "&amp;lt;", "<", ">", "&", "**", "\n- "]),
    ),
    max_size=12,
).map("".join)


@given(_SLACKISH, st.booleans())
def test_people_s_text_never_goes_back_out_as_a_link_a_mention_or_a_ping(text: str, with_bot: bool) -> None:
    # What someone typed, read as the core reads it, then sent on (to a peer, a channel).
    plain, _ = from_slack(text, bot_user_id=BOT if with_bot else None)
    payload = message_payload(Message(text=plain))
    for shown in [payload["text"], *(b["text"]["text"] for b in payload["blocks"] if b["type"] == "section")]:
        assert "<" not in shown and ">" not in shown, shown
    assert "<" not in to_mrkdwn(text) and ">" not in to_mrkdwn(text)


@given(st.text(max_size=300).filter(lambda t: "*" not in t and "- " not in t))
def test_escaped_text_reads_exactly_as_typed(text: str) -> None:
    assert html.unescape(to_mrkdwn(text)) == text


def test_only_the_adapter_s_own_mention_is_live() -> None:
    payload = message_payload(Message(text="<@U0EVIL0001> can you help?"), lead="<@U0P0000001> ")
    assert payload["blocks"][0]["text"]["text"] == "<@U0P0000001> &lt;@U0EVIL0001&gt; can you help?"
    assert payload["text"] == "<@U0P0000001> &lt;@U0EVIL0001&gt; can you help?"


@given(st.text(max_size=300), st.booleans())
def test_slack_text_conversion_never_fails(text: str, with_bot: bool) -> None:
    plain, mentioned = from_slack(text, bot_user_id=BOT if with_bot else None)
    assert isinstance(plain, str) and isinstance(mentioned, bool)
    assert f"<@{BOT}>" not in plain or not with_bot


# -- events -------------------------------------------------------------------------------
def test_a_channel_message() -> None:
    item = translate.event(message(text=f"<@{BOT}> hello", thread_ts="1.0"), bot_user_id=BOT)
    assert isinstance(item, Incoming)
    event = item.event
    assert isinstance(event, MessagePosted)
    assert (event.text, event.mentions_bot, event.message_id, event.event_id) == (
        "hello",
        True,
        "1.1",
        "msg:C0HEADS001:1.1",
    )
    assert (event.place.channel_id, event.place.thread_id, event.place.is_direct) == ("C0HEADS001", "1.0", False)
    assert event.sender.user_id == "U1" and event.sender.platform == "slack"


def test_a_thread_root_is_not_in_a_thread() -> None:
    item = translate.event(message(thread_ts="1.1"), bot_user_id=BOT)
    assert isinstance(item, Incoming) and item.event.place.thread_id is None


def test_a_dm_with_files_keeps_the_downloadable_ones() -> None:
    files = [
        {
            "id": "F1",
            "name": "a.pdf",
            "size": 10,
            "mimetype": "application/pdf",
            "url_private_download": "https://files.slack.com/a",
        },
        {"id": "F2", "name": "link", "mode": "external", "url_private": "https://x"},
        {"id": "F3", "name": "gone", "mode": "tombstone"},
        {
            "id": "F4",
            "name": "connect.pdf",
            "file_access": "check_file_info",
            "url_private": "https://files.slack.com/c",
        },
        "junk",
    ]
    item = translate.event(
        message(channel="D0DM000001", channel_type="im", subtype="file_share", files=files), bot_user_id=BOT
    )
    assert isinstance(item, Incoming) and item.event.place.is_direct
    assert [(f.id, f.name, f.size) for f in item.files] == [("F1", "a.pdf", 10)]


@pytest.mark.parametrize(
    "change",
    [
        {"subtype": "message_changed"},
        {"subtype": "message_deleted"},
        {"subtype": "channel_join"},
        {"subtype": "bot_message", "bot_id": "B1"},
        {"bot_id": "B0BOT00001"},
        {"hidden": True},
    ],
)
def test_noise_is_ignored(change: dict[str, Any]) -> None:
    assert translate.event(message(**change), bot_user_id=BOT) is None


def test_other_events() -> None:
    joined = fixture("event_member_joined_channel", USER="U1", CHANNEL="G1", TS="1.0", EVENT_ID="Ev9")
    item = translate.event(joined, bot_user_id=BOT)
    assert isinstance(item, Incoming) and isinstance(item.event, MemberJoined) and item.event.event_id == "Ev9"
    home = fixture("event_app_home_opened", USER="U1", TS="1.0", EVENT_ID="Ev8")
    assert translate.event(home, bot_user_id=BOT) == HomeOpened("U1")
    home["event"]["tab"] = "messages"
    assert translate.event(home, bot_user_id=BOT) is None
    revoked = fixture("event_tokens_revoked", TS="1.0", EVENT_ID="Ev7")
    assert translate.event(revoked, bot_user_id=BOT) == AccessLost("tokens_revoked")
    revoked["event"]["tokens"] = {"oauth": ["U1"], "bot": []}  # someone's user token, not ours
    assert translate.event(revoked, bot_user_id=BOT) is None
    revoked["event"] = {"type": "app_uninstalled"}
    assert translate.event(revoked, bot_user_id=BOT) == AccessLost("app_uninstalled")
    reaction = fixture("event_reaction_added", USER="U1", CHANNEL="C1", TS="1.0", EVENT_ID="Ev6")
    assert translate.event(reaction, bot_user_id=BOT) is None


def test_only_our_own_bot_token_being_revoked_counts() -> None:
    revoked = fixture("event_tokens_revoked", TS="1.0", EVENT_ID="Ev7")
    revoked["event"]["tokens"] = {"oauth": ["U0OTHER001"], "bot": ["U0OTHERBOT"]}  # another bot user's token
    assert translate.event(revoked, bot_user_id=BOT, bot_id="B0BOT00001") is None
    revoked["event"]["tokens"] = {"oauth": [], "bot": ["U0OTHERBOT", BOT]}
    assert translate.event(revoked, bot_user_id=BOT, bot_id="B0BOT00001") == AccessLost("tokens_revoked")
    revoked["event"]["tokens"] = {"bot": ["B0BOT00001"]}  # named by its bot id
    assert translate.event(revoked, bot_user_id=BOT, bot_id="B0BOT00001") == AccessLost("tokens_revoked")
    # Before auth.test has said who the bot is, any bot revocation counts (and is re-checked).
    revoked["event"]["tokens"] = {"bot": ["U0OTHERBOT"]}
    assert translate.event(revoked, bot_user_id=None) == AccessLost("tokens_revoked")


def test_a_slash_command() -> None:
    body = fixture(
        "slash_command",
        USER="U1",
        CHANNEL="C1",
        CHANNEL_NAME="heads",
        TEXT="Strengths  Oak",
        RESPONSE_URL="https://r",
        TRIGGER="t1",
    )
    item = translate.command(body, bot_user_id=BOT)
    event = item.event
    assert isinstance(event, CommandInvoked)
    assert (event.name, event.text, event.event_id, item.response_url) == ("strengths", "Oak", "cmd:t1", "https://r")
    assert event.sender.display_name == "priya.shah" and not event.place.is_direct
    body["channel_name"] = "directmessage"
    body["text"] = ""
    item = translate.command(body, bot_user_id=BOT)
    assert item.event.place.is_direct and isinstance(item.event, CommandInvoked) and item.event.name == "help"


def test_a_button_press() -> None:
    body = fixture(
        "block_actions",
        USER="U1",
        CHANNEL="D1",
        CHANNEL_NAME="directmessage",
        MESSAGE_TS="5.5",
        TRIGGER="t2",
        RESPONSE_URL="https://r",
        ACTION_ID="referral.accept:1",
        LABEL="I can help",
        VALUE="17",
        BLOCKS=[],
    )
    body["container"]["thread_ts"] = "5.0"
    item = translate.block_action(body)
    assert isinstance(item, Incoming)
    event = item.event
    assert isinstance(event, ButtonPressed)
    assert (event.action, event.value, event.event_id) == ("referral.accept", "17", "act:t2")
    assert event.message is not None and (event.message.message_id, event.message.thread_id) == ("5.5", "5.0")
    assert event.place.is_direct and not item.from_home


def test_a_home_shortcut_opens_a_modal() -> None:
    body = fixture("block_actions_home", USER="U1", TRIGGER="t3", ACTION_ID="slack~modal:0", LABEL="Ask", VALUE="ask")
    item = translate.block_action(body)
    assert isinstance(item, OpenShortcut) and item.shortcut.command == "ask" and item.is_direct
    body["actions"][0]["value"] = "nonsense"
    assert translate.block_action(body) is None


def test_a_modal_submission() -> None:
    values = {"text": {"text": {"type": "plain_text_input", "value": " Our policy "}}}
    body = fixture(
        "view_submission",
        USER="U1",
        TRIGGER="t4",
        METADATA=json.dumps({"s": "kb-add", "c": "C1", "d": False}),
        VALUES=values,
    )
    sub = translate.view_submission(body, max_file_bytes=100)
    assert sub is not None and sub.errors == {"file": "Choose a file to share."}
    values["file"] = {
        "file": {
            "type": "file_input",
            "files": [{"id": "F1", "name": "p.pdf", "size": 50, "url_private": "https://files.slack.com/p"}],
        }
    }
    sub = translate.view_submission(body, max_file_bytes=100)
    assert sub is not None and sub.incoming is not None
    event = sub.incoming.event
    assert isinstance(event, CommandInvoked) and (event.name, event.text) == ("kb", "add Our policy")
    assert event.place.channel_id == "C1" and event.event_id == "view:t4"
    body["view"]["private_metadata"] = "not json"
    with pytest.raises(Malformed):
        translate.view_submission(body, max_file_bytes=100)


# -- properties: nothing malformed gets through as anything but Malformed or None ------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=6),
    max_leaves=30,
)
keys = st.sampled_from(
    [
        "type",
        "event",
        "user",
        "channel",
        "ts",
        "text",
        "subtype",
        "files",
        "thread_ts",
        "channel_type",
        "bot_id",
        "actions",
        "container",
        "view",
        "trigger_id",
        "user_id",
        "channel_id",
        "response_url",
        "tab",
        "value",
        "action_id",
    ]
)
payloads = st.dictionaries(keys, json_values | st.dictionaries(keys, json_values, max_size=8), max_size=10)


@settings(max_examples=120, deadline=None)
@given(payloads)
def test_translation_of_arbitrary_payloads_fails_only_politely(body: dict[str, Any]) -> None:
    for call in (
        lambda: translate.event(body, bot_user_id=BOT),
        lambda: translate.command(body, bot_user_id=BOT),
        lambda: translate.block_action(body),
        lambda: translate.view_submission(body, max_file_bytes=100),
    ):
        try:
            result = call()
        except Malformed:
            continue
        if isinstance(result, Incoming):
            assert result.event.sender.platform == "slack" and result.event.sender.user_id
