"""Holes in a question's life: released held questions, late answers, busy peers, people
going away, and expired questions' text."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.app import PeerBot
from bot.clock import FrozenClock
from bot.handlers.questions import sweep_once
from bot.models import Answer, OutboxMessage, Person, Question, Referral
from tests.routing.test_flow import ASKER, BEN, CONVENOR, FAYE, ask_in_channel, requests
from tests.support.chat import Chat

DOYLE = "c.doyle@hazelwood.sch.uk"
SAME_AGAIN = "persistent absence - what's your graduated response?"

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


async def question_of(bot: PeerBot, email: str) -> Question:
    async with bot.db.session() as session:
        q = select(Question).join(Person, Person.id == Question.asker_id).where(Person.email == email)
        return (await session.execute(q)).unique().scalar_one()


async def test_when_the_peers_who_fit_are_busy_the_question_waits_for_the_next_school_day(
    net: Chat, net_bot: PeerBot, clock: FrozenClock
) -> None:
    await ask_in_channel(net)  # Ben and Faye get their one new request of the day
    [reply] = await net.say(DOYLE, SAME_AGAIN, where="heads")
    assert "couldn't find anyone" not in reply.text and "Nobody" not in reply.text
    assert "already have several requests waiting" in reply.text
    assert "I'll ask them at 07:30 on Tuesday 24 November, when they have room" in reply.text
    waiting = await question_of(net_bot, DOYLE)
    assert (waiting.status, waiting.retry_at) == ("open", datetime(2026, 11, 24, 7, 30, tzinfo=UTC))
    [home] = await net.say(DOYLE, "home")
    assert "waiting: the peers who fit are busy, so I'll ask again on Tue 24 Nov" in home.text
    clock.set(datetime(2026, 11, 24, 7, 29, tzinfo=UTC))
    await sweep_once(net_bot)
    assert (await question_of(net_bot, DOYLE)).status == "open"  # not yet
    clock.set(datetime(2026, 11, 24, 7, 31, tzinfo=UTC))
    await sweep_once(net_bot)
    await net_bot.deliverer.drain()
    assert len(requests(net, BEN)) == 2 and len(requests(net, FAYE)) == 2
    [told] = [s for s in net.dms(DOYLE) if "I've now asked 2 peers" in s.text]
    assert "persistent absence" in told.text
    routed = await question_of(net_bot, DOYLE)
    assert (routed.status, routed.retry_at) == ("routed", None)
    assert await sweep_once(net_bot) == 0


class TestBusyDuringEscalation:
    @pytest.fixture
    def routing_settings(self) -> dict[str, object]:
        return {"peers_per_question": 1}

    async def test_a_question_whose_remaining_peers_are_busy_waits_rather_than_expiring(
        self, net: Chat, net_bot: PeerBot, clock: FrozenClock
    ) -> None:
        await ask_in_channel(net)
        [first] = requests(net, BEN) + requests(net, FAYE)
        assert first.to == BEN
        # The same day everyone else who fits gets a request: Faye for another head's
        # attendance question, Aisha (Ashgrove's head, who stands in for Ben) for oracy.
        [reply] = await net.say(DOYLE, SAME_AGAIN, where="heads")
        assert "Faye Hughes" in reply.text
        [reply] = await net.say(
            "g.hart@ivybridge.sch.uk", "Has anyone got oracy working across the whole curriculum?", where="heads"
        )
        assert "Aisha Adams" in reply.text
        await net.press(first.to or "", first, "referral.decline")
        question = await question_of(net_bot, ASKER)
        assert question.status == "routed" and question.retry_at == datetime(2026, 11, 24, 7, 30, tzinfo=UTC)
        assert not [s for s in net.dms(CONVENOR) if "Nobody has been able" in s.text]
        assert not [s for s in net.dms(ASKER) if "passed it to the network's convenor" in s.text]
        clock.set(datetime(2026, 11, 24, 7, 31, tzinfo=UTC))
        await sweep_once(net_bot)
        question = await question_of(net_bot, ASKER)
        assert (question.status, question.round, question.retry_at) == ("routed", 2, None)


async def test_going_away_passes_waiting_requests_to_the_next_peer(net: Chat, net_bot: PeerBot) -> None:
    await ask_in_channel(net)
    [ben_dm] = requests(net, BEN)
    async with net_bot.db.session() as session:
        before = {r.person.email for r in (await session.execute(select(Referral))).unique().scalars()}
    [reply] = await net.say(BEN, "away until 2026-12-04")
    assert "I won't ask you for help until 4 December 2026" in reply.text
    assert "I've passed the request that was waiting for you to someone else." in reply.text
    async with net_bot.db.session() as session:
        states = {r.person.email: r.status for r in (await session.execute(select(Referral))).unique().scalars()}
    assert states[BEN] == "superseded" and states[FAYE] == "asked"
    [newcomer] = set(states) - before
    assert states[newcomer] == "asked" and requests(net, newcomer)
    [edit] = [s for s in net.transport.sent if s.kind == "edit" and s.ref.message_id == ben_dm.ref.message_id]
    assert "You're away, so I've asked someone else" in edit.text and not edit.buttons
    [home] = await net.say(BEN, "home")
    assert "No requests are waiting for you." in home.text
    # Someone who has taken a request keeps it when they go away.
    [faye_dm] = requests(net, FAYE)
    await net.press(FAYE, faye_dm, "referral.accept")
    [reply] = await net.say(FAYE, "away")
    assert reply.text == "Got it: I won't ask you for help until you say **back**."
    async with net_bot.db.session() as session:
        faye = (await session.execute(select(Referral).join(Person).where(Person.email == FAYE))).unique().scalar_one()
    assert faye.status == "accepted"


async def test_this_answered_it_edits_the_asker_messages_in_place(net: Chat, net_bot: PeerBot) -> None:
    await ask_in_channel(net)
    await net.say(BEN, "Letters at 92%, meetings at 90%.", where="heads", thread="u1")
    await net.say(FAYE, "First-day calling made the difference for us.", where="heads", thread="u1")
    from_ben, from_faye = net.dms(ASKER)
    assert from_ben.buttons and from_faye.buttons
    await net.press(ASKER, from_ben, "question.answered")
    edits = {s.ref.message_id: s for s in net.transport.sent if s.kind == "edit"}
    ben_edit, faye_edit = edits[from_ben.ref.message_id], edits[from_faye.ref.message_id]
    assert ben_edit.text.startswith("Closed — you said Ben Brown's reply answered your question “how are")
    assert faye_edit.text.startswith("Closed — your question “how are") and "has been answered" in faye_edit.text
    assert not ben_edit.buttons and not faye_edit.buttons
    # Pressing the old button again changes nothing and says so.
    [again] = await net.press(ASKER, from_faye, "question.answered")
    assert "already closed" in again.text
