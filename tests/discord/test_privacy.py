"""The private groups (DSL, SENCO): nothing of theirs reaches anyone outside the group."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from bot.app import PeerBot
from bot.models import DiscordScheduledEvent, OutboxMessage
from tests.discord.conftest import DSL, HEAD, Running, World
from tests.discord.handlers import SECRET_LINK
from tests.support.discord_fake import FakeDiscord


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
