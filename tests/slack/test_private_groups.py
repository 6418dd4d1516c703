"""The private groups' channels (``slack.private_groups``, DSL and SENCO by default): while
Slack says one can be read by anyone in the workspace, peerbot posts nothing there."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from adapters.slack import SlackAdapter
from bot.app import PeerBot
from bot.delivery import Address, RateLimited
from bot.models import OutboxMessage
from bot.replies import Message, OutgoingFile, ToGroup
from tests.slack.conftest import DSL, running
from tests.slack.harness import CHANNELS, SlackHarness
from tests.support.slack import BOT_USER, FakeSlack
from tests.support.waiting import eventually

PUBLIC = "can be read by anyone in the workspace"


async def outbox(bot: PeerBot) -> list[OutboxMessage]:
    async with bot.db.session() as session:
        return list((await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())


def bot_posts(fake: FakeSlack, channel: str) -> list[str]:
    return [m.text for m in fake.messages if m.user == BOT_USER and m.channel == channel]


async def test_a_public_dsl_channel_gets_nothing_until_it_is_private_again(
    slack_bot: PeerBot, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    dsl = CHANNELS["dsl"]
    fake_slack.channels[dsl].is_private = False  # someone made #dsl public before peerbot started
    caplog.set_level(logging.INFO, logger="peerbot.slack")
    slack = await running(slack_bot, fake_slack)
    try:
        assert slack.adapter.exposure.public == {dsl: "dsl"}
        async with slack_bot.db.session() as session:
            await slack_bot.queue(session, ToGroup("dsl"), Message(text="Supervision rota for spring"), key="dsl:1")
        _, ts = await slack.message(DSL, "Q: how do you record a disclosure?", where="dsl")
        await slack.settle()
        # Nothing was posted in the channel: the group message and the thread follow-up wait,
        # and the public answer in the thread went to the asker privately instead.
        assert bot_posts(fake_slack, dsl) == []
        assert [(e["channel"], e["user"], e["text"]) for e in fake_slack.ephemerals] == [
            (dsl, slack.uid(DSL), "Thanks — I'll find someone."),
            (dsl, slack.uid(DSL), "Only you can see this: noted in dsl."),
        ]
        held = await outbox(slack_bot)
        assert [r.status for r in held] == ["pending", "pending"] and all(r.attempts == 0 for r in held)
        assert all((r.last_error or "").startswith("held back: the dsl channel can be read by anyone") for r in held)
        await slack.adapter.check_privacy()  # still public: nothing new is logged
        assert len([r for r in caplog.records if PUBLIC in r.getMessage()]) == 1
        # Made private again: the held messages go at once, in the channel and the thread.
        fake_slack.channels[dsl].is_private = True
        await slack.adapter.check_privacy()
        await slack.settle()
        assert slack.adapter.exposure.public == {}
        assert sorted(bot_posts(fake_slack, dsl)) == [
            "Follow-up about: Q: how do you record a disclosure?",
            "Supervision rota for spring",
        ]
        assert [m.thread_ts for m in fake_slack.messages if m.text.startswith("Follow-up")] == [ts]
        assert [r.status for r in await outbox(slack_bot)] == ["sent", "sent"]
    finally:
        await slack.close()
        await slack.adapter.stop()


async def test_a_channel_made_public_while_running_is_noticed(slack_bot: PeerBot, fake_slack: FakeSlack) -> None:
    adapter = SlackAdapter(slack_bot, http_host="127.0.0.1", http_port=0)
    adapter.privacy_recheck = 0.01  # (five minutes in use)
    await adapter.start()
    slack = SlackHarness(adapter, fake_slack, slack_bot, slack_bot.slack_ids)  # type: ignore[attr-defined]
    try:
        assert adapter.exposure.public == {}
        fake_slack.channels[CHANNELS["senco"]].is_private = False
        await eventually(lambda: adapter.exposure.public == {CHANNELS["senco"]: "senco"})
        answer = await slack.command(DSL, "whoami", where="senco")
        assert answer.status == 200
        await slack.settle()
        assert fake_slack.responses[-1]["response_type"] == "ephemeral"
        # Only the private groups' channels are asked about, whatever else is configured.
        asked = {c.args["channel"] for c in fake_slack.called("conversations.info")}
        assert asked == {CHANNELS["dsl"], CHANNELS["senco"]}
    finally:
        await slack.close()
        await adapter.stop()


async def test_a_command_answered_in_a_public_private_group_channel_stays_private(slack: SlackHarness) -> None:
    slack.fake.channels[CHANNELS["dsl"]].is_private = False
    await slack.adapter.check_privacy()
    await slack.command(DSL, "shout all", where="dsl")
    await slack.message(DSL, "shout again", where="dsl", mention=True)
    await slack.settle()
    assert bot_posts(slack.fake, CHANNELS["dsl"]) == []
    assert slack.fake.responses[-1]["response_type"] == "ephemeral"
    assert [e["text"] for e in slack.fake.ephemerals] == ["shout again"]


async def test_edits_and_files_in_a_public_private_group_channel_wait_too(slack: SlackHarness) -> None:
    dsl = CHANNELS["dsl"]
    root = slack.fake.add_message(dsl, slack.uid(DSL), "Q: the rota?")
    posted = await slack.adapter.transport.send(
        Address(platform="slack", kind="thread", channel_id=dsl, thread_id=root.ts),
        Message(text="Tally: 1"),
        key="e:1",
        attempt=1,
    )
    slack.fake.channels[dsl].is_private = False
    await slack.adapter.check_privacy()
    transport = slack.adapter.transport
    edit = Address(platform="slack", kind="edit", channel_id=dsl, message_id=posted.message_id)
    invite = Message(text="Invite", files=(OutgoingFile(name="m.ics", data=b"x"),))
    for address, message in (
        (edit, Message(text="Tally: 2")),
        (Address(platform="slack", kind="channel", channel_id=dsl), invite),
    ):
        with pytest.raises(RateLimited, match="held back: the dsl channel can be read by anyone"):
            await transport.send(address, message, key="e:2", attempt=1)
    assert slack.fake.called("chat.update") == [] and slack.fake.called("files.getUploadURLExternal") == []
    assert bot_posts(slack.fake, dsl) == ["Tally: 1"]
    # An ephemeral message's edit (through its response_url) is private wherever it is: it goes.
    slack.adapter.sender.remember_response_url(dsl, "9.9", slack.fake.response_url())
    await transport.send(
        Address(platform="slack", kind="edit", channel_id=dsl, message_id="9.9"),
        Message(text="Only you"),
        key="e:3",
        attempt=1,
    )
    assert slack.fake.responses[-1]["text"] == "Only you"
