"""When the loaded term dates run out, requests still keep school hours (never at night),
and the convenor is told once that next year's term dates are needed."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from bot.app import PeerBot
from bot.clock import FrozenClock
from bot.models import OutboxMessage, Referral
from tests.routing.test_flow import BEN, CONVENOR, FAYE, ask_in_channel, requests
from tests.support.chat import Chat


async def referral_times(bot: PeerBot) -> set[tuple[datetime, datetime | None]]:
    async with bot.db.session() as session:
        return {(r.asked_at, r.due_at) for r in (await session.execute(select(Referral))).unique().scalars()}


def terms_notes(net: Chat) -> list[str]:
    return [s.text for s in net.dms(CONVENOR) if "run out of term dates" in s.text]


async def test_after_the_last_half_term_requests_wait_for_a_weekday_morning(
    net: Chat, net_bot: PeerBot, clock: FrozenClock
) -> None:
    # Tuesday 27 July 2027, 23:30 in London: after the demo's last half-term (to Wed 21 July).
    clock.set(datetime(2027, 7, 27, 22, 30, tzinfo=UTC))
    reply = await ask_in_channel(net)
    assert "I'll ask 2 peers at 07:30 on Wednesday 28 July" in reply.text
    # Sent at 07:30 the next weekday, due 4 hours of school time (from 08:00) later: noon.
    assert await referral_times(net_bot) == {
        (datetime(2027, 7, 28, 6, 30, tzinfo=UTC), datetime(2027, 7, 28, 11, 0, tzinfo=UTC))
    }
    assert requests(net, BEN) + requests(net, FAYE) == [] and terms_notes(net) == []  # nothing at night
    clock.set(datetime(2027, 7, 28, 6, 31, tzinfo=UTC))
    await net_bot.deliverer.drain()
    assert requests(net, BEN) and requests(net, FAYE)
    [note] = terms_notes(net)
    assert "the last half-term I have ends on Wed 21 Jul 2027" in note
    assert "weekday that isn't a bank holiday" in note
    # Another question routed later does not tell them again.
    await ask_in_channel(
        net, "g.hart@ivybridge.sch.uk", "Our phonics screening results dipped, anyone turned it round?"
    )
    await net_bot.deliverer.drain()
    assert len(terms_notes(net)) == 1
    async with net_bot.db.session() as session:
        keys = (await session.execute(select(OutboxMessage.key).where(OutboxMessage.key.like("terms-needed:%")))).all()
    assert [k for (k,) in keys] == [f"terms-needed:2027-07-21:p{await person_id(net_bot, CONVENOR)}"]


async def test_escalation_counts_on_past_the_last_day_of_term(net: Chat, net_bot: PeerBot, clock: FrozenClock) -> None:
    # Wednesday 21 July 2027, 15:00 in London: the last day of the last half-term.
    clock.set(datetime(2027, 7, 21, 14, 0, tzinfo=UTC))
    await ask_in_channel(net)
    # 2 school hours that afternoon, then 2 on Thursday morning (by the rule without term dates).
    assert await referral_times(net_bot) == {
        (datetime(2027, 7, 21, 14, 0, tzinfo=UTC), datetime(2027, 7, 22, 9, 0, tzinfo=UTC))
    }
    assert len(terms_notes(net)) == 1


async def test_within_the_loaded_terms_nobody_is_told(net: Chat, net_bot: PeerBot) -> None:
    await ask_in_channel(net)
    assert requests(net, BEN) and terms_notes(net) == []


async def person_id(bot: PeerBot, email: str) -> int:
    from bot.models import Person

    async with bot.db.session() as session:
        return (await session.execute(select(Person.id).where(Person.email == email))).scalar_one()
