"""The outbox through the Discord transport: once each, whatever Discord does."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from adapters.discord import DiscordAdapter
from adapters.discord.outgoing import nonce_for
from bot.app import PeerBot
from bot.clock import FrozenClock
from bot.delivery import Address, RateLimited
from bot.events import MessageRef
from bot.models import OutboxMessage
from bot.network import store
from bot.replies import Button, EditMessage, Message, ToGroup, ToPerson, ToThread
from tests.discord.conftest import DSL, HEAD, PEER, Running, World
from tests.support.discord_fake import SEND_MESSAGES, FakeDiscord


async def slash(fake: FakeDiscord, user: str, channel: str, name: str, options: Any = None) -> None:
    state = fake.interaction_by_id[fake.slash(user, channel, name, options)]
    await fake.wait_for(lambda: state["responses"])


async def queue(bot: PeerBot, target: Any, message: Message | str, key: str) -> int:
    msg = Message(text=message) if isinstance(message, str) else message
    async with bot.db.session() as session:
        return await bot.queue(session, target, msg, key=key)


async def rows(bot: PeerBot) -> list[OutboxMessage]:
    async with bot.db.session() as session:
        return list((await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())


async def person_id(bot: PeerBot, email: str) -> int:
    async with bot.db.session() as session:
        person = await store.person_by_email(session, bot.network_id, email)
        assert person is not None
        return person.id


def clock_of(bot: PeerBot) -> FrozenClock:
    assert isinstance(bot.clock, FrozenClock)
    return bot.clock


async def test_a_group_message_is_posted_once_with_a_nonce_and_its_ref_kept(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    heads = world.channels["heads"]
    assert await queue(running.bot, ToGroup("heads"), "Meeting booked", "meeting:1:booked") == 1
    await running.settle()
    [post] = fake.calls_to("POST", rf"/channels/{heads}/messages")
    assert post.body["nonce"] == nonce_for("meeting:1:booked") and post.body["enforce_nonce"] is True
    [sent] = fake.bot_messages(heads)
    [row] = await rows(running.bot)
    assert row.status == "sent" and row.attempts == 1
    assert row.message_ref == {"platform": "discord", "channel_id": heads, "message_id": sent["id"]}


async def test_a_send_whose_answer_was_lost_is_not_posted_twice(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    heads = world.channels["heads"]
    fake.fail_after_create(rf"/channels/{heads}/messages", 502)
    await queue(running.bot, ToGroup("heads"), "Agenda is out", "meeting:1:agenda")
    await running.settle()
    assert len(fake.calls_to("POST", rf"/channels/{heads}/messages")) == 2  # discord.py retried the 502 itself
    assert [m["content"] for m in fake.bot_messages(heads)] == ["Agenda is out"]  # the nonce made it one
    [row] = await rows(running.bot)
    assert row.status == "sent"


async def test_a_row_retried_after_a_crash_finds_its_message_instead_of_resending(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    heads = world.channels["heads"]
    address = Address(platform="discord", kind="channel", channel_id=heads, label="#heads")
    message = Message(text="Nudge: add agenda items", buttons=(Button(label="Add", action="agenda.add", value="3"),))
    transport = running.adapter.transport
    first = await transport.send(address, message, key="nudge:3", attempt=1)
    fake.nonces.clear()  # long after: Discord's nonce window has passed
    again = await transport.send(address, message, key="nudge:3", attempt=2)
    assert again == first and len(fake.bot_messages(heads)) == 1
    other = await transport.send(address, Message(text="Something else"), key="nudge:4", attempt=2)
    assert other != first and len(fake.bot_messages(heads)) == 2
    # A DM about a question (it links to the question's thread) is found again the same way.
    question = fake.post(heads, world.uid(HEAD), "Who has done this?", dispatch=False)
    fallback = MessageRef(platform="discord", channel_id=heads, message_id=question["id"])
    dm = Address(platform="discord", kind="dm", user_id=world.uid(PEER), label="Jo Khan", fallback=fallback)
    sent = await transport.send(dm, message, key="ask:5", attempt=1)
    fake.nonces.clear()
    assert await transport.send(dm, message, key="ask:5", attempt=2) == sent
    assert len(fake.dms_to(world.uid(PEER))) == 1


async def test_a_short_rate_limit_is_waited_out_by_discord_py(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    heads = world.channels["heads"]
    fake.rate_limit("POST", rf"/channels/{heads}/messages", retry_after=0.3)
    await queue(running.bot, ToGroup("heads"), "Reminder", "r:1")
    await running.settle()
    first, second = fake.calls_to("POST", rf"/channels/{heads}/messages")
    assert first.status == 429 and second.status == 200
    assert second.at - first.at >= 0.29  # the body's retry_after, respected
    [row] = await rows(running.bot)
    assert row.status == "sent" and len(fake.bot_messages(heads)) == 1


async def test_a_long_rate_limit_goes_back_to_the_outbox_without_a_tight_loop(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    heads = world.channels["heads"]
    fake.rate_limit("POST", rf"/channels/{heads}/messages", retry_after=60, is_global=True)
    await queue(running.bot, ToGroup("heads"), "Reminder", "r:2")
    await running.settle()
    assert len(fake.calls_to("POST", rf"/channels/{heads}/messages")) == 1
    [row] = await rows(running.bot)
    assert row.status == "pending" and row.attempts == 0  # waiting its turn is not a failed attempt
    assert row.not_before == clock_of(running.bot).now() + timedelta(seconds=60)
    clock_of(running.bot).advance(timedelta(seconds=61))
    await running.settle()
    [row] = await rows(running.bot)
    assert row.status == "sent" and len(fake.bot_messages(heads)) == 1


async def test_a_429_without_via_is_an_edge_block_and_waits(running: Running, fake: FakeDiscord, world: World) -> None:
    heads = world.channels["heads"]
    fake.rate_limit("POST", rf"/channels/{heads}/messages", retry_after=1)
    fake.rules[-1].headers.pop("Via")
    await queue(running.bot, ToGroup("heads"), "Reminder", "r:3")
    await running.settle()
    [row] = await rows(running.bot)
    assert row.status == "pending" and "edge" in (row.last_error or "")
    assert row.not_before == clock_of(running.bot).now() + timedelta(seconds=60)


async def test_a_channel_peerbot_may_not_post_in_fails_with_the_reason(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    sbm = world.channels["sbm"]
    fake.set_channel_permissions(sbm, fake.bot_role, deny=SEND_MESSAGES)
    fake.fail("POST", rf"/channels/{sbm}/messages", 403, 50013, message="Missing Permissions")
    await queue(running.bot, ToGroup("sbm"), "Procurement update", "p:1")
    await running.settle()
    [row] = await rows(running.bot)
    assert row.status == "failed" and "not allowed" in (row.last_error or "")


async def test_a_dm_to_someone_with_closed_dms_becomes_a_mention_in_the_thread(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    heads = world.channels["heads"]
    question = fake.post(heads, world.uid(HEAD), "Has anyone got a lettings policy?", dispatch=False)
    fake.dms_closed.add(world.uid(PEER))
    ref = MessageRef(platform="discord", channel_id=heads, message_id=question["id"])
    buttons = (Button(label="I can help", action="t.accept", value="9", style="primary"),)
    pid = await person_id(running.bot, PEER)
    await queue(running.bot, ToPerson(pid, fallback=ref), Message(text="Can you help?", buttons=buttons), "ask:9")
    await queue(running.bot, ToPerson(await person_id(running.bot, DSL)), "hello", "hello:1")
    fake.dms_closed.add(world.uid(DSL))
    await running.settle()
    [mention] = fake.bot_messages(question["id"])
    assert mention["content"].startswith(f"<@{world.uid(PEER)}> I have a private message for you about this")
    assert "Can you help?" not in mention["content"]  # the DM's text was for them alone
    assert mention["components"][0]["components"][0]["custom_id"] == "pb:t.accept:9"  # its buttons work here
    by_key = {r.key: r for r in await rows(running.bot)}
    assert by_key["ask:9"].status == "sent"
    assert by_key["hello:1"].status == "failed"
    assert "does not accept direct messages" in (by_key["hello:1"].last_error or "")

    # Edited later (say, once they have answered): the note stays a note, its buttons go.
    await queue(running.bot, EditMessage(key="ask:9"), "You said you can help with: lettings", "ask:9:mine")
    await running.settle()
    [mention] = fake.bot_messages(question["id"])
    assert mention["content"].startswith(f"<@{world.uid(PEER)}> I have a private message for you about this")
    assert mention["components"] == [] and "lettings" not in mention["content"]


async def test_closed_dms_fall_back_only_to_a_groups_thread_the_person_can_see(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    general = fake.post(world.general, world.uid(HEAD), "an unwatched channel", dispatch=False)
    dsl = fake.post(world.channels["dsl"], world.uid(DSL), "a DSL question", dispatch=False)
    fake.dms_closed.add(world.uid(PEER))
    pid = await person_id(running.bot, PEER)  # a head: not in the DSL group, cannot see its channel
    for ref, key in (
        (MessageRef(platform="discord", channel_id=world.general, message_id=general["id"]), "ask:general"),
        (MessageRef(platform="discord", channel_id=world.channels["dsl"], message_id=dsl["id"]), "ask:dsl"),
    ):
        await queue(running.bot, ToPerson(pid, fallback=ref), Message(text="Can you help?"), key)
    await running.settle()
    by_key = {r.key: r for r in await rows(running.bot)}
    assert by_key["ask:general"].status == "failed" and "not in a group's channel" in (
        by_key["ask:general"].last_error or ""
    )
    assert by_key["ask:dsl"].status == "failed" and "cannot see the thread" in (by_key["ask:dsl"].last_error or "")
    assert fake.bot_messages() == [] and fake.threads_of(world.channels["dsl"]) == []


async def test_thread_messages_start_the_thread_once(running: Running, fake: FakeDiscord, world: World) -> None:
    heads = world.channels["heads"]
    question = fake.post(heads, world.uid(HEAD), "How do you staff wraparound care?", dispatch=False)
    ref = MessageRef(platform="discord", channel_id=heads, message_id=question["id"])
    await queue(running.bot, ToThread(ref), "Asked three peers.", "t:1")
    await queue(running.bot, ToThread(ref), "Jo will answer.", "t:2")
    await running.settle()
    [thread] = fake.threads_of(heads)
    assert thread["id"] == question["id"] and thread["name"] == "Question from Priya Shah"
    # Both were due at once and went out together: one started the thread, the other found it.
    assert sorted(m["content"] for m in fake.bot_messages(thread["id"])) == ["Asked three peers.", "Jo will answer."]
    by_key = {r.key: r for r in await rows(running.bot)}
    assert by_key["t:2"].message_ref is not None and by_key["t:2"].message_ref["thread_id"] == question["id"]


async def test_an_edit_by_key_replaces_text_and_buttons(running: Running, fake: FakeDiscord, world: World) -> None:
    pid = await person_id(running.bot, PEER)
    buttons = (Button(label="I can help", action="t.accept", value="1"),)
    await queue(running.bot, ToPerson(pid), Message(text="Can you help?", buttons=buttons), "ask:1")
    await running.settle()
    await queue(running.bot, EditMessage(key="ask:1"), "Hannah took this one — thank you.", "ask:1:taken")
    await running.settle()
    [dm] = fake.dms_to(world.uid(PEER))
    assert dm["content"] == "Hannah took this one — thank you." and dm["components"] == []
    assert len(fake.calls_to("PATCH", r"/channels/\d+/messages/\d+")) == 1


async def test_a_private_groups_channel_that_everyone_can_read_gets_nothing(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    dsl = world.channels["dsl"]
    fake.set_visibility(dsl, visible_to=None)
    await running.settle()
    await queue(running.bot, ToGroup("dsl"), "Safeguarding update", "dsl:1")
    await running.settle()
    [row] = await rows(running.bot)
    assert row.status == "pending" and "can be read by people outside the dsl group" in (row.last_error or "")
    assert fake.bot_messages(dsl) == []
    fake.set_visibility(dsl, visible_to=[world.roles["dsl"]])
    await running.settle()
    clock_of(running.bot).advance(timedelta(seconds=6))
    await running.settle()
    [row] = await rows(running.bot)
    assert row.status == "sent" and len(fake.bot_messages(dsl)) == 1


async def test_nothing_is_sent_before_the_connection_is_ready(dbot: PeerBot, fake: FakeDiscord, world: World) -> None:
    adapter = DiscordAdapter(dbot, token=fake.token)
    adapter.transport.ready_wait = 0.05
    address = Address(platform="discord", kind="channel", channel_id=world.channels["heads"])
    with pytest.raises(RateLimited):
        await adapter.transport.send(address, Message(text="too early"), key="k", attempt=1)
    assert fake.calls == []


async def test_meetings_become_scheduled_events_updated_and_cancelled(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    heads = world.channels["heads"]

    async def meeting(args: str) -> None:
        await slash(fake, world.uid(HEAD), heads, "meeting", {"text": args} if args else None)
        await running.settle()

    await meeting("")
    [event] = fake.scheduled_events.values()
    assert event["name"] == "Heads' meeting" and event["entity_type"] == 3 and event["status"] == 1
    assert event["entity_metadata"] == {"location": "Oakfield Primary School"}
    first_start = event["scheduled_start_time"]
    await meeting("again")  # same meeting, nothing changed: no edit
    assert fake.calls_to("PATCH", r"/guilds/\d+/scheduled-events/\d+") == []
    await meeting("move")
    assert len(fake.scheduled_events) == 1 and event["scheduled_start_time"] != first_start
    await meeting("cancel")
    assert event["status"] == 4
    assert len(fake.calls_to("POST", r"/guilds/\d+/scheduled-events")) == 1


async def test_a_lost_event_row_adopts_the_event_instead_of_duplicating_it(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    from bot.models import DiscordScheduledEvent

    heads = world.channels["heads"]
    await slash(fake, world.uid(HEAD), heads, "meeting")
    await running.settle()
    async with running.bot.db.session() as session:
        for row in (await session.execute(select(DiscordScheduledEvent))).scalars():
            await session.delete(row)
    await slash(fake, world.uid(HEAD), heads, "meeting", {"text": "again"})
    await running.settle()
    assert len(fake.bot_messages(heads)) == 2
    assert len(fake.calls_to("POST", r"/guilds/\d+/scheduled-events")) == 1


async def test_a_row_retried_long_after_a_crash_still_finds_its_message(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    """The crash came between Discord taking the message and the row being marked sent;
    the bot was down for hours, other messages came after it, and the nonce is forgotten."""
    import discord

    heads = world.channels["heads"]
    await queue(running.bot, ToGroup("heads"), "Agenda for Wednesday is out", "meeting:7:agenda")
    [row] = await rows(running.bot)
    async with running.bot.db.session() as session:  # as a crashed deliverer leaves it
        (await session.get(OutboxMessage, row.id)).status = "sending"  # type: ignore[union-attr]
    now = discord.utils.utcnow()
    earlier = fake.post(heads, fake.app_id, "Agenda for Wednesday is out", at=now - timedelta(hours=3), dispatch=False)
    for i in range(30):
        fake.post(heads, world.uid(HEAD), f"chatter {i}", at=now - timedelta(hours=2, minutes=-i), dispatch=False)
    address = Address(platform="discord", kind="channel", channel_id=heads, label="#heads")
    sent = await running.adapter.transport.send(
        address, Message(text="Agenda for Wednesday is out"), key="meeting:7:agenda", attempt=2
    )
    assert sent.message_id == earlier["id"]
    assert [m["id"] for m in fake.bot_messages(heads)] == [earlier["id"]]  # not posted again


async def test_discord_pys_buckets_wait_before_a_429_is_needed(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    """Discord says in every answer how many requests the route has left: discord.py waits
    for the bucket to refill rather than be refused."""
    heads = world.channels["heads"]
    fake.limit_bucket("POST", r"/channels/\d+/messages", limit=2, per=0.4)
    for i in range(5):
        await queue(running.bot, ToGroup("heads"), f"Reminder {i}", f"r:bucket:{i}")
    await running.settle()
    posts = fake.calls_to("POST", rf"/channels/{heads}/messages")
    assert [c.status for c in posts] == [200] * 5  # never refused
    assert posts[2].at - posts[0].at >= 0.35 and posts[4].at - posts[2].at >= 0.35  # two per window
    assert sorted(m["content"] for m in fake.bot_messages(heads)) == [f"Reminder {i}" for i in range(5)]
