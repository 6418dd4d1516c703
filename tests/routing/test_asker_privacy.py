"""An anonymous asker stays anonymous, even when their direct messages are closed."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from sqlalchemy import select

from bot.app import PeerBot
from bot.delivery import Address, PermanentError
from bot.events import MessageRef
from bot.home import home_for
from bot.meetings.service import describe_delivery
from bot.models import OutboxMessage, Question
from bot.replies import Message
from tests.routing.test_flow import ASKER, BEN, PA, requests
from tests.support.chat import Chat, RecordingTransport, Sent


@dataclass
class ClosedDms(RecordingTransport):
    """Some people have closed their DMs: as Slack and Discord do, a DM with a fallback
    thread becomes a mention there; without one it fails, naming whom it was for."""

    closed: set[str] = field(default_factory=set)

    async def send(self, address: Address, message: Message, *, key: str | None, attempt: int) -> MessageRef:
        if address.kind == "dm" and address.user_id in self.closed:
            if address.fallback is None:
                self.calls += 1
                raise PermanentError(f"{address.label} does not accept direct messages")
            thread = Address(
                platform=address.platform,
                kind="thread",
                channel_id=address.fallback.channel_id,
                thread_id=address.fallback.thread_root,
                label="thread",
            )
            mention = replace(message, text=f"@{address.user_id} {message.text}")
            return await super().send(thread, mention, key=key, attempt=attempt)
        return await super().send(address, message, key=key, attempt=attempt)


def closed_dms(net: Chat, *who: str) -> ClosedDms:
    transport = ClosedDms(platform=net.platform, closed=set(who))
    net.transport = transport
    net.bot.deliverer.register(transport)
    return transport


async def failed_rows(bot: PeerBot) -> list[OutboxMessage]:
    async with bot.db.session() as session:
        q = select(OutboxMessage).where(OutboxMessage.status == "failed").order_by(OutboxMessage.id)
        return list((await session.execute(q)).scalars())


async def test_an_anonymous_asker_with_closed_dms_is_never_mentioned_in_the_thread(net: Chat, net_bot: PeerBot) -> None:
    transport = closed_dms(net, ASKER)
    await net.say(ASKER, "ask anonymously how are people getting persistent absence down?")
    [post] = [s for s in transport.sent if s.kind == "channel"]
    [ben_dm] = requests(net, BEN)
    await net.press(BEN, ben_dm, "referral.accept")  # "Good news: Ben can help" for the asker
    await net.say(BEN, "Happy to share our letters.", where="heads", thread=post.ref.message_id)
    in_threads = [s for s in transport.sent if s.kind == "thread"]
    assert in_threads == []  # nothing for the asker went into the public thread
    assert "Ellen" not in " ".join(s.text for s in transport.sent) and ASKER not in str(transport.sent)
    # The messages failed, and what the convenor reads about them names no one.
    failed = await failed_rows(net_bot)
    assert {r.key for r in failed} == {"q1:accepted:1", "q1:answer:1"}
    for row in failed:
        described = describe_delivery(row)
        assert "someone who asked anonymously" in described
        assert "Ellen" not in described and "Evans" not in described and "person" not in described
    # They stay for the asker on their home, with the button the DM would have carried.
    [home] = await net.say(ASKER, "home")
    assert "persistent absence down?” — answered — did it help?" in home.text
    [section] = [s for s in await home_for(net_bot, "console", ASKER) or [] if s.title == "Your open questions"]
    [button] = section.buttons
    assert button.action == "question.answered"
    [closed] = await net.press(ASKER, Sent(kind="reply", text="", ref=home.ref, buttons=section.buttons), button)
    assert "closed your question" in closed.text
    async with net_bot.db.session() as session:
        assert (await session.execute(select(Question.status))).scalar_one() == "closed"


async def test_a_named_asker_with_closed_dms_is_still_told_in_the_thread(net: Chat, net_bot: PeerBot) -> None:
    transport = closed_dms(net, ASKER)
    await net.say(ASKER, PA, where="heads")
    await net.say(BEN, "We use a graduated response.", where="heads", thread="u1")
    [told] = [s for s in transport.sent if s.kind == "thread"]
    assert told.text.startswith(f"@{ASKER} Ben Brown (Ashgrove Primary School) replied to your question")
    assert told.ref.thread_id == "u1"
    assert await failed_rows(net_bot) == []
