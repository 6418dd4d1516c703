"""The question lifecycle end to end, through the core's event model and the outbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.app import PeerBot
from bot.clock import FrozenClock
from bot.handlers.questions import sweep_once
from bot.home import home_for
from bot.models import AuditItem, OutboxMessage, Person, Question, Referral
from bot.services import KbSuggestion
from tests.support.chat import Chat, Sent
from tests.support.routing import FakeKnowledge, count

ASKER = "e.evans@beacon.sch.uk"  # Beacon Hill's head
PA = "how are people getting PA down? we're at 22% and the LA are on at us"
BEN = "b.brown@ashgrove.sch.uk"  # Ashgrove deputy: carries its attendance strength
FAYE = "f.hughes@oldfield.sch.uk"  # Oldfield deputy: carries its attendance strength
CONVENOR = "a.adams@ashgrove.sch.uk"


async def ask_in_channel(net: Chat, who: str = ASKER, text: str = PA, group: str = "heads") -> Sent:
    [reply] = await net.say(who, text, where=group)
    return reply


def requests(net: Chat, email: str) -> list[Sent]:
    return [s for s in net.dms(email) if s.buttons and s.buttons[0].action == "referral.accept"]


async def test_a_channel_question_asks_the_right_peers_privately(net: Chat, net_bot: PeerBot) -> None:
    reply = await ask_in_channel(net)
    assert reply.private and "I've asked 2 peers" in reply.text
    assert "Ben Brown" in reply.text and "Faye Hughes" in reply.text
    [dm] = requests(net, BEN)
    assert "**Ellen Evans (Beacon Hill Primary School) asks** in #heads:" in dm.text
    assert PA in dm.text and "Ashgrove Primary School offers “Reducing persistent absence" in dm.text
    assert [b.label for b in dm.buttons] == ["I can help", "Not me"]
    assert requests(net, FAYE)
    # Nobody at the asker's own school, nobody outside the heads group.
    assert not any(s.to and s.to.endswith("@beacon.sch.uk") for s in net.dms())
    async with net_bot.db.session() as session:
        question = (await session.execute(select(Question))).unique().scalar_one()
        assert question.status == "routed" and question.topics == ["attendance"] and question.via == "channel"
        assert question.thread is not None  # answers hang from the asker's own message
        target = (await session.execute(select(OutboxMessage.target).where(OutboxMessage.key.like("q%:ref%")))).first()
        assert target is not None and target[0]["fallback"]["message_id"] == question.thread_message_id


async def test_chatter_and_thread_replies_are_not_questions(net: Chat, net_bot: PeerBot) -> None:
    assert await net.say(ASKER, "morning all!", where="heads") == []
    assert await net.say(ASKER, "thanks, see you thursday", where="heads") == []
    assert await count(net_bot, Question) == 0


async def test_i_can_help_tells_the_asker_and_updates_the_other_requests(net: Chat, net_bot: PeerBot) -> None:
    await ask_in_channel(net)
    [ben_dm] = requests(net, BEN)
    [faye_dm] = requests(net, FAYE)
    [reply] = await net.press(BEN, ben_dm, "referral.accept")
    assert reply.private and "reply in the question's thread" in reply.text
    [told] = net.dms(ASKER)
    assert told.text.startswith("Good news: Ben Brown (Ashgrove Primary School) can help")
    edits = [s for s in net.transport.sent if s.kind == "edit"]
    assert any(e.ref.message_id == faye_dm.ref.message_id and "Ben Brown (Ashgrove" in e.text for e in edits)
    assert any(e.ref.message_id == ben_dm.ref.message_id and "You said you can help" in e.text for e in edits)
    assert all(not e.buttons for e in edits)
    # Faye pressing late learns someone else took it; a repeat press by Ben changes nothing.
    [late] = await net.press(FAYE, faye_dm, "referral.accept")
    assert "Someone else has already taken this one" in late.text
    [again] = await net.press(BEN, ben_dm, "referral.accept")
    assert "already said you can help" in again.text
    assert len(net.dms(ASKER)) == 1
    async with net_bot.db.session() as session:
        statuses = dict((await session.execute(select(Referral.person_id, Referral.status))).all())
        assert sorted(statuses.values()) == ["accepted", "superseded"]
        assert (await session.execute(select(Question.status))).scalar_one() == "accepted"


async def test_only_the_person_asked_can_answer_a_request(net: Chat) -> None:
    await ask_in_channel(net)
    [ben_dm] = requests(net, BEN)
    [reply] = await net.press(FAYE, ben_dm, "referral.accept")
    assert reply.text == "That request was for someone else."


class TestEscalation:
    @pytest.fixture
    def routing_settings(self) -> dict[str, object]:
        return {"peers_per_question": 1, "escalate_after": "4h"}

    async def test_not_me_moves_on_and_after_the_last_the_convenor_is_told(self, net: Chat, net_bot: PeerBot) -> None:
        await ask_in_channel(net)
        [first] = requests(net, BEN) + requests(net, FAYE)
        second_email = FAYE if first.to == BEN else BEN
        assert not requests(net, second_email)
        [reply] = await net.press(first.to or "", first, "referral.decline")
        assert "I'll ask someone else" in reply.text
        [second] = requests(net, second_email)  # another school before anyone else at the first
        assert "Could you help?" in second.text
        asked = [first.to, second_email]
        await net.press(second_email, second, "referral.decline")
        for _ in range(10):  # then the schools' other suitable people, one at a time, until nobody is left
            pending = [
                s for s in net.dms() if s.buttons and s.buttons[0].action == "referral.accept" and s.to not in asked
            ]
            if not pending:
                break
            [nxt] = pending
            asked.append(nxt.to)
            await net.press(nxt.to or "", nxt, "referral.decline")
        assert len(asked) == len(set(asked)) >= 2
        [to_convenor] = [s for s in net.dms(CONVENOR) if "Nobody has been able" in s.text]
        assert "Nobody has been able to take a question in #heads" in to_convenor.text and PA in to_convenor.text
        [sorry] = net.dms(ASKER)
        assert "passed it to the network's convenor" in sorry.text
        async with net_bot.db.session() as session:
            assert (await session.execute(select(Question.status))).scalar_one() == "expired"
        before = len(net.transport.sent)
        await sweep_once(net_bot)  # nothing more to do, nothing sent twice
        assert len(net.transport.sent) == before

    async def test_silence_escalates_after_school_hours_only(
        self, net: Chat, net_bot: PeerBot, clock: FrozenClock
    ) -> None:
        # Friday 27 November 2026, 15:00 London (UTC in winter): one school hour left that day.
        clock.set(datetime(2026, 11, 27, 15, 0, tzinfo=UTC))
        await ask_in_channel(net)
        [first] = requests(net, BEN) + requests(net, FAYE)
        async with net_bot.db.session() as session:
            due = (await session.execute(select(Referral.due_at))).scalar_one()
        # 1h on Friday (15:00-16:00... to 17:00 is 2h), then 2h on Monday morning: Monday 10:00.
        assert due == datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
        for when in (datetime(2026, 11, 27, 23, 0, tzinfo=UTC), datetime(2026, 11, 29, 12, 0, tzinfo=UTC)):
            clock.set(when)  # the night and the weekend do not count
            assert await sweep_once(net_bot) == 0
        clock.set(datetime(2026, 11, 30, 10, 1, tzinfo=UTC))
        assert await sweep_once(net_bot) == 1
        await net_bot.deliverer.drain()
        second_email = FAYE if first.to == BEN else BEN
        assert requests(net, second_email)
        moved = [s for s in net.transport.sent if s.kind == "edit" and s.ref.message_id == first.ref.message_id]
        assert moved and "moved on to someone else" in moved[0].text
        assert await sweep_once(net_bot) == 0  # idempotent

    async def test_a_question_asked_at_night_waits_for_the_morning(
        self, net: Chat, net_bot: PeerBot, clock: FrozenClock
    ) -> None:
        clock.set(datetime(2026, 11, 24, 22, 30, tzinfo=UTC))  # Tuesday 10:30pm
        await ask_in_channel(net)
        assert requests(net, BEN) + requests(net, FAYE) == []  # queued, not sent at night
        clock.set(datetime(2026, 11, 25, 7, 31, tzinfo=UTC))
        await net_bot.deliverer.drain()
        assert len(requests(net, BEN) + requests(net, FAYE)) == 1
        async with net_bot.db.session() as session:
            due = (await session.execute(select(Referral.due_at))).scalar_one()
        assert due == datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # 4 school hours from 08:00

    async def test_half_term_does_not_count(self, net: Chat, net_bot: PeerBot, clock: FrozenClock) -> None:
        clock.set(datetime(2026, 10, 23, 14, 0, tzinfo=UTC))  # last day of Autumn 1, 3pm London (BST)
        await ask_in_channel(net)
        async with net_bot.db.session() as session:
            due = (await session.execute(select(Referral.due_at))).scalar_one()
        # 2h that Friday (15:00-17:00 BST), the half-term holiday skipped, 2h on Monday 2 November.
        assert due == datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


async def test_answers_in_the_thread_close_it_and_go_to_the_knowledge_base_with_consent(
    net: Chat, net_bot: PeerBot
) -> None:
    kb = FakeKnowledge()
    net_bot.knowledge = kb
    await net.say(ASKER, PA, where="heads")
    question_msg = "u1"
    await net.say(
        BEN, "We use a graduated response: letters at 92%, meetings at 90%.", where="heads", thread=question_msg
    )
    [ask_back] = net.dms(ASKER)
    assert "Ben Brown (Ashgrove Primary School) replied" in ask_back.text
    assert "graduated response" not in ask_back.text  # the answer is not copied anywhere
    # The asker's own follow-up in the thread is not an answer.
    await net.say(ASKER, "thanks Ben!", where="heads", thread=question_msg)
    assert len(net.dms(ASKER)) == 1
    [done] = await net.press(ASKER, ask_back, "question.answered")
    assert "closed your question" in done.text
    [consent] = [s for s in net.dms(BEN) if s.buttons and s.buttons[0].action == "answer.share"]
    assert "names any child" not in consent.text  # heads channel: an ordinary answer
    assert "would hold both the question, as it was asked (though not who asked it), and your answer" in consent.text
    [thanks] = await net.press(BEN, consent, "answer.share")
    assert "credited to Ashgrove Primary School" in thanks.text
    [entry] = kb.added
    assert entry["question"] == PA and entry["answer"].startswith("We use a graduated response")
    assert entry["group"] == "heads"
    # Faye's request is withdrawn now that it's answered.
    [faye_dm] = requests(net, FAYE)
    assert any(s.kind == "edit" and s.ref.message_id == faye_dm.ref.message_id for s in net.transport.sent)
    async with net_bot.db.session() as session:
        q = (await session.execute(select(Question))).unique().scalar_one()
        assert (q.status, q.close_reason) == ("closed", "answered")


async def test_dsl_answers_are_kept_only_as_general_practice_after_confirmation(net: Chat, net_bot: PeerBot) -> None:
    net_bot.knowledge = FakeKnowledge()
    await net.say("h.irving@ivybridge.sch.uk", "who gives their DSLs supervision and how often?", where="dsl")
    await net.say("s.todd@larkrise.sch.uk", "Monthly, with an external supervisor.", where="dsl", thread="u1")
    [ask_back] = net.dms("h.irving@ivybridge.sch.uk")
    await net.press("h.irving@ivybridge.sch.uk", ask_back, "question.answered")
    [consent] = [s for s in net.dms("s.todd@larkrise.sch.uk") if s.buttons and s.buttons[0].action == "answer.share"]
    assert "general practice" in consent.text
    assert "neither the question nor your answer names any child, family or member of staff" in consent.text
    assert consent.buttons[0].label == "Yes — it names no one"
    [no] = await net.press("s.todd@larkrise.sch.uk", consent, "answer.keep")
    assert "stays in the thread" in no.text
    assert net_bot.knowledge.added == []  # type: ignore[attr-defined]


async def test_only_the_asker_can_mark_it_answered(net: Chat) -> None:
    await net.say(ASKER, PA, where="heads")
    await net.say(BEN, "Letters at 92%.", where="heads", thread="u1")
    [ask_back] = net.dms(ASKER)
    [reply] = await net.press(FAYE, ask_back, "question.answered")
    assert "Only the person who asked" in reply.text


async def test_anonymous_asking(net: Chat, net_bot: PeerBot) -> None:
    [reply] = await net.say(ASKER, "ask anonymously how are people getting persistent absence down?")
    assert "asked anonymously" in reply.text
    [post] = [s for s in net.transport.sent if s.kind == "channel"]
    assert post.to == "heads" and post.text.startswith("**A colleague in the network asks:**")
    everything = " ".join(s.text for s in net.transport.sent)
    assert "Ellen" not in everything and "Beacon" not in everything
    # A reply in the thread of the bot's post reaches the asker, who alone can close it.
    await net.say(BEN, "Happy to share our letters.", where="heads", thread=post.ref.message_id)
    [ask_back] = net.dms(ASKER)
    assert "Ben Brown" in ask_back.text
    async with net_bot.db.session() as session:
        q = (await session.execute(select(Question))).unique().scalar_one()
        assert q.anonymous and q.status == "answered" and q.thread_message_id == post.ref.message_id


async def test_slash_command_ask_answers_privately_and_posts_the_question(net: Chat) -> None:
    [reply] = await net.command(ASKER, "ask", "how do people reduce persistent absence?", where="heads")
    assert reply.private and "I've asked" in reply.text
    [post] = [s for s in net.transport.sent if s.kind == "channel"]
    assert post.text.startswith("**Ellen Evans (Beacon Hill Primary School) asks:**")
    [reply] = await net.command(ASKER, "ask", "")
    assert reply.private and "type your question after **ask**" in reply.text


async def test_nobody_fits_is_said_kindly_and_nothing_is_sent(net: Chat, net_bot: PeerBot) -> None:
    [reply] = await net.say(
        ASKER, "Does anyone have a swimming pool and how do you cover the lifeguard costs?", where="heads"
    )
    assert "couldn't find anyone" in reply.text and "convenor" in reply.text
    assert net.transport.sent == []
    assert await count(net_bot, Referral) == 0


async def test_knowledge_base_suggestions_come_first(net: Chat, net_bot: PeerBot) -> None:
    kb = FakeKnowledge(suggestions=[KbSuggestion(id=4, title="Attendance letters pack", kind="resource", score=0.8)])
    net_bot.knowledge = kb
    [reply] = await net.say(ASKER, PA, where="heads")
    assert "may already answer it" in reply.text and "**Attendance letters pack**" in reply.text
    assert kb.asked == [(PA, ("heads", "dsl"))]  # what the asker may see: their own groups
    assert net.transport.sent == []
    [routed] = await net.press(ASKER, reply, "question.route")
    assert "I've asked 2 peers" in routed.text and requests(net, BEN)
    # A second question the KB answers is closed without asking anyone.
    [reply2] = await net.say(ASKER, "how are people getting persistent absence down this year?", where="heads")
    [closed] = await net.press(ASKER, reply2, "question.kb")
    assert "haven't asked anyone" in closed.text
    assert await count(net_bot, Question, Question.close_reason == "knowledge-base") == 1


async def test_pupil_data_is_held_warned_about_and_never_copied(net: Chat, net_bot: PeerBot) -> None:
    text = "How do I get Tyler Johnson (Y4, DOB 12/03/2017) back into school? PA is 40%"
    [warning] = await net.say(ASKER, text, where="heads")
    assert warning.private and "held your question back" in warning.text
    assert "a pupil's full name and a date of birth" in warning.text
    assert "Tyler" not in warning.text and "2017" not in warning.text
    assert net.transport.sent == []
    assert await count(net_bot, OutboxMessage) == 0
    async with net_bot.db.session() as session:
        q = (await session.execute(select(Question))).unique().scalar_one()
        assert q.status == "held" and "Tyler" not in q.text and "2017" not in q.text
        assert q.flags == [{"kind": "pupil-data", "detail": "looks like a pupil's full name and a date of birth"}]
    # Someone else cannot release it; the asker can, and it goes out without the details.
    [refused] = await net.press(BEN, warning, "question.send")
    assert "Only the person who asked" in refused.text
    [sent] = await net.press(ASKER, warning, "question.send")
    assert "I've asked" in sent.text
    everything = " ".join(s.text for s in net.transport.sent)
    assert "[removed]" in everything and "Tyler" not in everything and "2017" not in everything


async def test_a_held_question_can_be_withdrawn_and_is_forgotten(net: Chat, net_bot: PeerBot) -> None:
    [warning] = await net.say(
        ASKER, "Any advice on Lily-Mae Cooper in Y3? lives at 14 Brook Road RM13 7QT", where="heads"
    )
    [reply] = await net.press(ASKER, warning, "question.withdraw")
    assert "dropped it" in reply.text
    async with net_bot.db.session() as session:
        q = (await session.execute(select(Question))).unique().scalar_one()
        assert (q.status, q.close_reason, q.text) == ("closed", "withdrawn", "")
    [again] = await net.press(ASKER, warning, "question.send")
    assert "already been dealt with" in again.text


async def test_pupil_data_in_an_answer_is_not_kept(net: Chat, net_bot: PeerBot) -> None:
    net_bot.knowledge = FakeKnowledge()
    await net.say(ASKER, PA, where="heads")
    [note] = await net.say(
        BEN, "We had Jayden Smith in Y5 at 60% and used a part-time plan.", where="heads", thread="u1"
    )
    assert note.private and "a pupil's full name" in note.text and "Jayden" not in note.text
    [ask_back] = net.dms(ASKER)
    await net.press(ASKER, ask_back, "question.answered")
    assert not [s for s in net.dms(BEN) if s.buttons and s.buttons[0].action == "answer.share"]
    async with net_bot.db.session() as session:
        from bot.models import Answer

        answer = (await session.execute(select(Answer))).unique().scalar_one()
        assert answer.flagged and "Jayden" not in answer.text


async def test_load_is_spread_and_away_people_are_skipped(net: Chat, net_bot: PeerBot) -> None:
    await net.say(ASKER, PA, where="heads")
    assert requests(net, BEN) and requests(net, FAYE)
    # The same day, another head asks the same: Ben and Faye already had their one new request.
    [reply] = await net.say(
        "c.doyle@hazelwood.sch.uk", "persistent absence - what's your graduated response?", where="heads"
    )
    assert "couldn't find anyone" not in reply.text and "already have several requests waiting" in reply.text
    # Next school day they can be asked again, unless marked away.
    net_bot.clock.advance(timedelta(days=1))  # type: ignore[attr-defined]
    async with net_bot.db.session() as session:
        faye = (await session.execute(select(Person).where(Person.email == FAYE))).unique().scalar_one()
        faye.away_until = datetime(2026, 12, 1).date()
    [reply] = await net.say(
        "c.doyle@hazelwood.sch.uk", "persistent absence - what's your graduated response?", where="heads"
    )
    assert "Ben Brown" in reply.text and "Faye" not in reply.text


async def test_a_retried_event_makes_one_question(net: Chat, net_bot: PeerBot) -> None:
    await net.say(ASKER, PA, where="heads", event_id="Ev1")
    await net.say(ASKER, PA, where="heads", event_id="Ev1")
    assert await count(net_bot, Question) == 1
    assert len(requests(net, BEN)) == 1


async def test_home_shows_open_questions_and_waiting_requests(net: Chat) -> None:
    await net.say(ASKER, PA, where="heads")
    [home] = await net.say(ASKER, "home")
    assert "**Your open questions**\n- “how are people getting PA down?" in home.text
    assert "waiting for a peer" in home.text
    [ben_home] = await net.say(BEN, "home")
    assert "**Requests waiting for you**\n- Ellen Evans (Beacon Hill Primary School): “how are" in ben_home.text
    # The sections carry the request's buttons (Slack's App Home shows them).
    [section] = [s for s in await home_for(net.bot, "console", BEN) or [] if s.title == "Requests waiting for you"]
    assert [b.action for b in section.buttons] == ["referral.accept", "referral.decline"]
    home_view = Sent(kind="reply", text="", ref=ben_home.ref, buttons=section.buttons)
    await net.press(BEN, home_view, "referral.accept")
    [ben_home] = await net.say(BEN, "home")
    assert "No requests are waiting for you." in ben_home.text


async def test_a_new_audit_from_another_process_is_used_at_once(net: Chat, net_bot: PeerBot) -> None:
    [reply] = await net.say(ASKER, "Does anyone run Duke of Edinburgh in house for their students?", where="heads")
    assert "couldn't find anyone" in reply.text
    from tests.support.routing import DATA

    # A convenor imports a changed audit with the CLI, i.e. through another connection.
    audit = (
        (DATA / "audit.csv")
        .read_text(encoding="utf-8")
        .replace(
            "Careers education and the Gatsby benchmarks",
            "Careers education and the Gatsby benchmarks;Running Duke of Edinburgh awards in house",
        )
    )
    from bot.network.importer import import_network
    from bot.network.parse import SourceFile

    async with net_bot.db.session() as session:
        later = net_bot.clock.now() + timedelta(minutes=5)
        await import_network(
            session, net_bot.network_id, audit=SourceFile(name="audit.csv", data=audit.encode()), now=later
        )
    [reply] = await net.say(ASKER, "Does anyone run Duke of Edinburgh in house for our students?", where="heads")
    assert "Yusra Brown" in reply.text or "Northgate" in reply.text
    async with net_bot.db.session() as session:
        items = (await session.execute(select(AuditItem.text).where(AuditItem.text.like("%Edinburgh%")))).all()
    assert items


async def test_a_question_asked_out_of_hours_says_when_peers_will_be_asked(net: Chat, net_bot: PeerBot) -> None:
    clock = net_bot.clock
    assert isinstance(clock, FrozenClock)
    clock.set(datetime(2026, 11, 28, 20, 0, tzinfo=UTC))  # Saturday evening
    reply = await ask_in_channel(net)
    assert "I'll ask 2 peers at 07:30 on Monday 30 November (I don't send requests at night" in reply.text
    assert requests(net, BEN) == []  # nothing goes at the weekend
    clock.set(datetime(2026, 11, 30, 8, 1, tzinfo=UTC))
    await net_bot.deliverer.drain()
    assert requests(net, BEN)


async def test_asking_anonymously_in_a_channel_is_refused_politely(net: Chat, net_bot: PeerBot) -> None:
    [reply] = await net.say(
        ASKER, "ask anonymously how are people getting persistent absence down?", where="heads", mention=True
    )
    assert reply.private and "I haven't asked it: your message can be seen in this channel" in reply.text
    assert "direct message" in reply.text and "/peerbot ask anonymously" in reply.text
    assert reply.text.endswith("Nothing was changed.")
    assert await count(net_bot, Question) == 0 and net.transport.sent == []
    # The slash command is private, so it may ask anonymously from a channel.
    [reply] = await net.command(
        ASKER, "ask", "anonymously how are people getting persistent absence down?", where="heads"
    )
    assert "asked anonymously" in reply.text


async def test_the_channel_copy_of_a_dm_question_waits_for_sending_hours_too(
    net: Chat, net_bot: PeerBot, clock: FrozenClock
) -> None:
    clock.set(datetime(2026, 11, 24, 3, 45, tzinfo=UTC))  # Tuesday, 03:45
    [reply] = await net.say(ASKER, "ask how are people getting persistent absence down?")
    assert "I'll ask 2 peers at 07:30 on Tuesday 24 November" in reply.text
    assert net.transport.sent == []  # neither the requests nor the channel post at night
    clock.set(datetime(2026, 11, 24, 7, 31, tzinfo=UTC))
    await net_bot.deliverer.drain()
    [post] = [s for s in net.transport.sent if s.kind == "channel"]
    assert post.to == "heads" and requests(net, BEN)
