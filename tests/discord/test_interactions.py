"""Slash commands and buttons: answered (or deferred) within Discord's 3 seconds."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from adapters.discord.commands import describe
from tests.discord.conftest import HEAD, PEER, Running, World, start_adapter
from tests.support.discord_fake import FakeDiscord

EPHEMERAL = 64


def subcommands(fake: FakeDiscord) -> dict[str, dict[str, Any]]:
    [root] = fake.commands
    return {o["name"]: o for o in root["options"]}


async def answered(fake: FakeDiscord, iid: str) -> dict[str, Any]:
    state = fake.interaction_by_id[iid]
    await fake.wait_for(lambda: state["responses"])
    return state


async def test_peerbot_is_registered_in_the_guild_with_the_cores_commands(running: Running, fake: FakeDiscord) -> None:
    [put] = fake.calls_to("PUT", rf"/applications/{fake.app_id}/guilds/{fake.guild_id}/commands")
    assert fake.calls_to("PUT", r"/applications/.*/commands") == [put]  # never global
    [root] = fake.commands
    assert root["name"] == "peerbot"
    subs = subcommands(fake)
    assert {"help", "whoami", "strengths", "needs", "network", "home"} <= set(subs)
    strengths = running.bot.registry.commands["strengths"]
    assert subs["strengths"]["description"] == describe(strengths.help, "")  # the command's own help line
    options = {o["name"]: o for o in subs["strengths"]["options"]}
    assert options["text"]["type"] == 3 and not options["text"].get("required")
    assert options["text"]["description"] == describe(f"what to add: {strengths.usage}", "")
    assert options["file"]["type"] == 11


async def test_a_slash_command_is_answered_ephemerally_in_time(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    iid = fake.slash(world.uid(HEAD), world.channels["heads"], "strengths", {"text": "oakfield"})
    state = await answered(fake, iid)
    [response] = state["responses"]
    assert response["type"] == 4 and response["data"]["flags"] & EPHEMERAL
    assert "Phonics scheme rollout" in response["data"]["content"]
    assert response["at"] - state["created"] < 3.0


async def test_a_public_answer_to_a_slash_command_is_seen_by_the_channel(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    heads = world.channels["heads"]
    iid = fake.slash(world.uid(HEAD), heads, "ping")
    state = await answered(fake, iid)
    [response] = state["responses"]
    assert response["data"]["content"] == "pong" and not response["data"].get("flags", 0) & EPHEMERAL
    assert fake.bot_messages(heads)[-1]["content"] == "pong"


async def test_slow_work_is_deferred_then_followed_up(dbot: Any, fake: FakeDiscord, world: World) -> None:
    run = await start_adapter(dbot, fake, ack_deadline=0.05)
    try:
        iid = fake.slash(world.uid(HEAD), world.channels["heads"], "slow")
        state = await answered(fake, iid)
        [response] = state["responses"]
        assert response["type"] == 5 and response["data"]["flags"] & EPHEMERAL  # "peerbot is thinking…"
        assert response["at"] - state["created"] < 1.0
        await fake.wait_for(lambda: state["followups"])
        [followup] = state["followups"]
        assert followup["message"]["content"] == "done slowly" and followup["message"]["flags"] & EPHEMERAL
    finally:
        await run.stop()


async def test_a_slow_public_answer_goes_to_the_channel_and_the_thinking_note_is_closed(
    dbot: Any, fake: FakeDiscord, world: World
) -> None:
    heads = world.channels["heads"]
    run = await start_adapter(dbot, fake, ack_deadline=0.05)
    try:
        iid = fake.slash(world.uid(HEAD), heads, "slowpublic")
        state = await answered(fake, iid)
        await fake.wait_for(lambda: state.get("edits"))
        assert fake.bot_messages(heads)[-1]["content"] == "done slowly, for all"
        assert state["edits"][-1]["body"]["content"] == "Done."
    finally:
        await run.stop()


async def test_a_command_with_nothing_to_say_is_still_acknowledged(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    state = await answered(fake, fake.slash(world.uid(HEAD), world.channels["heads"], "quiet"))
    [response] = state["responses"]
    assert response["data"]["content"] == "Done." and response["data"]["flags"] & EPHEMERAL


async def test_a_file_given_to_a_slash_command_reaches_the_core(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    iid = fake.slash(
        world.uid(HEAD),
        world.channels["heads"],
        "files",
        attachment=("policy.docx", b"PK\x03\x04 pretend docx", "application/octet-stream"),
    )
    state = await answered(fake, iid)
    assert state["responses"][0]["type"] == 5  # acknowledged before downloading
    await fake.wait_for(lambda: state["followups"])
    assert state["followups"][0]["message"]["content"] == "files: policy.docx (17 bytes)"


async def test_buttons_reach_their_handler_with_action_and_value(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    fake.post(world.dm(HEAD), world.uid(HEAD), "choose 7")
    await running.settle()
    [offer] = fake.dms_to(world.uid(HEAD))
    ids = [c["custom_id"] for row in offer["components"] for c in row["components"]]
    assert ids == ["pb:t.yes:7", "pb:t.no:7"]
    state = await answered(fake, fake.press(world.uid(HEAD), offer, "pb:t.yes:7"))
    [response] = state["responses"]
    assert response["data"]["content"] == "yes 7 from Priya Shah" and response["data"]["flags"] & EPHEMERAL
    state = await answered(fake, fake.press(world.uid(HEAD), offer, "pb:t.no:7"))
    assert state["responses"][0]["data"]["content"] == "no 7"
    assert not state["responses"][0]["data"].get("flags", 0) & EPHEMERAL


async def test_a_button_on_an_old_message_is_explained(running: Running, fake: FakeDiscord, world: World) -> None:
    fake.post(world.dm(HEAD), world.uid(HEAD), "choose 1")
    await running.settle()
    [offer] = fake.dms_to(world.uid(HEAD))
    offer["components"][0]["components"][0]["custom_id"] = "pb:retired.action:1"
    state = await answered(fake, fake.press(world.uid(HEAD), offer, "pb:retired.action:1"))
    assert "no longer does anything" in state["responses"][0]["data"]["content"]


async def test_the_referral_flow_accept_edits_the_dm_and_announces_in_the_thread(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    heads = world.channels["heads"]
    question = fake.post(heads, world.uid(HEAD), "question: who has moved to a four-day INSET pattern?")
    await running.settle()
    [dm] = fake.dms_to(world.uid(PEER))
    state = await answered(fake, fake.press(world.uid(PEER), dm, f"pb:t.accept:{heads}/{question['id']}"))
    assert state["responses"][0]["data"]["content"].startswith("Thank you, Jo")
    await running.settle()
    [edited] = fake.dms_to(world.uid(PEER))
    assert edited["content"] == "Jo Khan is helping with this one." and edited["components"] == []
    thread_messages = [m["content"] for m in fake.bot_messages(question["id"])]
    assert thread_messages[-1] == "Jo Khan from Marygreen Academy will answer here."


async def test_strangers_pressing_buttons_in_dms_are_refused(running: Running, fake: FakeDiscord, world: World) -> None:
    fake.post(world.dm(HEAD), world.uid(HEAD), "choose 3")
    await running.settle()
    [offer] = fake.dms_to(world.uid(HEAD))
    offer = {**offer, "channel_id": fake.dm_channel(world.outsider)}
    state = await answered(fake, fake.press(world.outsider, offer, "pb:t.yes:3"))
    assert "only helps members" in state["responses"][0]["data"]["content"]


async def test_an_ephemeral_message_is_edited_through_its_interaction(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    heads = world.channels["heads"]
    first = await answered(fake, fake.slash(world.uid(HEAD), heads, "pick"))
    offer = first["original"]
    assert offer["flags"] & EPHEMERAL and offer["components"]
    second = await answered(fake, fake.press(world.uid(HEAD), offer, "pb:t.pick:a"))
    await running.settle()
    token = second["token"]
    assert fake.calls_to("PATCH", rf"/webhooks/{fake.app_id}/{token}/messages/{offer['id']}")
    assert offer["content"] == "You picked this one." and offer["components"] == []


@pytest.mark.parametrize("ack_deadline", [2.0, 0.2], ids=["answer-late", "defer-late"])
async def test_an_answer_too_late_for_the_interaction_goes_privately_instead(
    dbot: Any, fake: FakeDiscord, world: World, ack_deadline: float
) -> None:
    fake.interaction_ttl = 0.1  # Discord's 3 seconds, shortened
    run = await start_adapter(dbot, fake, ack_deadline=ack_deadline)
    try:
        iid = fake.slash(world.uid(HEAD), world.channels["heads"], "slow")
        state = fake.interaction_by_id[iid]
        await fake.wait_for(lambda: fake.calls_to("POST", rf"/interactions/{iid}/.*/callback"))
        for _ in range(100):  # the late answer is queued in the outbox; deliver it
            await run.settle()
            if fake.dms_to(world.uid(HEAD)):
                break
            await asyncio.sleep(0.02)
        assert state["responses"] == []  # Discord refused the late callback
        assert [m["content"] for m in fake.dms_to(world.uid(HEAD))] == ["done slowly"]
    finally:
        await run.stop()


async def test_past_discords_limit_the_last_commands_are_reached_through_other(
    database: Any, clock: Any, fake: FakeDiscord, world: World
) -> None:
    from tests.discord.conftest import TEST_MODULES, open_bot

    bot = await open_bot(database, clock, world, modules=(*TEST_MODULES, "tests.discord.many_commands"))
    run = await start_adapter(bot, fake)
    try:
        subs = subcommands(fake)
        assert len(subs) == 25 and "other" in subs
        assert {"help", "whoami", "strengths", "network", "home"} <= set(subs)  # the basics keep their own
        assert "extra19" not in subs
        other = {o["name"]: o for o in subs["other"]["options"]}
        assert other["name"]["required"] and other["name"]["autocomplete"]
        state = await answered(
            fake, fake.slash(world.uid(HEAD), world.channels["heads"], "other", {"name": "extra19", "text": "hi"})
        )
        assert state["responses"][0]["data"]["content"] == "extra 19 got hi"
    finally:
        await run.stop()
        bot._stop.set()


async def test_an_answer_that_makes_a_scheduled_event_is_deferred_first(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    heads = world.channels["heads"]
    fake.rate_limit("POST", r"/guilds/\d+/scheduled-events", retry_after=0.3)  # the event waits
    state = await answered(fake, fake.slash(world.uid(HEAD), heads, "meetnow"))
    [response] = state["responses"]
    assert response["type"] == 5  # acknowledged before any call about the event
    first_event_call = (await fake.wait_for(lambda: fake.calls_to("POST", r"/guilds/\d+/scheduled-events")))[0]
    assert response["at"] <= first_event_call.at
    await fake.wait_for(lambda: state.get("edits"))  # "Done." closes the thinking note, last
    assert [m["content"] for m in fake.bot_messages(heads)][-1] == "Quick meeting booked"
    assert len(fake.scheduled_events) == 1


async def test_a_slow_button_is_deferred_then_followed_up(dbot: Any, fake: FakeDiscord, world: World) -> None:
    run = await start_adapter(dbot, fake, ack_deadline=0.05)
    try:
        fake.post(world.dm(HEAD), world.uid(HEAD), "slowchoice")
        await run.settle()
        [offer] = fake.dms_to(world.uid(HEAD))
        state = await answered(fake, fake.press(world.uid(HEAD), offer, "pb:t.slow:1"))
        [response] = state["responses"]
        assert response["type"] == 6  # "deferred update": the button's message stays as it is
        assert response["at"] - state["created"] < 1.0
        await fake.wait_for(lambda: state["followups"])
        [followup] = state["followups"]
        assert followup["message"]["content"] == "pressed, slowly" and followup["message"]["flags"] & EPHEMERAL
        assert fake.dms_to(world.uid(HEAD))[0]["content"] == "Press when ready:"
    finally:
        await run.stop()
