"""Questions in subject-access exports, erasure and retention."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.app import PeerBot
from bot.clock import FrozenClock
from bot.models import Answer, Question, Referral
from bot.privacy import ErasureOptions, erase_person, export_person
from bot.privacy.questions import EXPIRED, REMOVED
from bot.privacy.retention import apply_retention
from tests.routing.test_flow import ASKER, BEN, PA, ask_in_channel, requests
from tests.routing.test_lifecycle import decline_every_request
from tests.support.chat import Chat


async def test_export_lists_questions_requests_and_answers(net: Chat, net_bot: PeerBot) -> None:
    await ask_in_channel(net)
    async with net_bot.db.session() as session:
        _, asker = await export_person(session, net_bot.network_id, "x", ASKER)
        _, ben = await export_person(session, net_bot.network_id, "x", BEN)
    assert [q["text"] for q in asker["questions"]["asked"]] == [PA]
    assert [r["status"] for r in ben["questions"]["requests_received"]] == ["asked"]


async def test_erasing_the_asker_empties_the_question_and_frees_the_peers(net: Chat, net_bot: PeerBot) -> None:
    await ask_in_channel(net)
    async with net_bot.db.session() as session:
        report = await erase_person(
            session,
            net_bot.network_id,
            ASKER,
            ErasureOptions(now=net_bot.clock.now(), keep_contributions=True),
            on_left=lambda p: net_bot.person_left(session, p),
        )
    assert report.actions["questions"] == {"questions emptied": 1}
    async with net_bot.db.session() as session:
        question = (await session.execute(select(Question))).unique().scalar_one()
        states = {r.status for r in (await session.execute(select(Referral))).unique().scalars()}
    assert question.text == REMOVED and question.status == "closed"
    assert states == {"superseded"}


async def test_retention_removes_old_question_text(net: Chat, net_bot: PeerBot) -> None:
    await ask_in_channel(net)
    [dm] = requests(net, BEN)
    await net.press(BEN, dm, "referral.accept")
    async with net_bot.db.session() as session:
        question = (await session.execute(select(Question))).unique().scalar_one()
        thread = question.thread
    assert thread is not None
    await net.say(BEN, "We run a weekly attendance panel with the EWO", where="heads", thread=thread.message_id)
    async with net_bot.db.session() as session:
        question = (await session.execute(select(Question))).unique().scalar_one()
        question.status, question.closed_at = "closed", net_bot.clock.now()
    clock = net_bot.clock
    assert isinstance(clock, FrozenClock)
    settings = net_bot.config.settings.privacy
    clock.advance(settings.closed_question_retention - timedelta(days=1))
    async with net_bot.db.session() as session:
        early = await apply_retention(session, net_bot.network_id, clock.now(), settings)
    assert "question texts" not in early.removed
    clock.advance(timedelta(days=2))
    async with net_bot.db.session() as session:
        report = await apply_retention(session, net_bot.network_id, clock.now(), settings)
    assert report.removed["question texts"] == 1 and report.removed["answer texts"] == 1
    async with net_bot.db.session() as session:
        assert (await session.execute(select(Question.text))).scalar_one() == EXPIRED
        assert (await session.execute(select(Answer.text))).scalar_one() == EXPIRED
        again = await apply_retention(session, net_bot.network_id, clock.now(), settings)
    assert "question texts" not in again.removed


async def test_dsl_questions_are_kept_for_less_time(net: Chat, net_bot: PeerBot) -> None:
    await net.say(ASKER, "how do you organise supervision for your deputy DSLs?", where="dsl")
    async with net_bot.db.session() as session:
        [question] = list((await session.execute(select(Question))).unique().scalars())
    assert question.group == "dsl" and question.status == "routed"  # still live: retention applies anyway
    clock = net_bot.clock
    assert isinstance(clock, FrozenClock)
    clock.advance(net_bot.config.settings.privacy.dsl_question_retention + timedelta(days=1))
    async with net_bot.db.session() as session:
        report = await apply_retention(session, net_bot.network_id, clock.now(), net_bot.config.settings.privacy)
    assert report.removed["question texts"] == 1


async def test_retention_removes_expired_question_text_too(net: Chat, net_bot: PeerBot) -> None:
    await net.say(ASKER, "ask how are people getting persistent absence down?")
    await decline_every_request(net)
    async with net_bot.db.session() as session:
        question = (await session.execute(select(Question))).unique().scalar_one()
    assert question.status == "expired" and question.closed_at is None
    await assert_text_goes_after_retention(net_bot)


async def test_retention_removes_the_text_of_questions_that_never_closed(net: Chat, net_bot: PeerBot) -> None:
    """Routed and answered, but nobody pressed "this answered it": a year on, its text and
    answers go all the same, as a closed question's would."""
    await ask_in_channel(net)
    async with net_bot.db.session() as session:
        question = (await session.execute(select(Question))).unique().scalar_one()
    assert question.status not in ("closed", "expired")
    await assert_text_goes_after_retention(net_bot)


async def assert_text_goes_after_retention(net_bot: PeerBot) -> None:
    """The day before the retention period ends the question's text stays; the day after, it goes."""
    clock = net_bot.clock
    assert isinstance(clock, FrozenClock)
    settings = net_bot.config.settings.privacy
    clock.advance(settings.closed_question_retention - timedelta(days=1))
    async with net_bot.db.session() as session:
        early = await apply_retention(session, net_bot.network_id, clock.now(), settings)
    assert "question texts" not in early.removed
    clock.advance(timedelta(days=2))
    async with net_bot.db.session() as session:
        report = await apply_retention(session, net_bot.network_id, clock.now(), settings)
        assert (await session.execute(select(Question.text))).scalar_one() == EXPIRED
    assert report.removed["question texts"] == 1
