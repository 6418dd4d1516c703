"""The dispatcher and the basic commands, through the core's event model."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.app import PeerBot
from bot.dispatch import NOT_HANDLED, Context, command, on_button, on_message
from bot.dispatch.dispatcher import Handled
from bot.dispatch.registry import _ATTR, Registry
from bot.errors import BadInput
from bot.events import CommandInvoked, MemberJoined, MessagePosted, Place, Sender, event_to_json
from bot.models import AdminLog, InboxEvent, School
from bot.replies import Respond, replies_from_json, replies_to_json
from tests.support.chat import Chat

HEAD = "p.shah@oakfield.sch.uk"  # Oakfield's head and the network's convenor
SENCO = "h.cole@oakfield.sch.uk"


async def test_help_lists_commands_from_docstrings(chat: Chat) -> None:
    [reply] = await chat.say(HEAD, "help")
    assert reply.kind == "reply" and reply.private
    assert "**strengths [school or topic]** — Show what schools offer" in reply.text
    [detail] = await chat.say(HEAD, "help needs")
    assert detail.text.startswith("**needs [school or topic]**")


async def test_whoami(chat: Chat) -> None:
    [reply] = await chat.say(SENCO, "whoami")
    assert "**Hannah Cole**" in reply.text and "Oakfield Primary School" in reply.text
    assert "Groups: senco." in reply.text


async def test_strengths_for_one_school_names_who_carries_each(chat: Chat) -> None:
    [reply] = await chat.say(HEAD, "strengths greensbury")
    assert reply.text.splitlines()[0].startswith("**Greensbury Special School** — strengths (audited by Jane Porter")
    assert "- Autism-specific provision and training for TAs — Anna Fischer" in reply.text
    assert "- Positive handling and de-escalation training — Anna Fischer" in reply.text  # [deputy]


async def test_needs_for_the_network_and_self_declared_marked(chat: Chat) -> None:
    [reply] = await chat.say(HEAD, "needs")
    assert "**Marygreen Academy** (self-declared): Specialist support for pupils with autism" in reply.text
    assert reply.text.count("\n- ") == 12


async def test_school_names_are_matched_loosely_and_ambiguity_is_asked(chat: Chat) -> None:
    [reply] = await chat.say(HEAD, "strengths st marys")
    assert "St Mary's RC Primary School" in reply.text
    [reply] = await chat.say(HEAD, "strengths school")
    assert "which one?" in reply.text
    [reply] = await chat.say(HEAD, "strengths Hogwarts")
    assert reply.text == "There is no school called 'Hogwarts' in the network."


async def test_slash_command_works_in_a_channel_and_answers_privately(chat: Chat) -> None:
    [reply] = await chat.command(HEAD, "strengths", "oakfield", where="heads")
    assert reply.private and "Phonics scheme rollout" in reply.text


async def test_mention_in_channel_runs_a_command(chat: Chat) -> None:
    [reply] = await chat.say(HEAD, "network", where="heads", mention=True)
    assert "12 schools, 36 people" in reply.text


async def test_unknown_command_is_friendly_and_suggests(chat: Chat) -> None:
    [reply] = await chat.command(HEAD, "strenghts")
    assert reply.private
    assert (
        reply.text
        == "I don't know the command 'strenghts'. Did you mean **strengths**? Type **help** to see what I can do."
    )
    [reply] = await chat.say(HEAD, "what is this?")
    assert "Type **help**" in reply.text


async def test_channel_chatter_gets_no_reply(chat: Chat) -> None:
    assert await chat.say(HEAD, "morning all!", where="heads") == []


async def test_unknown_person_gets_a_polite_explanation_and_no_data(chat: Chat) -> None:
    [reply] = await chat.say("stranger@example.com", "strengths")
    assert reply.private
    assert "don't have you on the network's list" in reply.text
    assert "Phonics" not in reply.text
    [reply] = await chat.command("stranger@example.com", "network")
    assert "12 schools" not in reply.text
    # In a channel peerbot does not serve, strangers' chatter is ignored.
    assert await chat.say("stranger@example.com", "hi", where="random") == []


async def test_people_who_left_are_strangers(chat: Chat, demo_bot: PeerBot) -> None:
    from bot.network import store

    async with demo_bot.db.session() as session:
        person = await store.person_by_email(session, demo_bot.network_id, SENCO)
        assert person is not None
        person.active = False
    [reply] = await chat.say(SENCO, "whoami")
    assert "don't have you" in reply.text


async def test_huge_message_is_refused_and_nothing_is_stored(chat: Chat, demo_bot: PeerBot) -> None:
    [reply] = await chat.say(HEAD, "x" * 50_000, event_id="huge-1")
    assert reply.private and "too long" in reply.text and "50,000" in reply.text
    from bot.models import SeenEvent

    async with demo_bot.db.session() as session:
        assert (await session.execute(select(func.count()).select_from(SeenEvent))).scalar_one() == 0


async def test_a_retried_event_is_handled_once(chat: Chat) -> None:
    first = await chat.say(HEAD, "whoami", event_id="Ev123")
    again = await chat.say(HEAD, "whoami", event_id="Ev123")
    assert len(first) == 1 and again == []


async def test_unknown_button_is_explained(chat: Chat) -> None:
    from bot.events import ButtonPressed

    [reply] = await chat.send_event(
        ButtonPressed(
            sender=Sender(platform="console", user_id=HEAD),
            place=Place(platform="console", channel_id="dm:x", is_direct=True),
            event_id="b1",
            action="nope.nothing",
        )
    )
    assert "no longer does anything" in reply.text


# -- handlers that fail roll everything back ------------------------------------------
@command("breakit")
async def breakit(ctx: Context) -> None:
    """Changes a school, then fails."""
    school = (await ctx.session.execute(select(School).limit(1))).scalar_one()
    school.name = "CHANGED"
    ctx.log_admin("test.break")
    raise RuntimeError("boom")


@command("refuse")
async def refuse(ctx: Context) -> None:
    """Changes a school, then refuses politely."""
    school = (await ctx.session.execute(select(School).limit(1))).scalar_one()
    school.name = "CHANGED"
    raise BadInput("that school is not yours to change")


@command("admin", convenor_only=True)
async def admin(ctx: Context) -> None:
    """Convenors only."""
    ctx.private("done")


@on_button("test.press")
async def pressed(ctx: Context, event: object) -> None:
    ctx.private(f"pressed {getattr(event, 'value', '')}")


@pytest.fixture
def test_registry_bot(demo_bot: PeerBot) -> PeerBot:
    demo_bot.registry = Registry.discover(["bot.handlers.basics", __name__])
    return demo_bot


async def school_names(bot: PeerBot) -> set[str]:
    async with bot.db.session() as session:
        return set((await session.execute(select(School.name))).scalars())


async def test_a_crashing_handler_changes_nothing(test_registry_bot: PeerBot, caplog: pytest.LogCaptureFixture) -> None:
    chat = Chat(test_registry_bot)
    before = await school_names(test_registry_bot)
    [reply] = await chat.say(HEAD, "breakit secret pupil text")
    assert "something went wrong on my side and nothing was changed" in reply.text
    assert await school_names(test_registry_bot) == before
    async with test_registry_bot.db.session() as session:
        assert (await session.execute(select(func.count()).select_from(AdminLog))).scalar_one() == 1  # the import
    assert "secret pupil text" not in caplog.text


async def test_bad_input_from_a_handler_is_polite_and_changes_nothing(test_registry_bot: PeerBot) -> None:
    chat = Chat(test_registry_bot)
    before = await school_names(test_registry_bot)
    [reply] = await chat.say(HEAD, "refuse")
    assert reply.text == "That school is not yours to change. Nothing was changed."
    assert await school_names(test_registry_bot) == before


async def test_convenor_only_commands(test_registry_bot: PeerBot) -> None:
    chat = Chat(test_registry_bot)
    [reply] = await chat.say(SENCO, "admin")
    assert reply.text == "Only the network's convenor can use **admin**."
    [reply] = await chat.say(HEAD, "admin")
    assert reply.text == "done"
    [help_for_senco] = await chat.say(SENCO, "help")
    assert "**admin**" not in help_for_senco.text


async def test_buttons_reach_their_handler(test_registry_bot: PeerBot) -> None:
    from bot.events import ButtonPressed

    chat = Chat(test_registry_bot)
    [reply] = await chat.send_event(
        ButtonPressed(
            sender=Sender(platform="console", user_id=HEAD),
            place=Place(platform="console", channel_id="dm:x", is_direct=True),
            event_id="b2",
            action="test.press",
            value="42",
        )
    )
    assert reply.text == "pressed 42"


def test_handlers_ask_only_for_what_can_be_injected() -> None:
    with pytest.raises(TypeError, match="cannot inject wibble"):

        @command("bad")
        async def bad(wibble: int) -> None:
            """Bad."""


def test_duplicate_commands_are_refused() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        Registry.discover(["bot.handlers.basics", "bot.handlers.basics"])


async def test_join_welcomes_members(chat: Chat) -> None:
    [reply] = await chat.join(SENCO, "senco")
    assert reply.private and "Welcome to the senco channel, Hannah" in reply.text


async def test_message_event_ref() -> None:
    event = MessagePosted(
        sender=Sender(platform="slack", user_id="U1"),
        place=Place(platform="slack", channel_id="C1", thread_id="1.0"),
        text="x",
        message_id="2.0",
    )
    assert event.ref.thread_root == "1.0"


async def test_home_shows_sections_from_every_provider(chat: Chat, demo_bot: PeerBot) -> None:
    from bot.home import home_for

    [reply] = await chat.say(SENCO, "home")
    assert "**Oakfield Primary School's strengths**\n- Phonics scheme rollout and early reading" in reply.text
    sections = await home_for(demo_bot, "console", SENCO)
    assert sections is not None and sections[-1].title == "Oakfield Primary School's strengths"
    assert await home_for(demo_bot, "console", "stranger@example.com") is None


async def test_strengths_and_needs_by_topic(chat: Chat) -> None:
    [reply] = await chat.say(HEAD, "strengths autism")
    assert reply.text.splitlines()[0] == "**Strengths about SEND (special educational needs and disabilities):**"
    assert "- **Greensbury Special School**: Autism-specific provision and training for TAs" in reply.text
    assert "Phonics" not in reply.text
    [reply] = await chat.say(HEAD, "needs attendance")
    assert "- **Fairsmead Primary Academy**: Emotionally based school avoidance support" in reply.text
    assert "- **Brookside Junior School**: Attendance of disadvantaged pupils" in reply.text
    [reply] = await chat.say(HEAD, "strengths quidditch")
    assert reply.text == "There is no school called 'quidditch' in the network."


async def test_logs_hold_no_message_text_unless_the_network_asks(
    chat: Chat, demo_bot: PeerBot, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.DEBUG, logger="bot")
    await chat.say(HEAD, "whoami please, about Jayden in Y4")
    assert "MessagePosted from console" in caplog.text and "Jayden" not in caplog.text
    caplog.clear()
    from bot.config import config_from_dict

    demo_bot.config = config_from_dict({"network": {"name": "Test Network"}, "privacy": {"log_message_text": True}})
    await chat.say(HEAD, "whoami please")
    assert "'whoami please'" in caplog.text


async def test_a_stranger_posting_in_a_group_channel_is_told_once_a_day(chat: Chat, demo_bot: PeerBot) -> None:
    from datetime import timedelta

    stranger = "stranger@example.com"
    [first] = await chat.say(stranger, "how do you all do phonics?", where="heads")
    assert "don't have you on the network's list" in first.text
    assert await chat.say(stranger, "anyone?", where="heads") == []
    [asked] = await chat.say(stranger, "whoami")  # asking the bot directly is always answered
    assert "don't have you" in asked.text
    demo_bot.clock.advance(timedelta(days=1))  # type: ignore[attr-defined]
    assert await chat.say(stranger, "hello again", where="heads") == []  # chatter: never told
    [next_day] = await chat.say(stranger, "does anyone have a behaviour policy to share?", where="heads")
    assert "don't have you" in next_day.text


# -- chatter costs no transaction ---------------------------------------------------------
@pytest.fixture
def sessions(demo_bot: PeerBot, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the database sessions opened from now on (one entry each)."""
    opened: list[int] = []
    real = demo_bot.db.session

    def counting() -> Any:
        opened.append(1)
        return real()

    monkeypatch.setattr(demo_bot.db, "session", counting)
    return opened


def posted(
    who: str, text: str, *, where: str = "heads", thread: str | None = None, mention: bool = False
) -> MessagePosted:
    direct = where == "dm"
    return MessagePosted(
        sender=Sender(platform="console", user_id=who),
        place=Place(
            platform="console", channel_id=f"dm:{who}" if direct else where, is_direct=direct, thread_id=thread
        ),
        event_id=uuid.uuid4().hex,
        text=text,
        message_id=uuid.uuid4().hex,
        mentions_bot=mention,
    )


async def seen_count(bot: PeerBot) -> int:
    from bot.models import SeenEvent

    async with bot.db.session() as session:
        return int((await session.execute(select(func.count()).select_from(SeenEvent))).scalar_one())


async def test_chatter_opens_no_session_and_records_nothing(demo_bot: PeerBot, sessions: list[int]) -> None:
    chatter = [
        posted(HEAD, "morning all!"),  # a group's channel
        posted(HEAD, "anyone?"),  # too short to be a question
        posted(HEAD, "how is everyone doing today?", where="random"),  # a channel no group has
        posted("stranger@example.com", "hello, I'm new here"),  # a stranger's chatter: not told
    ]
    for event in chatter:
        assert not demo_bot.dispatcher.wants(event)
        assert await demo_bot.handle(event) == []
    assert sessions == []
    assert await seen_count(demo_bot) == 0


async def test_what_the_bot_acts_on_still_goes_through_the_database(demo_bot: PeerBot, sessions: list[int]) -> None:
    from bot.events import ButtonPressed

    question = posted(HEAD, "does anyone have a good phonics scheme they would recommend?")
    mention = posted(HEAD, "whoami", mention=True)
    direct = posted(HEAD, "whoami", where="dm")
    unclear = posted(HEAD, "morning!", where="dm")  # addressed, but neither a command nor a question
    in_thread = posted(SENCO, "we use Little Wandle and love it", thread="u1")
    slash = CommandInvoked(
        sender=Sender(platform="console", user_id=HEAD),
        place=Place(platform="console", channel_id="heads"),
        event_id="c1",
        name="whoami",
    )
    press = ButtonPressed(
        sender=Sender(platform="console", user_id=HEAD),
        place=Place(platform="console", channel_id="dm:x", is_direct=True),
        event_id="b3",
        action="nope.nothing",
    )
    events = [question, mention, direct, unclear, in_thread, slash, press]
    for event in events:
        assert demo_bot.dispatcher.wants(event)
    [asked, *_] = await demo_bot.handle(question)
    assert asked.target == Respond(private=True) and "question" in asked.message.text.lower()
    [me] = await demo_bot.handle(mention)
    assert "Oakfield Primary School" in me.message.text
    [me_again] = await demo_bot.handle(direct)
    assert "Oakfield" in me_again.message.text
    [hint] = await demo_bot.handle(unclear)
    assert "Type **help**" in hint.message.text
    assert await demo_bot.handle(in_thread) == []  # not a question's thread: looked up, nothing to do
    [slashed] = await demo_bot.handle(slash)
    assert "Oakfield" in slashed.message.text
    [pressed_reply] = await demo_bot.handle(press)
    assert "no longer does anything" in pressed_reply.message.text
    [joined] = await demo_bot.handle(
        MemberJoined(
            sender=Sender(platform="console", user_id=SENCO),
            place=Place(platform="console", channel_id="senco"),
            event_id="j1",
        )
    )
    assert "Welcome" in joined.message.text
    assert len(sessions) >= len(events) + 1
    assert await seen_count(demo_bot) == len(events) + 1  # every one of them was recorded


async def test_a_stranger_is_told_when_they_post_what_the_bot_would_act_on(
    demo_bot: PeerBot, sessions: list[int]
) -> None:
    stranger = "stranger@example.com"
    assert await demo_bot.handle(posted(stranger, "morning all")) == []
    assert sessions == []
    for event in (
        posted(stranger, "does anyone have an attendance policy they could share?"),  # a question: once a day
        posted(stranger, "whoami", mention=True),
        posted(stranger, "hello", where="dm"),
    ):
        [told] = await demo_bot.handle(event)
        assert told.target == Respond(private=True)
        assert "don't have you on the network's list" in told.message.text
    assert await demo_bot.handle(posted(stranger, "has anyone got a good EHCP template to share?")) == []


async def test_a_handlers_when_sees_the_message_and_its_group_only(demo_bot: PeerBot, sessions: list[int]) -> None:
    seen: list[tuple[str, str | None]] = []

    def wants_notes(event: MessagePosted, group: str | None) -> bool:
        seen.append((event.text, group))
        return group == "senco" and event.text.startswith("note:")

    @on_message(where="channel", when=wants_notes, priority=50)
    async def note(ctx: Context, group: str) -> None:
        ctx.private(f"noted for {group}")

    @on_message(where="thread")
    async def any_thread(ctx: Context) -> object:
        return NOT_HANDLED

    registry = Registry.discover(["bot.handlers.basics"])
    registry.messages[:0] = [*getattr(note, _ATTR), *getattr(any_thread, _ATTR)]
    registry.messages.sort(key=lambda s: -s.priority)
    demo_bot.registry = registry
    assert await demo_bot.handle(posted(SENCO, "note: new date", where="heads")) == []
    assert await demo_bot.handle(posted(SENCO, "hello", where="senco")) == []
    assert sessions == []
    [noted] = await demo_bot.handle(posted(SENCO, "note: new date", where="senco"))
    assert noted.message.text == "noted for senco"
    assert seen == [("note: new date", "heads"), ("hello", "senco"), ("note: new date", "senco")]
    # A handler with no ``when`` wants every message where it is: each reply in a thread.
    assert await demo_bot.handle(posted(SENCO, "ok", thread="t1")) == []
    assert len(sessions) == 2


async def kept_replies(bot: PeerBot, event: MessagePosted) -> tuple[list[Any], list[Any] | None]:
    """Handle ``event`` as the inbox's drainer does (with its row): the replies returned,
    and those the handling's transaction kept in the row."""
    async with bot.db.session() as session:
        row = InboxEvent(
            network_id=bot.network_id,
            platform=event.sender.platform,
            event_id=event.event_id,
            conversation="c",
            sender_id=event.sender.user_id,
            event=event_to_json(event),
            context={},
            received_at=bot.clock.now(),
        )
        session.add(row)
    replies = await bot.handle(event, inbox_row=row.id)
    async with bot.db.session() as session:
        kept = (await session.execute(select(InboxEvent.replies).where(InboxEvent.id == row.id))).scalar_one()
    return replies, kept


async def test_the_handling_keeps_its_replies_in_the_inbox_row(test_registry_bot: PeerBot) -> None:
    chat = Chat(test_registry_bot)
    whoami = MessagePosted(
        sender=chat.sender(HEAD), place=chat.place(HEAD, "dm", None), event_id="E1", text="whoami", message_id="m1"
    )
    replies, kept = await kept_replies(test_registry_bot, whoami)
    assert kept is not None and replies_from_json(kept) == replies  # the same replies, in the same commit
    assert replies[0].target == Respond(private=True) and "Priya Shah" in replies[0].message.text

    refused = replace(whoami, event_id="E2", text="refuse")
    replies, kept = await kept_replies(test_registry_bot, refused)
    assert kept is None  # rolled back with everything else: a restart handles it again
    assert replies[0].message.text == "That school is not yours to change. Nothing was changed."

    stranger = replace(whoami, event_id="E3", sender=Sender(platform="console", user_id="nobody@x.uk"))
    replies, kept = await kept_replies(test_registry_bot, stranger)
    assert kept is not None and replies_from_json(kept) == replies and "don't have you" in replies[0].message.text


async def test_replies_kept_with_the_seen_event_come_back_with_a_repeat_until_let_go(
    test_registry_bot: PeerBot,
) -> None:
    """Discord's way (no inbox: its events come back from history after a restart)."""
    from bot.dispatch.dispatcher import replies_gone
    from bot.models import SeenEvent

    bot = test_registry_bot
    chat = Chat(bot)
    whoami = MessagePosted(
        sender=chat.sender(HEAD), place=chat.place(HEAD, "dm", None), event_id="K1", text="whoami", message_id="m1"
    )

    async def kept(event_id: str) -> tuple[Any, Any]:
        async with bot.db.session() as session:
            q = select(SeenEvent.replies, SeenEvent.sender_id).where(SeenEvent.event_id == event_id)
            return (await session.execute(q)).one()

    first = await bot.handle_keeping(whoami)
    assert not first.again and "Priya Shah" in first.replies[0].message.text
    assert await kept("K1") == (replies_to_json(first.replies), whoami.sender.user_id)  # in the same commit
    repeat = await bot.handle_keeping(whoami)
    assert repeat.again and repeat.replies == first.replies  # handled once: the kept replies, to be sent if need be
    assert await bot.handle(whoami) == []  # a platform with the inbox drops a repeat, as ever
    async with bot.db.session() as session:
        await replies_gone(session, whoami.sender.platform, ["K1", "unknown"])
    assert await kept("K1") == (None, None)
    assert await bot.handle_keeping(whoami) == Handled([], again=True)

    refused = replace(whoami, event_id="K2", text="refuse")
    failed = await bot.handle_keeping(refused)
    assert failed.replies[0].message.text == "That school is not yours to change. Nothing was changed."
    again = await bot.handle_keeping(refused)  # rolled back with everything else: handled afresh
    assert not again.again and again.replies == failed.replies

    plain = replace(whoami, event_id="K3")
    assert await bot.handle(plain)  # without keeping: nothing kept, nothing given back
    assert await kept("K3") == (None, None)
    assert await bot.handle_keeping(plain) == Handled([], again=True)


async def test_files_are_worth_fetching_only_for_a_members_new_event(chat: Chat) -> None:
    def event(who: str, event_id: str) -> MessagePosted:
        return MessagePosted(
            sender=Sender(platform="console", user_id=who),
            place=Place(platform="console", channel_id=f"dm:{who}", is_direct=True),
            event_id=event_id,
            text="kb add policy",
            message_id=event_id,
        )

    assert await chat.bot.takes_files(event(HEAD, "f1"))
    assert not await chat.bot.takes_files(event("stranger@elsewhere.org", "f2"))
    await chat.say(HEAD, "whoami", event_id="f1")  # handled: a platform's second delivery is a repeat
    assert not await chat.bot.takes_files(event(HEAD, "f1"))
