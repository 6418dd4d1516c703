"""Holes in a question's life: released held questions, late answers, busy peers, people
going away, and expired questions' text."""

from __future__ import annotations

from sqlalchemy import select

from bot.app import PeerBot
from bot.models import Answer, OutboxMessage, Question
from tests.routing.test_flow import ASKER, BEN, requests
from tests.support.chat import Chat

HELD = "How do I get Tyler Johnson (Y4, DOB 12/03/2017) back into school? PA is 40%"


async def test_a_released_channel_question_is_posted_afresh_not_hung_from_the_asker_message(
    net: Chat, net_bot: PeerBot
) -> None:
    [warning] = await net.say(ASKER, HELD, where="heads")  # the asker's own message is "u1"
    await net.press(ASKER, warning, "question.send")
    [post] = [s for s in net.transport.sent if s.kind == "channel"]
    assert post.to == "heads" and post.text.startswith("**Ellen Evans (Beacon Hill Primary School) asks:**")
    assert "[removed]" in post.text and "Tyler" not in post.text
    async with net_bot.db.session() as session:
        question = (await session.execute(select(Question))).unique().scalar_one()
        assert question.thread is None  # until the bot's post lands and someone replies to it
        targets = (await session.execute(select(OutboxMessage.target).where(OutboxMessage.key.like("q%:ref%")))).all()
    assert targets and all("fallback" not in t for (t,) in targets)  # never pointing at the asker's message
    # A reply under the asker's original message is not an answer; one under the bot's post is.
    await net.say(BEN, "We did a part-time timetable.", where="heads", thread="u1")
    await net.say(BEN, "We did a part-time timetable.", where="heads", thread=post.ref.message_id)
    async with net_bot.db.session() as session:
        [answer] = list((await session.execute(select(Answer))).unique().scalars())
        question = (await session.execute(select(Question))).unique().scalar_one()
    assert answer.message_id != "u1" and question.thread_message_id == post.ref.message_id
    assert requests(net, BEN)


async def decline_every_request(net: Chat) -> None:
    """Everyone asked says "Not me", one after another, until nobody is left to ask."""
    answered: set[str] = set()
    for _ in range(30):
        pending = [
            s
            for s in net.dms()
            if s.buttons and s.buttons[0].action == "referral.accept" and s.ref.message_id not in answered
        ]
        if not pending:
            return
        answered.add(pending[0].ref.message_id)
        await net.press(pending[0].to or "", pending[0], "referral.decline")
    raise AssertionError("requests kept coming")


async def test_a_late_answer_to_an_expired_question_still_reaches_the_asker(net: Chat, net_bot: PeerBot) -> None:
    await net.say(ASKER, "ask how are people getting persistent absence down?")
    [post] = [s for s in net.transport.sent if s.kind == "channel"]
    await decline_every_request(net)
    async with net_bot.db.session() as session:
        assert (await session.execute(select(Question.status))).scalar_one() == "expired"
    # Days later someone replies under the bot's post after all.
    await net.say(BEN, "Late, but: letters at 92%, meetings at 90%.", where="heads", thread=post.ref.message_id)
    [told] = [s for s in net.dms(ASKER) if "replied to your question" in s.text]
    assert told.text.startswith("Ben Brown (Ashgrove Primary School) replied") and told.buttons
    async with net_bot.db.session() as session:
        question = (await session.execute(select(Question))).unique().scalar_one()
        assert question.status == "answered" and question.thread_message_id == post.ref.message_id
    [closed] = await net.press(ASKER, told, "question.answered")
    assert "closed your question" in closed.text
