"""A question typed to the bot — in a DM, or with a mention anywhere — starts routing."""

from __future__ import annotations

from sqlalchemy import select

from bot.app import PeerBot
from bot.models import Question
from tests.routing.test_flow import ASKER, BEN, requests
from tests.support.chat import Chat
from tests.support.routing import count

EHCP = "how do you run EHCP annual reviews without it eating the SENCO's whole week?"


async def only_question(bot: PeerBot) -> Question:
    async with bot.db.session() as session:
        return (await session.execute(select(Question))).unique().scalar_one()


async def test_a_question_typed_in_a_dm_is_asked(net: Chat, net_bot: PeerBot) -> None:
    [reply] = await net.say(ASKER, "how are people getting persistent absence down?")
    assert "I've asked 2 peers" in reply.text and requests(net, BEN)
    [post] = [s for s in net.transport.sent if s.kind == "channel"]
    assert post.to == "heads" and post.text.startswith("**Ellen Evans (Beacon Hill Primary School) asks:**")
    question = await only_question(net_bot)
    assert (question.via, question.group, question.anonymous) == ("direct", "heads", False)


async def test_a_dm_question_can_be_anonymous(net: Chat, net_bot: PeerBot) -> None:
    [reply] = await net.say(ASKER, "anonymously, how are people getting persistent absence down?")
    assert "asked anonymously" in reply.text
    [post] = [s for s in net.transport.sent if s.kind == "channel"]
    assert post.text.startswith("**A colleague in the network asks:**\nhow are people")


async def test_a_mention_outside_the_group_channels_is_asked_privately(net: Chat, net_bot: PeerBot) -> None:
    [reply] = await net.say(ASKER, EHCP, where="random", mention=True)
    assert reply.private and "I'm not sure what you'd like me to do" not in reply.text
    question = await only_question(net_bot)
    assert (question.via, question.group, question.thread) == ("mention", "heads", None)  # the asker's own group
    [post] = [s for s in net.transport.sent if s.kind == "channel"]
    assert post.to == "heads"  # answers gather in the group's channel, not the unmapped one


async def test_someone_in_one_group_asks_it(net: Chat, net_bot: PeerBot) -> None:
    await net.say("c.evans@northgate.sch.uk", "does anyone have a good way to run CPD for support staff?")
    assert (await only_question(net_bot)).group == "dsl"  # Chris Evans is a DSL and nothing else


async def test_chatter_and_non_questions_are_left_alone(net: Chat, net_bot: PeerBot) -> None:
    assert await net.say(ASKER, "how about that weather", where="random") == []  # not addressed
    [reply] = await net.say(ASKER, "thanks!", where="random", mention=True)
    assert "I'm not sure what you'd like me to do" in reply.text
    [reply] = await net.say(ASKER, "morning!")
    assert "I'm not sure what you'd like me to do" in reply.text
    assert await count(net_bot, Question) == 0


async def test_a_mentioned_anonymous_question_in_a_channel_is_refused(net: Chat, net_bot: PeerBot) -> None:
    for where in ("heads", "random"):
        [reply] = await net.say(
            ASKER, "anonymously: how are people getting persistent absence down?", where=where, mention=True
        )
        assert "wouldn't be anonymous" in reply.text and reply.text.endswith("Nothing was changed.")
    assert await count(net_bot, Question) == 0 and net.transport.sent == []
