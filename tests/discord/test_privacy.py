"""The private groups (DSL, SENCO): nothing of theirs reaches anyone outside the group."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import PeerBot
from bot.clock import FrozenClock
from bot.models import DiscordScheduledEvent, OutboxMessage, PersonRole
from bot.network import store
from bot.replies import Message, ToGroup
from tests.discord.conftest import DSL, HEAD, PEER, SENCO, Running, World
from tests.discord.handlers import SECRET_LINK
from tests.support.discord_fake import ADMINISTRATOR, VIEW_CHANNEL, FakeDiscord


async def slash(fake: FakeDiscord, user: str, channel: str, name: str, options: Any = None) -> dict[str, Any]:
    state = fake.interaction_by_id[fake.slash(user, channel, name, options)]
    await fake.wait_for(lambda: state["responses"])
    return state


async def rows(bot: PeerBot) -> list[OutboxMessage]:
    async with bot.db.session() as session:
        return list((await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())


async def test_a_private_groups_meeting_stays_in_its_channel_and_makes_no_scheduled_event(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    dsl = world.channels["dsl"]
    await slash(fake, world.uid(DSL), dsl, "groupmeeting", {"text": "dsl"})
    await running.settle()
    [booked] = fake.bot_messages(dsl)
    assert booked["content"].startswith("dsl meeting booked")
    assert fake.scheduled_events == {}
    assert fake.calls_to("POST", r"/guilds/\d+/scheduled-events") == []


async def test_an_online_meetings_event_never_shows_the_joining_link(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    heads = world.channels["heads"]
    await slash(fake, world.uid(HEAD), heads, "groupmeeting", {"text": "heads"})
    await running.settle()
    [event] = fake.scheduled_events.values()  # seen by everyone in the server
    assert event["entity_metadata"] == {"location": "Online: the link is in peerbot's message"}
    assert "meet.example.org" not in json.dumps(event) and "SECRET" not in json.dumps(event)
    assert SECRET_LINK in fake.bot_messages(heads)[-1]["content"]  # the group's own channel has it


async def test_while_a_private_channel_is_readable_by_all_nothing_of_its_meeting_goes_out(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    dsl = world.channels["dsl"]
    fake.set_visibility(dsl, visible_to=None)
    await running.settle()
    await slash(fake, world.uid(DSL), world.dm(DSL), "groupmeeting", {"text": "dsl"})
    await running.settle()
    assert fake.bot_messages(dsl) == []
    assert fake.calls_to("POST", r"/guilds/\d+/scheduled-events") == []
    assert fake.calls_to("GET", r"/guilds/\d+/scheduled-events.*") == []
    [row] = [r for r in await rows(running.bot) if r.key == "t:groupmeet:dsl"]
    assert row.status == "pending"


async def test_an_event_made_for_a_private_groups_meeting_before_is_deleted(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    # As an earlier peerbot did: the DSL meeting as an event, its link for all to see.
    await slash(fake, world.uid(HEAD), world.channels["heads"], "groupmeeting", {"text": "heads"})
    await running.settle()
    [eid] = fake.scheduled_events
    async with running.bot.db.session() as session:
        row = (await session.execute(select(DiscordScheduledEvent))).scalar_one()
        row.key = "meeting:dsl:online"
    await slash(fake, world.uid(DSL), world.channels["dsl"], "groupmeeting", {"text": "dsl"})
    await running.settle()
    assert fake.scheduled_events == {}
    async with running.bot.db.session() as session:
        row = (await session.execute(select(DiscordScheduledEvent))).scalar_one()
        assert row.cancelled and row.event_id == eid


# -- who can read a private group's channel ----------------------------------------------------------
async def send_to_dsl(running: Running, key: str) -> OutboxMessage:
    bot = running.bot
    async with bot.db.session() as session:
        await bot.queue(session, ToGroup("dsl"), Message(text="Safeguarding update"), key=key)
    await running.settle()
    [row] = [r for r in await rows(bot) if r.key == key]
    return row


async def retry_now(running: Running) -> None:
    clock = running.bot.clock
    assert isinstance(clock, FrozenClock)
    clock.advance(timedelta(hours=1))
    await running.settle()


def everyone_role(fake: FakeDiscord, world: World) -> str:
    """A "Members" role, as many servers give everyone."""
    role = fake.add_role("Members")
    for uid in world.users.values():
        fake.set_roles(uid, [*fake.members[uid]["roles"], role])
    return role


@pytest.mark.parametrize("who", ["the heads' role", "a role everyone has", "one person"])
async def test_a_private_channel_others_can_read_gets_nothing_until_it_is_private_again(
    running: Running, fake: FakeDiscord, world: World, who: str
) -> None:
    dsl = world.channels["dsl"]
    if who == "the heads' role":
        reader = world.roles["heads"]
    elif who == "a role everyone has":
        reader = everyone_role(fake, world)
    else:
        reader = world.uid(PEER)
    fake.set_channel_permissions(dsl, reader, allow=VIEW_CHANNEL, member=who == "one person")
    row = await send_to_dsl(running, "dsl:1")
    assert row.status == "pending" and "can be read by people outside the dsl group" in (row.last_error or "")
    assert fake.bot_messages(dsl) == []
    fake.set_channel_permissions(dsl, reader, deny=VIEW_CHANNEL, member=who == "one person")
    await retry_now(running)
    [row] = [r for r in await rows(running.bot) if r.key == "dsl:1"]
    assert row.status == "sent" and len(fake.bot_messages(dsl)) == 1


async def test_a_question_in_a_private_channel_others_can_read_is_answered_privately(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    dsl = world.channels["dsl"]
    fake.set_channel_permissions(dsl, world.roles["heads"], allow=VIEW_CHANNEL)
    await running.settle()
    fake.post(dsl, world.uid(DSL), "question: managing allegations against staff")
    await running.settle()
    assert fake.bot_messages(dsl) == [] and fake.threads_of(dsl) == []
    assert fake.dms_to(world.uid(DSL))[0]["content"].startswith("Thanks — I'll find someone in dsl")


async def test_a_discord_role_alone_does_not_put_someone_in_the_group(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    """The people file says who is a DSL: someone given the DSL role on Discord who is not
    a DSL there is outside the group, until the people file says otherwise."""
    head = world.uid(HEAD)
    fake.set_roles(head, [*fake.members[head]["roles"], world.roles["dsl"]])
    row = await send_to_dsl(running, "dsl:2")
    assert row.status == "pending"
    fake.set_roles(head, [r for r in fake.members[head]["roles"] if r != world.roles["dsl"]])
    await retry_now(running)
    assert [r.status for r in await rows(running.bot) if r.key == "dsl:2"] == ["sent"]

    fake.set_roles(head, [*fake.members[head]["roles"], world.roles["dsl"]])
    row = await send_to_dsl(running, "dsl:3")
    assert row.status == "pending"
    async with running.bot.db.session() as session:  # the people file is imported again: now a DSL too
        person = await store.person_by_email(session, running.bot.network_id, HEAD)
        assert person is not None
        person.role_rows.append(PersonRole(role="dsl"))
    await running.adapter.refresh_people()
    await retry_now(running)
    assert [r.status for r in await rows(running.bot) if r.key == "dsl:3"] == ["sent"]


async def test_the_servers_administrators_do_not_count(running: Running, fake: FakeDiscord, world: World) -> None:
    """They can read every channel whatever it says: no set-up could keep them out."""
    admins = fake.add_role("Admin", ADMINISTRATOR)
    fake.set_roles(world.uid(SENCO), [*fake.members[world.uid(SENCO)]["roles"], admins])
    row = await send_to_dsl(running, "dsl:4")
    assert row.status == "sent"


async def test_closed_dms_are_never_mentioned_in_a_private_channel_others_can_read(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    dsl = world.channels["dsl"]
    fake.set_channel_permissions(dsl, world.roles["heads"], allow=VIEW_CHANNEL)
    fake.dms_closed.add(world.uid(DSL))
    await running.settle()
    fake.post(dsl, world.uid(DSL), "question: an allegation against a member of staff")
    fake.post(dsl, world.uid(DSL), f"<@{fake.app_id}> secret", mentions=[fake.app_id])
    await running.settle()
    assert fake.bot_messages(dsl) == [] and fake.threads_of(dsl) == []
    assert not [m for ms in fake.messages.values() for m in ms if f"<@{world.uid(DSL)}>" in m["content"]]


async def test_an_edit_waits_while_others_can_read_the_private_channel(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    from bot.replies import EditMessage

    dsl = world.channels["dsl"]
    assert (await send_to_dsl(running, "dsl:5")).status == "sent"
    fake.set_channel_permissions(dsl, world.roles["heads"], allow=VIEW_CHANNEL)
    async with running.bot.db.session() as session:
        await running.bot.queue(session, EditMessage(key="dsl:5"), Message(text="Updated: see the LADO"), key="e:5")
    await running.settle()
    [edit] = [r for r in await rows(running.bot) if r.key == "e:5"]
    assert edit.status == "pending" and fake.calls_to("PATCH", rf"/channels/{dsl}/messages/\d+") == []
    assert fake.bot_messages(dsl)[0]["content"] == "Safeguarding update"
