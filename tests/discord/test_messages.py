"""Messages from the gateway, through the real discord.py client, to the core and back."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select

from bot.models import SeenEvent
from tests.discord.conftest import DSL, HEAD, PEER, Running, World
from tests.support.discord_fake import FakeDiscord


async def seen(running: Running) -> set[str]:
    async with running.bot.db.session() as session:
        return set((await session.execute(select(SeenEvent.event_id))).scalars())


async def test_a_dm_command_is_answered_in_the_dm(running: Running, fake: FakeDiscord, world: World) -> None:
    fake.post(world.dm(HEAD), world.uid(HEAD), "whoami")
    await running.settle()
    [reply] = fake.dms_to(world.uid(HEAD))
    assert "You are **Priya Shah**" in reply["content"]
    assert reply["nonce"]  # every send carries a nonce (with enforce_nonce)


async def test_a_mention_in_a_group_channel_runs_a_command_and_answers_privately(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    heads = world.channels["heads"]
    fake.post(heads, world.uid(HEAD), f"{fake.mention()} network", mentions=[fake.app_id])
    await running.settle()
    [reply] = fake.dms_to(world.uid(HEAD))
    assert "3 schools, 10 people" in reply["content"]
    assert fake.bot_messages(heads) == []  # nothing private in the channel


async def test_chatter_in_a_group_channel_costs_no_transaction_and_moves_the_cursor(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    heads = world.channels["heads"]
    handled = running.adapter.core_handled
    message = fake.post(heads, world.uid(HEAD), "morning all!")
    await running.settle()
    # The core's wants() said no: not handed to it, nothing recorded, no reply ...
    assert running.adapter.core_handled == handled and running.adapter.passed_over == 1
    assert message["id"] not in await seen(running)
    assert fake.bot_messages() == []
    assert running.adapter.cursors.get(int(heads)) == int(message["id"])  # ... and a restart reads on after it
    question = fake.post(heads, world.uid(HEAD), "question: how do you all run parents' evenings?")
    await running.settle()
    assert running.adapter.core_handled == handled + 1 and question["id"] in await seen(running)


async def test_unwatched_channels_are_ignored_unless_the_bot_is_mentioned(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    plain = fake.post(world.general, world.uid(HEAD), "whoami")
    mentioned = fake.post(world.general, world.uid(HEAD), f"<@{fake.app_id}> whoami", mentions=[fake.app_id])
    await running.settle()
    assert plain["id"] not in await seen(running)
    assert mentioned["id"] in await seen(running)
    [reply] = fake.dms_to(world.uid(HEAD))
    assert "Priya Shah" in reply["content"]


async def test_a_question_gets_its_own_thread_and_peers_a_dm_with_buttons(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    heads = world.channels["heads"]
    question = fake.post(heads, world.uid(HEAD), "question: how did you handle a parent complaint about uniform?")
    await running.settle()
    [thread] = fake.threads_of(heads)
    assert thread["id"] == question["id"]  # a thread on the question itself
    assert thread["name"] == "Question from Priya Shah"  # never the question's text
    [ack] = fake.bot_messages(thread["id"])
    assert ack["content"].startswith("Thanks — I'll find someone in heads")
    [dm] = fake.dms_to(world.uid(PEER))
    ids = [c.get("custom_id") or c["url"] for row in dm["components"] for c in row["components"]]
    assert ids == [
        f"pb:t.accept:{heads}/{question['id']}",
        f"pb:t.decline:{heads}/{question['id']}",
        f"https://discord.com/channels/{fake.guild_id}/{question['id']}",
    ]
    styles = [c["style"] for row in dm["components"] for c in row["components"]]
    assert styles == [1, 2, 5]  # primary, secondary, link


async def test_a_dm_about_a_question_starts_its_thread_and_links_to_it(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    heads = world.channels["heads"]
    question = fake.post(heads, world.uid(HEAD), "quietly: who has a good lettings policy?")
    await running.settle()
    [thread] = fake.threads_of(heads)
    assert thread["id"] == question["id"] and thread["name"] == "Question from Priya Shah"
    assert fake.bot_messages(thread["id"]) == []  # the thread is there for the answers
    [dm] = fake.dms_to(world.uid(PEER))
    buttons = [c for row in dm["components"] for c in row["components"]]
    assert buttons[0]["custom_id"] == f"pb:t.accept:{heads}/{question['id']}"
    assert buttons[1]["url"] == f"https://discord.com/channels/{fake.guild_id}/{question['id']}"
    assert buttons[1]["label"] == "Open the thread" and buttons[1]["style"] == 5
    [asker] = fake.dms_to(world.uid(HEAD))
    assert asker["content"].startswith("I've asked a peer")


async def test_replies_in_a_thread_stay_in_it_and_know_their_group(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    dsl = world.channels["dsl"]
    question = fake.post(dsl, world.uid(DSL), "question: a safeguarding referral")
    await running.settle()
    [thread] = fake.threads_of(dsl)
    fake.post(thread["id"], world.uid(DSL), "answer: we called the LADO")
    await running.settle()
    replies = fake.bot_messages(thread["id"])
    assert replies[-1]["content"] == f"Noted your answer in the dsl thread {question['id']}."
    assert len(fake.threads_of(dsl)) == 1
    # Nothing from the DSL channel appeared anywhere else.
    elsewhere = [m for cid, ms in fake.messages.items() if cid not in (dsl, thread["id"]) for m in ms]
    assert not [m for m in elsewhere if "LADO" in m["content"] or "safeguarding" in m["content"]]


async def test_a_public_reply_goes_in_the_channel(running: Running, fake: FakeDiscord, world: World) -> None:
    heads = world.channels["heads"]
    fake.post(heads, world.uid(HEAD), f"<@{fake.app_id}> ping", mentions=[fake.app_id])
    await running.settle()
    [pong] = fake.bot_messages(heads)
    assert pong["content"] == "pong" and fake.threads_of(heads) == []


async def test_a_private_reply_to_someone_with_closed_dms_says_so_without_the_text(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    heads = world.channels["heads"]
    fake.dms_closed.add(world.uid(HEAD))
    asked = fake.post(heads, world.uid(HEAD), f"<@{fake.app_id}> secret", mentions=[fake.app_id])
    await running.settle()
    assert fake.bot_messages(heads) == []
    [note] = fake.bot_messages(asked["id"])  # in the thread on their message, as the README says
    assert note["content"].startswith(f"<@{world.uid(HEAD)}> I have a private reply for you")
    assert "PRIVATE-NOTICE-TEXT" not in str(fake.messages)
    fake.post(asked["id"], world.uid(HEAD), f"<@{fake.app_id}> secret", mentions=[fake.app_id])
    await running.settle()
    assert len(fake.bot_messages(asked["id"])) == 2 and len(fake.threads_of(heads)) == 1  # in that thread


async def test_files_shared_in_a_dm_reach_the_core_and_big_ones_are_refused(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    big = b"x" * (running.adapter.incoming_limit + 1)
    fake.post(
        world.dm(HEAD),
        world.uid(HEAD),
        "files",
        attachments=[("policy.md", b"# Uniform policy\n", "text/markdown"), ("huge.pdf", big, "application/pdf")],
    )
    await running.settle()
    texts = [m["content"] for m in fake.dms_to(world.uid(HEAD))]
    assert any(t.startswith("I couldn't take huge.pdf") for t in texts)
    assert "files: policy.md (17 bytes)" in texts
    downloads = [c for c in fake.calls if "huge.pdf" in c.path]
    assert downloads == []  # too big: never fetched


async def test_long_answers_go_in_an_embed(running: Running, fake: FakeDiscord, world: World) -> None:
    fake.post(world.dm(HEAD), world.uid(HEAD), "long")
    await running.settle()
    [reply] = fake.dms_to(world.uid(HEAD))
    assert reply["content"] == "" and reply["embeds"][0]["description"].startswith("line of text")


async def test_a_file_from_the_core_is_attached(running: Running, fake: FakeDiscord, world: World) -> None:
    fake.post(world.dm(HEAD), world.uid(HEAD), "report")
    await running.settle()
    [reply] = fake.dms_to(world.uid(HEAD))
    assert reply["attachments"][0]["filename"] == "report.csv"
    assert fake.attachments[reply["attachments"][0]["id"]] == b"a,b\n1,2\n"


async def test_a_huge_message_is_refused_politely_and_nothing_is_stored(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    fake.post(world.dm(HEAD), world.uid(HEAD), "x" * 50_000)
    await running.settle()
    [reply] = fake.dms_to(world.uid(HEAD))
    assert "too long" in reply["content"]
    async with running.bot.db.session() as session:
        assert (await session.execute(select(func.count()).select_from(SeenEvent))).scalar_one() == 0


async def test_someone_in_the_server_but_not_the_network_is_told_politely(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    fake.post(fake.dm_channel(world.stranger), world.stranger, "strengths")
    await running.settle()
    [reply] = fake.dms_to(world.stranger)
    assert "don't have you on the network's list" in reply["content"]
    assert "Phonics" not in reply["content"]


async def test_someone_outside_the_server_is_refused_once_and_never_reaches_the_core(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    dm = fake.dm_channel(world.outsider)
    first = fake.post(dm, world.outsider, "strengths")
    fake.post(dm, world.outsider, "strengths please")
    await running.settle()
    [reply] = fake.dms_to(world.outsider)
    assert "only help members of the network's Discord server" in reply["content"]
    assert first["id"] not in await seen(running)


async def test_messages_from_another_server_are_ignored(running: Running, fake: FakeDiscord, world: World) -> None:
    message = fake.post(
        world.general, world.uid(HEAD), f"<@{fake.app_id}> whoami", mentions=[fake.app_id], dispatch=False
    )
    fake.dispatch("MESSAGE_CREATE", {**message, "guild_id": "1234", "channel_id": "5678"})
    await running.settle()
    assert fake.bot_messages() == [] and message["id"] not in await seen(running)


async def test_bots_and_the_bot_itself_are_ignored(running: Running, fake: FakeDiscord, world: World) -> None:
    other_bot = fake.add_user("Another Bot", bot=True, roles=[world.roles["heads"]])
    message = fake.post(world.channels["heads"], other_bot, f"<@{fake.app_id}> whoami", mentions=[fake.app_id])
    await running.settle()
    assert message["id"] not in await seen(running)


async def test_logs_never_contain_message_text(
    running: Running, fake: FakeDiscord, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.post(world.channels["heads"], world.uid(HEAD), "question: pupil Jane Doe, born 01/02/2015")
    fake.post(world.dm(HEAD), world.uid(HEAD), "whoami Jane Doe")
    await running.settle()
    assert "Jane Doe" not in caplog.text


async def test_a_strangers_files_are_not_downloaded(running: Running, fake: FakeDiscord, world: World) -> None:
    dm = fake.dm_channel(world.stranger)
    fake.post(dm, world.stranger, "files", attachments=[("notes.md", b"# Notes\n", "text/markdown")])
    await running.settle()
    [reply] = fake.dms_to(world.stranger)
    assert "don't have you on the network's list" in reply["content"]
    assert [c for c in fake.calls if "notes.md" in c.path] == []
