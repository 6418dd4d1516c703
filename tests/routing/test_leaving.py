"""When someone leaves the network, nothing waits for them."""

from __future__ import annotations

from sqlalchemy import select

from bot.app import PeerBot
from bot.models import Question, Referral
from tests.routing.test_flow import ASKER, BEN, CONVENOR, FAYE, ask_in_channel, requests
from tests.support.chat import Chat


async def referral_states(bot: PeerBot) -> dict[str, str]:
    async with bot.db.session() as session:
        rows = (await session.execute(select(Referral))).unique().scalars()
        return {r.person.email: r.status for r in rows}


async def test_a_peer_who_leaves_is_replaced_by_the_next(net: Chat, net_bot: PeerBot) -> None:
    await ask_in_channel(net)
    assert requests(net, BEN) and requests(net, FAYE)
    before = set(await referral_states(net_bot))
    [reply] = await net.say(CONVENOR, f"member remove {BEN}")
    assert "has left the network" in reply.text
    states = await referral_states(net_bot)
    assert states[BEN] == "superseded" and states[FAYE] == "asked"
    newcomers = set(states) - before
    assert len(newcomers) == 1 and states[newcomers.pop()] == "asked"  # the next suitable peer instead


async def test_a_helper_who_leaves_puts_the_question_back_in_play(net: Chat, net_bot: PeerBot) -> None:
    await ask_in_channel(net)
    [dm] = requests(net, BEN)
    await net.press(BEN, dm, "referral.accept")
    async with net_bot.db.session() as session:
        assert (await session.execute(select(Question.status))).scalar_one() == "accepted"
    await net.say(CONVENOR, f"member remove {BEN}")
    async with net_bot.db.session() as session:
        assert (await session.execute(select(Question.status))).scalar_one() == "routed"
    states = await referral_states(net_bot)
    assert states[BEN] == "superseded"
    assert sum(1 for s in states.values() if s == "asked") >= 1


async def test_an_asker_who_leaves_withdraws_their_question(net: Chat, net_bot: PeerBot) -> None:
    await ask_in_channel(net)
    await net.say(CONVENOR, f"member remove {ASKER}")
    async with net_bot.db.session() as session:
        question = (await session.execute(select(Question))).unique().scalar_one()
    assert (question.status, question.close_reason) == ("closed", "asker left")
    assert set((await referral_states(net_bot)).values()) == {"superseded"}
    edits = [s for s in net.transport.sent if s.kind == "edit" and "withdrawn" in s.text]
    assert len(edits) == 2
