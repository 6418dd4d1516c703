"""The core's real flows on Discord, end to end: the handler modules ``peerbot run`` loads,
the demo network, the real discord.py client and the fake Discord.

The adapter's other tests use test handlers that produce every shape of reply; these
check that routing with its buttons, the knowledge base, the audit, meetings (polls,
bookings, RSVPs, scheduled events, nudges) and the privacy check really work through it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from bot.clock import FrozenClock
from bot.db.engine import Database
from bot.handlers import MODULES
from bot.meetings.sweep import sweep
from bot.models import Meeting
from tests.discord.conftest import DSL, HEAD, Running, World, open_bot, start_adapter
from tests.support.discord_fake import FakeDiscord

EPHEMERAL = 64
ANNA = "a.fischer@greensbury.sch.uk"  # deputy and SENCO at Greensbury: its EHCP strength is hers
EHCP = "How do you run EHCP annual reviews with the LA SEN team? ours keep slipping"


async def start_real(
    database: Database, clock: FrozenClock, world: World, fake: FakeDiscord, extra: dict[str, Any] | None = None
) -> Running:
    fake.clock = clock.now  # scheduled events are judged by the bot's (frozen) time
    bot = await open_bot(database, clock, world, modules=MODULES, extra=extra)
    return await start_adapter(bot, fake)


@pytest.fixture
async def real(database: Database, clock: FrozenClock, world: World, fake: FakeDiscord) -> AsyncIterator[Running]:
    run = await start_real(database, clock, world, fake)
    try:
        yield run
    finally:
        await run.stop()
        run.bot._stop.set()


async def press(fake: FakeDiscord, user: str, message: dict[str, Any], custom_id: str) -> dict[str, Any]:
    state = fake.interaction_by_id[fake.press(user, message, custom_id)]
    await fake.wait_for(lambda: state["responses"])
    return state


async def slash(fake: FakeDiscord, user: str, channel: str, name: str, text: str | None = None) -> dict[str, Any]:
    state = fake.interaction_by_id[fake.slash(user, channel, name, {"text": text} if text else None)]
    await fake.wait_for(lambda: state["responses"])
    return state


def answer_of(state: dict[str, Any]) -> dict[str, Any]:
    """The interaction's answer: its response, or the follow-up after a deferral."""
    [response] = state["responses"]
    if response["type"] in (5, 6):
        return dict(state["followups"][0]["message"])
    return dict(response["data"])


def custom_ids(message: dict[str, Any]) -> list[str]:
    return [c.get("custom_id") or c["url"] for row in message["components"] for c in row["components"]]


def everything_posted(fake: FakeDiscord) -> str:
    """Every message the fake keeps (channels, threads, DMs; not ephemeral answers)."""
    return "\n".join(m["content"] for messages in fake.messages.values() for m in messages)


async def test_a_question_reaches_the_right_peer_who_takes_it_answers_in_its_thread_and_is_thanked(
    real: Running, fake: FakeDiscord, world: World
) -> None:
    heads = world.channels["heads"]
    question = fake.post(heads, world.uid(HEAD), EHCP)
    await real.settle()
    [told] = fake.dms_to(world.uid(HEAD))
    assert told["content"].startswith("Thanks — I've asked 1 peer:\n- **Anna Fischer**, Greensbury Special School")
    [request] = fake.dms_to(world.uid(ANNA))
    assert request["content"].startswith("**Priya Shah (Oakfield Primary School) asks** in #heads:\n" + EHCP)
    thread_link = f"https://discord.com/channels/{fake.guild_id}/{question['id']}"
    assert custom_ids(request) == ["pb:referral.accept:1", "pb:referral.decline:1", thread_link]

    state = await press(fake, world.uid(ANNA), request, "pb:referral.accept:1")
    reply = answer_of(state)
    assert (
        reply["content"].startswith("Thank you! Please reply in the question's thread") and reply["flags"] & EPHEMERAL
    )
    await real.settle()
    [request] = fake.dms_to(world.uid(ANNA))  # edited in place, its buttons gone
    assert request["content"].startswith("You said you can help with:") and request["components"] == []
    assert fake.dms_to(world.uid(HEAD))[-1]["content"].startswith("Good news: Anna Fischer (Greensbury")

    fake.post(question["id"], world.uid(ANNA), "We book them a term ahead and send the LA the papers early.")
    await real.settle()
    replied = fake.dms_to(world.uid(HEAD))[-1]
    assert "replied to your question" in replied["content"] and "pb:question.answered:1" in custom_ids(replied)
    state = await press(fake, world.uid(HEAD), replied, "pb:question.answered:1")
    assert answer_of(state)["content"].startswith("Great — I've closed your question")
    await real.settle()
    consent = fake.dms_to(world.uid(ANNA))[-1]
    assert "May I keep it in the network's knowledge base" in consent["content"]
    assert custom_ids(consent) == ["pb:answer.share:1", "pb:answer.keep:1"]


async def test_a_question_with_a_pupils_details_is_held_back_privately(
    real: Running, fake: FakeDiscord, world: World
) -> None:
    text = "How do we support Jamie Smith (DOB 12/03/2016) with his attendance at home?"
    state = await slash(fake, world.uid(HEAD), world.channels["heads"], "ask", text)
    warning = answer_of(state)
    assert warning["content"].startswith("I've held your question back") and warning["flags"] & EPHEMERAL
    await real.settle()
    assert "Jamie Smith" not in everything_posted(fake)  # nowhere: no channel, thread or DM
    assert fake.dms_to(world.uid(ANNA)) == [] and fake.threads_of(world.channels["heads"]) == []


async def test_a_policy_shared_in_a_dm_goes_into_the_knowledge_base_and_is_found(
    real: Running, fake: FakeDiscord, world: World
) -> None:
    policy = b"# Attendance policy\n\nWe call home on the first day of absence and meet parents at 90%.\n" * 5
    fake.post(
        world.dm(HEAD), world.uid(HEAD), "kb add policy", attachments=[("attendance.md", policy, "text/markdown")]
    )
    await real.settle()
    [added] = fake.dms_to(world.uid(HEAD))
    assert added["content"].startswith("Added **Attendance policy** (policy, #1)")
    assert fake.calls_to("GET", r"/attachments/.*/attendance\.md")  # downloaded from Discord
    state = await slash(fake, world.uid(ANNA), world.channels["heads"], "kb", "first day absence")
    found = answer_of(state)
    assert "Attendance policy" in found["content"] and found["flags"] & EPHEMERAL


async def test_the_audit_analysis_answers_a_slash_command_privately(
    real: Running, fake: FakeDiscord, world: World
) -> None:
    state = await slash(fake, world.uid(HEAD), world.channels["heads"], "analysis")
    analysis = answer_of(state)
    assert analysis["content"].startswith("**Audit Analysis**: 5 needs across the network")
    assert "Marygreen Academy: _Specialist support for pupils with autism_ → **Greensbury" in analysis["content"]
    assert analysis["flags"] & EPHEMERAL


async def test_a_meeting_is_polled_booked_rsvped_and_nudged_in_the_groups_channel(
    real: Running, fake: FakeDiscord, world: World, clock: FrozenClock
) -> None:
    heads = world.channels["heads"]
    await sweep(real.bot)
    await real.settle()
    [poll] = fake.bot_messages(heads)
    assert "**Heads meeting — Autumn 2**: which dates can you make?" in poll["content"]
    assert custom_ids(poll) == ["pb:meeting.vote:1", "pb:meeting.vote:2"]
    state = await press(fake, world.uid(HEAD), poll, "pb:meeting.vote:1")
    assert answer_of(state)["content"].startswith("Thanks — you can make: Wed 2 Dec")
    await real.settle()
    assert "- Wed 2 Dec, 09:30–11:30 — 1 can make it" in fake.bot_messages(heads)[0]["content"]  # the tally

    state = await slash(fake, world.uid(HEAD), heads, "meetings", "book 1 1")  # the convenor books it
    assert answer_of(state)["content"].startswith("Booked the **Heads meeting — Autumn 2** for Wed 2 Dec")
    await real.settle()
    booked = fake.bot_messages(heads)[-1]
    assert booked["content"].startswith("**Heads meeting — Autumn 2** booked for **Wed 2 Dec, 09:30–11:30**")
    assert [a["filename"] for a in booked["attachments"]] == ["meeting.ics"]
    assert custom_ids(booked) == ["pb:meeting.rsvp:1:yes", "pb:meeting.rsvp:1:no"]
    [event] = fake.scheduled_events.values()
    assert event["name"] == "Heads meeting — Autumn 2" and event["status"] == 1
    assert event["scheduled_start_time"].startswith("2026-12-02T09:30")
    state = await press(fake, world.uid(HEAD), booked, "pb:meeting.rsvp:1:yes")
    assert answer_of(state)["flags"] & EPHEMERAL

    clock.set(datetime(2026, 11, 30, 9, 31, tzinfo=UTC))  # two days before: the agenda goes out
    await sweep(real.bot)
    await real.settle()
    nudge = fake.bot_messages(heads)[-1]
    assert nudge["content"].startswith("**Heads meeting — Autumn 2** — Wed 2 Dec, 09:30–11:30.\n**Agenda**")


async def test_a_dsl_meeting_stays_in_the_dsl_channel_and_makes_no_scheduled_event(
    database: Database, clock: FrozenClock, world: World, fake: FakeDiscord
) -> None:
    extra = {"groups": {"dsl": {"roles": ["dsl"], "meetings": {"cadence": "half-termly", "weekday": "thursday"}}}}
    run = await start_real(database, clock, world, fake, extra)
    try:
        dsl = world.channels["dsl"]
        await sweep(run.bot)
        await run.settle()
        [poll] = [m for m in fake.bot_messages() if m["content"].startswith("**DSL meeting — Autumn 2**")]
        assert poll["channel_id"] == dsl
        state = await press(fake, world.uid(DSL), poll, custom_ids(poll)[0])
        assert answer_of(state)["content"].startswith("Thanks — you can make:")
        async with run.bot.db.session() as session:
            meeting_id = (
                await session.execute(
                    select(Meeting.id).where(Meeting.group_name == "dsl", Meeting.status == "polling")
                )
            ).scalar_one()
        state = await slash(fake, world.uid(HEAD), world.channels["heads"], "meetings", f"book {meeting_id} 1")
        assert answer_of(state)["content"].startswith("Booked the **DSL meeting — Autumn 2**")  # by the convenor
        await run.settle()
        booked = fake.bot_messages(dsl)[-1]
        assert booked["content"].startswith("**DSL meeting — Autumn 2** booked for **Thu 3 Dec, 09:30–11:30**")
        assert not [m for m in fake.bot_messages() if "DSL meeting" in m["content"] and m["channel_id"] != dsl]
        assert fake.scheduled_events == {}  # an event would show everyone in the server
    finally:
        await run.stop()
        run.bot._stop.set()
