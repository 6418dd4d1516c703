"""A question's life: asked, checked, routed, accepted, answered, closed — as rows.

Every step runs inside the caller's transaction and queues its messages through the
outbox under keys derived from row ids (``q12:ref34``), so a retry or a second worker
never sends anything twice, and the escalation sweeper derives its work from the rows
alone. Chat handlers (:mod:`bot.handlers.questions`), the CLI (``peerbot ask``) and the
sweeper all go through these functions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import pupil_data
from bot.calendar import SchoolCalendar
from bot.events import MessageRef
from bot.meetings.service import person_groups
from bot.meetings.text import day_text
from bot.models.messaging import OutboxMessage
from bot.models.network import Person, PersonRole
from bot.models.questions import LIVE_STATUSES, Answer, Question, Referral
from bot.numbers import whole_number
from bot.replies import Button, DurableTarget, EditMessage, Message, ToGroup, ToPerson
from bot.routing.calendars import beyond_terms, next_school_day, school_time_after, send_time
from bot.routing.select import Peer, RoutePlan
from bot.routing.service import router_of
from bot.services import KbSuggestion

if TYPE_CHECKING:
    from bot.app import PeerBot

ANONYMOUS_LABEL = "A colleague in the network"
_QUESTIONY = re.compile(
    r"\?|^\s*(?:how|what|who|whom|which|where|when|why|has|have|does|do|did|is|are|can|could|would|should|"
    r"any|anyone|anybody|does anyone|has anyone|is anyone|looking for|recommend|advice|help|thoughts|ideas|tips)\b",
    re.I,
)


def looks_like_a_question(text: str) -> bool:
    """Channel chatter ("morning all!") is not a question; "anyone got a good EHCP template" is."""
    stripped = text.strip()
    if len(stripped.split()) < 4:
        return False
    return bool(_QUESTIONY.search(stripped))


class Sender:
    """Queues messages durably for one transaction, counting what it added."""

    def __init__(self, bot: PeerBot, session: AsyncSession, *, prefer: str | None = None) -> None:
        self.bot = bot
        self.session = session
        self.prefer = prefer
        self.queued = 0

    async def send(
        self, target: DurableTarget, message: Message | str, *, key: str, not_before: datetime | None = None
    ) -> int:
        msg = Message(text=message) if isinstance(message, str) else message
        added = await self.bot.queue(self.session, target, msg, key=key, not_before=not_before, prefer=self.prefer)
        self.queued += added
        return added


@dataclass
class Submission:
    """What asking did (``peerbot ask --json`` prints it)."""

    question: Question | None
    status: str
    flags: list[dict[str, Any]]
    topics: list[str] = field(default_factory=list)
    concepts: list[str] = field(default_factory=list)
    kb: list[KbSuggestion] = field(default_factory=list)
    plan: RoutePlan | None = None
    peers: list[Peer] = field(default_factory=list)
    group: str | None = None
    text: str = ""  # the question as kept: without the flagged details when held

    def to_json(self) -> dict[str, Any]:
        return {
            "question_id": self.question.id if self.question else None,
            "status": self.status,
            "group": self.group,
            "topics": self.topics,
            "concepts": self.concepts,
            "flags": self.flags,
            "kb_suggestions": [
                {"id": s.id, "title": s.title, "kind": s.kind, "score": round(s.score, 3), "school": s.school}
                for s in self.kb
            ],
            "peers": [p.to_json() for p in self.peers],
            "busy": self.plan.busy if self.plan else 0,
            "retry_at": self.plan.retry_at.isoformat() if self.plan and self.plan.retry_at else None,
        }


def asker_label(question: Question) -> str:
    if question.anonymous:
        return ANONYMOUS_LABEL
    return f"{question.asker.name} ({question.asker.school.name})"


def to_asker(question: Question) -> ToPerson:
    """Where a message for the asker goes: their DM. Only a named asker may be mentioned in
    the question's thread instead when their DMs are closed; an anonymous asker never is
    (the message then waits on their **home**, and the failure names no one)."""
    if question.anonymous:
        return ToPerson(question.asker_id, anonymous=True)
    return ToPerson(question.asker_id, fallback=question.thread)


def quote(text: str, limit: int = 600) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def short(text: str, limit: int = 70) -> str:
    return quote(text, limit)


async def calendar_of(bot: PeerBot, session: AsyncSession) -> SchoolCalendar:
    return await router_of(bot).calendars.get(session)


async def ask(
    bot: PeerBot,
    session: AsyncSession,
    sender: Sender | None,
    *,
    asker: Person,
    text: str,
    group: str | None,
    via: str,
    platform: str,
    thread: MessageRef | None = None,
    anonymous: bool = False,
    hold_for_kb: bool = True,
    dry_run: bool = False,
) -> Submission:
    """Check, record and route one question.

    With pupil data: held (only the redacted text is kept; nothing goes to anyone). With
    knowledge-base suggestions and ``hold_for_kb``: recorded ``open`` until the asker
    looks at them. Otherwise routed at once. ``dry_run`` records and sends nothing.
    """
    now = bot.clock.now()
    check = pupil_data.check(text, today=now.astimezone(bot.config.zone).date())
    flags = check.flags()
    router = router_of(bot)
    analysis = router.matcher.analyse(text)
    chosen = router.choose_group(asker, analysis, group)
    vocab = router.matcher.vocabulary
    topics = sorted(analysis.topics, key=lambda t: list(vocab.topics).index(t))
    result = Submission(
        question=None,
        status="held",
        flags=flags,
        topics=topics,
        concepts=sorted(analysis.concepts),
        group=chosen,
        text=pupil_data.redact(text, check) if check.found else text,
    )
    if check.found:
        if not dry_run:
            result.question = _record(
                bot, session, asker, result.text, chosen, via, platform, thread, anonymous, "held"
            )
            result.question.flags = flags
            result.question.topics, result.question.concepts = result.topics, result.concepts
            await session.flush()
        return result
    result.kb = await kb_suggestions(bot, session, text, asker)
    if dry_run:
        when = await _send_time(bot, session)
        result.plan = await router.plan(session, asker=asker, text=text, group=chosen, when=when)
        result.peers = result.plan.peers
        result.status = "routed" if result.peers else "open"
        return result
    question = _record(bot, session, asker, text, chosen, via, platform, thread, anonymous, "open")
    question.topics, question.concepts = result.topics, result.concepts
    await session.flush()
    result.question = question
    if result.kb and hold_for_kb:
        result.status = "open"
        return result
    assert sender is not None
    await post_to_group(bot, session, sender, question)
    result.plan = await route(bot, session, sender, question)
    result.peers = result.plan.peers
    result.status = question.status
    return result


def _record(
    bot: PeerBot,
    session: AsyncSession,
    asker: Person,
    text: str,
    group: str | None,
    via: str,
    platform: str,
    thread: MessageRef | None,
    anonymous: bool,
    status: str,
) -> Question:
    question = Question(
        network_id=bot.network_id,
        asker=asker,
        asker_id=asker.id,
        group=group,
        via=via,
        platform=platform,
        text=text,
        anonymous=anonymous,
        status=status,
        created_at=bot.clock.now(),
        topics=[],
        concepts=[],
        flags=[],
    )
    if thread is not None:
        question.set_thread(thread)
    session.add(question)
    return question


async def kb_suggestions(bot: PeerBot, session: AsyncSession, text: str, asker: Person) -> list[KbSuggestion]:
    """Entries that may already answer it, among those the asker may see: their own groups'
    (as ``kb search --as``), whichever channel they asked in."""
    if bot.knowledge is None:
        return []
    found = await bot.knowledge.suggest(session, text, groups=person_groups(bot, asker), limit=3)
    return list(found)[:3]


async def post_to_group(bot: PeerBot, session: AsyncSession, sender: Sender, question: Question) -> None:
    """A question asked privately (a DM, the slash command, the CLI) is posted in its group's
    channel — by the bot, so an anonymous asker stays anonymous — and answers hang from it."""
    if question.thread is not None or question.group is None:
        return
    text = f"**{asker_label(question)} asks:**\n{quote(question.text)}\n_Reply in this thread if you can help._"
    # Posted when its requests may go too: not in the channel at 03:45.
    await sender.send(
        ToGroup(question.group), text, key=f"q{question.id}:post", not_before=await _send_time(bot, session)
    )


async def release_held(bot: PeerBot, session: AsyncSession, sender: Sender, question: Question) -> RoutePlan:
    """The asker sends a held question without the flagged details. Its answers must not
    hang from their own channel message (which holds the details, and which they were asked
    to delete): the redacted text is posted afresh by the bot, and answers go there."""
    question.status = "open"
    question.thread_platform = question.thread_channel_id = question.thread_message_id = None
    await post_to_group(bot, session, sender, question)
    return await route(bot, session, sender, question)


async def _send_time(bot: PeerBot, session: AsyncSession) -> datetime:
    """Requests go out now in school-ish hours, else at the next sensible time (never at 11pm,
    nor at once because the term dates have run out)."""
    calendar = await calendar_of(bot, session)
    return send_time(calendar, bot.clock.now(), bot.config.settings.nudges)


async def _terms_needed(bot: PeerBot, session: AsyncSession, sender: Sender, calendar: SchoolCalendar) -> None:
    """Routing has counted time past the last loaded half-term: the convenors are told,
    once for that set of term dates, that next year's are needed."""
    last = max(t.end for t in calendar.terms)
    when = send_time(calendar, bot.clock.now(), bot.config.settings.nudges)
    text = (
        f"I've run out of term dates: the last half-term I have ends on {day_text(last)} {last.year}. "
        "Until next year's are imported (terms.csv or an .ics calendar, with "
        "`peerbot network import --terms FILE`), I count every weekday that isn't a bank holiday "
        "as a school day, so requests for help may go out in the holidays."
    )
    for person in await convenors(session, bot.network_id):
        await sender.send(
            ToPerson(person.id), text, key=f"terms-needed:{last.isoformat()}:p{person.id}", not_before=when
        )


async def route(
    bot: PeerBot, session: AsyncSession, sender: Sender, question: Question, *, count: int | None = None
) -> RoutePlan:
    """Ask the next ``count`` peers (default: ``routing.peers_per_question``) who fit and
    have not been asked yet. When nobody is left, the convenor is told (once)."""
    router = router_of(bot)
    send_at = await _send_time(bot, session)
    calendar = await calendar_of(bot, session)
    asked = await referred_ids(session, question.id)
    asked_schools = await _referred_schools(session, question.id)
    settings = bot.config.settings.routing
    count = count or settings.peers_per_question
    plan = await router.plan(
        session,
        asker=question.asker,
        text=question.text,
        group=question.group,
        when=send_at,
        exclude=asked,
        asked_schools=asked_schools,
        limit=count,
    )
    plan.send_at = send_at
    if not plan.peers:
        live = await _has_live_referrals(session, question.id)
        if question.status in ("open", "routed") and not live:
            if plan.busy:
                # Peers who fit are busy (their load limits), not missing: the sweep asks
                # again the next school day, when they have room.
                question.retry_at = plan.retry_at = next_school_day(calendar, send_at, bot.config.settings.nudges)
            elif asked:
                # Everyone suitable has been asked and nobody is still on it: the convenor is told.
                await tell_convenor(bot, session, sender, question)
        return plan
    question.retry_at = None
    question.round += 1
    due = school_time_after(calendar, send_at, settings.escalate_after)
    if beyond_terms(calendar, due):
        await _terms_needed(bot, session, sender, calendar)
    for rank, peer in enumerate(plan.peers, 1):
        referral = Referral(
            question_id=question.id,
            person_id=peer.person_id,
            round=question.round,
            rank=rank,
            status="asked",
            score=peer.score,
            audit_item_id=peer.audit_item_id,
            strength=peer.strength,
            why=peer.why,
            audited=peer.audited,
            asked_at=send_at,
            due_at=due,
        )
        session.add(referral)
        await session.flush()
        await sender.send(
            ToPerson(peer.person_id, fallback=question.thread),
            referral_message(question, referral, peer.school),
            key=referral_key(referral),
            not_before=send_at,
        )
    if question.status == "open":
        question.status = "routed"
        question.routed_at = bot.clock.now()
    return plan


def referral_key(referral: Referral) -> str:
    return f"q{referral.question_id}:ref{referral.id}"


def referral_message(question: Question, referral: Referral, school: str) -> Message:
    where = f" in #{question.group}" if question.group else ""
    text = (
        f"**{asker_label(question)} asks**{where}:\n{quote(question.text)}\n\n"
        f"I thought of you because {school} offers “{referral.strength}”. Could you help?"
    )
    return Message(
        text=text,
        buttons=(
            Button(label="I can help", action="referral.accept", value=str(referral.id), style="primary"),
            Button(label="Not me", action="referral.decline", value=str(referral.id)),
        ),
    )


async def referred_ids(session: AsyncSession, question_id: int) -> set[int]:
    q = select(Referral.person_id).where(Referral.question_id == question_id)
    return set((await session.execute(q)).scalars())


async def _referred_schools(session: AsyncSession, question_id: int) -> set[int]:
    q = (
        select(Person.school_id)
        .join(Referral, Referral.person_id == Person.id)
        .where(Referral.question_id == question_id)
    )
    return set((await session.execute(q)).scalars())


async def _has_live_referrals(session: AsyncSession, question_id: int) -> bool:
    q = select(Referral.id).where(Referral.question_id == question_id, Referral.status.in_(("asked", "accepted")))
    return (await session.execute(q.limit(1))).first() is not None


async def convenors(session: AsyncSession, network_id: int) -> list[Person]:
    q = (
        select(Person)
        .join(PersonRole, PersonRole.person_id == Person.id)
        .where(Person.network_id == network_id, Person.active.is_(True), PersonRole.role == "convenor")
        .order_by(Person.email)
    )
    return list((await session.execute(q)).unique().scalars())


async def tell_convenor(bot: PeerBot, session: AsyncSession, sender: Sender, question: Question) -> bool:
    """Nobody (else) could take it: the convenor is told once, and the asker too."""
    if question.convenor_told_at is not None:
        return False
    question.convenor_told_at = bot.clock.now()
    if question.status in ("open", "routed"):
        question.status = "expired"
    if bot.config.settings.routing.notify_convenor:
        where = f" in #{question.group}" if question.group else ""
        for person in await convenors(session, bot.network_id):
            if person.id == question.asker_id:
                continue
            await sender.send(
                ToPerson(person.id),
                f"Nobody has been able to take a question{where} yet, from {asker_label(question)}:\n"
                f"{quote(question.text)}\nCould you think of someone who might help?",
                key=f"q{question.id}:convenor:{person.id}",
            )
    await sender.send(
        to_asker(question),
        f"I'm sorry — none of the peers I asked could take your question “{short(question.text)}”. "
        "I've passed it to the network's convenor, who may know someone.",
        key=f"q{question.id}:nobody",
    )
    return True


# -- responses ------------------------------------------------------------------------------
class FlowError(Exception):
    """A step that cannot happen now; the message is fit to show the person."""


async def get_referral(session: AsyncSession, value: str) -> Referral:
    referral_id = whole_number(value)
    referral = await session.get(Referral, referral_id) if referral_id is not None else None
    if referral is None:
        raise FlowError("That request no longer exists.")
    return referral


async def accept(bot: PeerBot, session: AsyncSession, sender: Sender, referral: Referral, person: Person) -> str:
    """ "I can help": tell the asker, update the other requests in place. Returns the reply."""
    question = referral.question
    if referral.person_id != person.id:
        raise FlowError("That request was for someone else.")
    if referral.status == "accepted":
        return "You've already said you can help with this one — thank you!"
    if not question.live or question.status == "held":
        return "This question has already been answered or closed — thank you anyway!"
    if referral.status != "asked" and question.status == "accepted":
        return "Someone else has already taken this one — thank you anyway!"
    now = bot.clock.now()
    referral.status, referral.responded_at = "accepted", now
    if question.status in ("open", "routed", "expired"):
        question.status = "accepted"
    helper = f"{person.name} ({person.school.name})"
    await sender.send(
        EditMessage(key=referral_key(referral)),
        f"You said you can help with: {quote(question.text, 300)}\nThank you! Please reply in the question's thread"
        + (f" in #{question.group}." if question.group else "."),
        key=f"{referral_key(referral)}:mine",
    )
    others = await _referrals(session, question.id, statuses=("asked",))
    for other in others:
        if other.id == referral.id:
            continue
        other.status, other.responded_at = "superseded", now
        await sender.send(
            EditMessage(key=referral_key(other)),
            f"Thanks — {helper} is helping with this one: {short(question.text)}",
            key=f"{referral_key(other)}:taken",
        )
    await sender.send(
        to_asker(question),
        f"Good news: {helper} can help with your question “{short(question.text)}”. They'll reply in its thread.",
        key=f"q{question.id}:accepted:{referral.id}",
    )
    where = f"#{question.group}" if question.group else "the channel"
    return f"Thank you! Please reply in the question's thread in {where} — the asker has been told you're on it."


async def decline(bot: PeerBot, session: AsyncSession, sender: Sender, referral: Referral, person: Person) -> str:
    """ "Not me": the next suitable peer is asked in their place."""
    question = referral.question
    if referral.person_id != person.id:
        raise FlowError("That request was for someone else.")
    if referral.status != "asked":
        return "Thanks — this request has already moved on."
    referral.status, referral.responded_at = "declined", bot.clock.now()
    await sender.send(
        EditMessage(key=referral_key(referral)),
        f"No problem — I'll ask someone else about: {short(question.text)}",
        key=f"{referral_key(referral)}:declined",
    )
    if question.status in ("open", "routed"):
        await route(bot, session, sender, question, count=1)
    return "Thanks for letting me know — I'll ask someone else."


async def _referrals(session: AsyncSession, question_id: int, *, statuses: Sequence[str]) -> list[Referral]:
    q = (
        select(Referral)
        .where(Referral.question_id == question_id, Referral.status.in_(list(statuses)))
        .order_by(Referral.id)
    )
    return list((await session.execute(q)).unique().scalars())


async def sweep(bot: PeerBot, session: AsyncSession, sender: Sender) -> int:
    """Expire requests nobody answered within ``escalate_after`` of school time and ask the
    next peers instead; try again questions whose fitting peers were all busy. Idempotent:
    everything it does is derived from, and recorded in, rows. Returns how many requests it
    moved on and waiting questions it tried again."""
    now = bot.clock.now()
    q = (
        select(Referral)
        .join(Question, Question.id == Referral.question_id)
        .where(
            Referral.status == "asked",
            Referral.due_at <= now,
            Question.network_id == bot.network_id,
        )
        .order_by(Referral.question_id, Referral.id)
    )
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True, of=Referral)
    due = list((await session.execute(q)).unique().scalars())
    by_question: dict[int, list[Referral]] = {}
    for referral in due:
        referral.status, referral.responded_at = "expired", now
        by_question.setdefault(referral.question_id, []).append(referral)
        await sender.send(
            EditMessage(key=referral_key(referral)),
            f"This request has moved on to someone else — no need to do anything: {short(referral.question.text)}",
            key=f"{referral_key(referral)}:expired",
        )
    for referrals in by_question.values():
        question = referrals[0].question
        if question.status in ("open", "routed"):
            await route(bot, session, sender, question, count=len(referrals))
    return len(due) + await _retry_waiting(bot, session, sender, now)


async def _retry_waiting(bot: PeerBot, session: AsyncSession, sender: Sender, now: datetime) -> int:
    """Questions whose fitting peers were all busy, tried again when due (the next school
    day). An asker still waiting for their first requests is told when they go."""
    q = (
        select(Question)
        .where(
            Question.network_id == bot.network_id,
            Question.retry_at <= now,
            Question.status.in_(("open", "routed")),
        )
        .order_by(Question.retry_at, Question.id)
    )
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True, of=Question)
    waiting = list((await session.execute(q)).unique().scalars())
    for question in waiting:
        question.retry_at = None
        first = not question.round
        plan = await route(bot, session, sender, question)
        if first and plan.peers:
            n = len(plan.peers)
            await sender.send(
                to_asker(question),
                f"I've now asked {n} peer{'s' if n != 1 else ''} about your question “{short(question.text)}”. "
                "I'll tell you when someone can help.",
                key=f"q{question.id}:retried:{question.round}",
                not_before=plan.send_at,
            )
    return len(waiting)


# -- answers --------------------------------------------------------------------------------
async def question_for_thread(bot: PeerBot, session: AsyncSession, ref: MessageRef) -> Question | None:
    """The question whose thread ``ref`` (a reply) is in, if any."""
    root = ref.thread_id
    if not root:
        return None
    q = select(Question).where(
        Question.network_id == bot.network_id,
        Question.thread_platform == ref.platform,
        Question.thread_channel_id == ref.channel_id,
        Question.thread_message_id == root,
    )
    found = (await session.execute(q)).unique().scalar_one_or_none()
    if found is not None:
        return found
    # A question the bot posted for someone: its thread is where that post landed. An
    # answer may come late, after the question expired: it still reaches the asker.
    pending = select(Question.id).where(
        Question.network_id == bot.network_id,
        Question.thread_message_id.is_(None),
        Question.status.in_((*LIVE_STATUSES, "expired")),
    )
    keys = {f"q{qid}:post": qid for qid in (await session.execute(pending)).scalars()}
    if not keys:
        return None
    posts = select(OutboxMessage.key, OutboxMessage.message_ref).where(
        OutboxMessage.network_id == bot.network_id,
        OutboxMessage.platform == ref.platform,
        OutboxMessage.status == "sent",
        OutboxMessage.key.in_(list(keys)),
    )
    for key, landed in (await session.execute(posts)).all():
        posted = MessageRef.from_json(landed) if landed else None
        if posted is not None and (posted.channel_id, posted.message_id) == (ref.channel_id, root):
            question = await session.get(Question, keys[key])
            assert question is not None
            question.set_thread(posted)
            return question
    return None


async def record_answer(
    bot: PeerBot,
    session: AsyncSession,
    sender: Sender,
    question: Question,
    person: Person,
    ref: MessageRef,
    text: str,
) -> tuple[Answer | None, str | None]:
    """A reply in the question's thread. Returns the answer and a private note for its author."""
    if question.status in ("held", "closed"):
        return None, None
    check = pupil_data.check(text, today=bot.clock.now().astimezone(bot.config.zone).date())
    answer = Answer(
        question_id=question.id,
        person_id=person.id,
        platform=ref.platform,
        channel_id=ref.channel_id,
        message_id=ref.message_id,
        text=pupil_data.redact(text, check),
        flagged=check.found,
        created_at=bot.clock.now(),
    )
    session.add(answer)
    await session.flush()
    mine = await _referrals(session, question.id, statuses=("asked",))
    for referral in mine:
        if referral.person_id == person.id:
            referral.status, referral.responded_at = "accepted", bot.clock.now()
    if question.status in ("open", "routed", "accepted", "expired"):
        question.status = "answered"
    await sender.send(
        to_asker(question),
        Message(
            text=f"{person.name} ({person.school.name}) replied to your question “{short(question.text)}” "
            "in its thread. Did it answer it?",
            buttons=(Button(label="This answered it", action="question.answered", value=str(answer.id)),),
        ),
        key=answer_key(answer),
    )
    note = None
    if check.found:
        note = (
            f"Your reply {check.detail}. Please edit it to remove those details — "
            "I've kept only a copy without them, and it won't go into the knowledge base."
        )
    return answer, note


async def mark_answered(bot: PeerBot, session: AsyncSession, sender: Sender, answer: Answer, person: Person) -> str:
    """The asker's "This answered it": close the question, thank everyone, ask for consent."""
    question = await session.get(Question, answer.question_id)
    assert question is not None
    if question.asker_id != person.id:
        raise FlowError("Only the person who asked can mark their question answered.")
    if question.status == "closed":
        return "That question is already closed — thank you!"
    now = bot.clock.now()
    question.status, question.close_reason, question.closed_at = "closed", "answered", now
    answer.accepted = True
    for referral in await _referrals(session, question.id, statuses=("asked",)):
        referral.status, referral.responded_at = "superseded", now
        await sender.send(
            EditMessage(key=referral_key(referral)),
            f"This question has been answered — thank you! ({short(question.text)})",
            key=f"{referral_key(referral)}:closed",
        )
    # The asker's "replied — did it answer it?" messages lose their button, edited in place.
    replies = select(Answer).where(Answer.question_id == question.id).order_by(Answer.id)
    for reply in (await session.execute(replies)).unique().scalars():
        said = (
            f"Closed — you said {reply.person.name}'s reply answered your question “{short(question.text)}”. Thank you!"
            if reply.id == answer.id
            else f"Closed — your question “{short(question.text)}” has been answered."
        )
        await sender.send(
            EditMessage(key=answer_key(reply)),
            said,
            key=f"{answer_key(reply)}:closed",
        )
    if bot.knowledge is not None and not question.flags and not answer.flagged and answer.kb_consent is None:
        answer.kb_consent = "asked"
        await sender.send(ToPerson(answer.person_id), consent_message(question, answer), key=consent_key(answer))
    return "Great — I've closed your question. Thank you for letting me know!"


def answer_key(answer: Answer) -> str:
    """The asker's "X replied — did it answer it?" message about ``answer``."""
    return f"q{answer.question_id}:answer:{answer.id}"


def consent_key(answer: Answer) -> str:
    return f"q{answer.question_id}:consent:{answer.id}"


def consent_message(question: Question, answer: Answer) -> Message:
    dsl = question.group == "dsl"
    text = (
        f"Your answer to “{short(question.text)}” helped. May I keep it in the network's knowledge base, "
        "credited to your school, so others can find it? The entry would hold both the question, as it "
        "was asked (though not who asked it), and your answer, as you wrote it in the thread."
    )
    yes = "Yes, keep it"
    if dsl:
        text += (
            "\nAs it came from the safeguarding channel it would be kept as general practice only: "
            "please say yes only if neither the question nor your answer names any child, family or "
            "member of staff."
        )
        yes = "Yes — it names no one"
    return Message(
        text=text,
        buttons=(
            Button(label=yes, action="answer.share", value=str(answer.id), style="primary"),
            Button(label="No thanks", action="answer.keep", value=str(answer.id)),
        ),
    )


async def share_answer(bot: PeerBot, session: AsyncSession, sender: Sender, answer: Answer, person: Person) -> str:
    if answer.person_id != person.id:
        raise FlowError("Only the person who wrote that answer can decide where it is kept.")
    if answer.kb_entry_id is not None:
        return "It's already in the knowledge base — thank you!"
    if bot.knowledge is None:
        return "The knowledge base isn't available just now, so I haven't kept it."
    question = await session.get(Question, answer.question_id)
    assert question is not None
    if question.flags or answer.flagged:
        return "I can't keep that one: it looked like it held pupil details."
    entry = await bot.knowledge.add_answer(
        session,
        question=question.text,
        answer=answer.text,
        school_id=person.school_id,
        group=question.group,
        thread=question.thread,
        added_by=person.id,
    )
    answer.kb_entry_id, answer.kb_consent = entry, "yes"
    await sender.send(
        EditMessage(key=consent_key(answer)),
        f"Thank you — your answer to “{short(question.text)}” is in the knowledge base, credited to "
        f"{person.school.name}.",
        key=f"{consent_key(answer)}:done",
    )
    return f"Thank you — it's in the knowledge base now, credited to {person.school.name}."


async def keep_answer_private(
    bot: PeerBot, session: AsyncSession, sender: Sender, answer: Answer, person: Person
) -> str:
    if answer.person_id != person.id:
        raise FlowError("Only the person who wrote that answer can decide where it is kept.")
    answer.kb_consent = "no"
    await sender.send(
        EditMessage(key=consent_key(answer)),
        "Understood — your answer stays in its thread only.",
        key=f"{consent_key(answer)}:no",
    )
    return "Understood — it stays in the thread only."


async def outbox_keys(session: AsyncSession, network_id: int, prefix: str) -> list[str]:
    """Keys queued under ``prefix`` (tests and diagnostics)."""
    q = select(OutboxMessage.key).where(
        OutboxMessage.network_id == network_id, OutboxMessage.key.startswith(prefix, autoescape=True)
    )
    return sorted((await session.execute(q)).scalars())


# -- someone leaves ---------------------------------------------------------------------------
async def hand_over(bot: PeerBot, session: AsyncSession, sender: Sender, person: Person) -> int:
    """Someone has left the network: requests waiting for (or taken by) them move on to the
    next peers, and questions they asked are withdrawn, telling the peers who were asked.
    Returns how many referrals moved."""
    now = bot.clock.now()
    moved = await _pass_on(bot, session, sender, person, statuses=("asked", "accepted"))
    asked = list(
        (
            await session.execute(
                select(Question).where(
                    Question.asker_id == person.id,
                    Question.network_id == bot.network_id,
                    Question.status.in_(list(LIVE_STATUSES)),
                )
            )
        )
        .unique()
        .scalars()
    )
    for question in asked:
        question.status, question.close_reason, question.closed_at = "closed", "asker left", now
        for other in await _referrals(session, question.id, statuses=("asked", "accepted")):
            other.status, other.responded_at = "superseded", now
            await sender.send(
                EditMessage(key=referral_key(other)),
                f"This question has been withdrawn — no need to do anything: {short(question.text)}",
                key=f"{referral_key(other)}:withdrawn",
            )
    return moved


async def step_aside(bot: PeerBot, session: AsyncSession, sender: Sender, person: Person) -> int:
    """Someone is away: requests still waiting for them move on to the next peers, as when
    someone leaves (one they have taken stays theirs). Returns how many moved."""
    return await _pass_on(bot, session, sender, person, statuses=("asked",), tell=True)


async def _pass_on(
    bot: PeerBot,
    session: AsyncSession,
    sender: Sender,
    person: Person,
    *,
    statuses: Sequence[str],
    tell: bool = False,
) -> int:
    """``person``'s referrals in ``statuses`` are superseded and the next peers asked in
    their place; with ``tell``, their requests are edited to say so."""
    now = bot.clock.now()
    q = (
        select(Referral)
        .join(Question, Question.id == Referral.question_id)
        .where(
            Referral.person_id == person.id,
            Referral.status.in_(list(statuses)),
            Question.network_id == bot.network_id,
        )
        .order_by(Referral.question_id, Referral.id)
    )
    theirs = list((await session.execute(q)).unique().scalars())
    by_question: dict[int, list[Referral]] = {}
    for referral in theirs:
        if referral.status == "accepted" and referral.question.status == "accepted":
            referral.question.status = "routed"
        referral.status, referral.responded_at = "superseded", now
        by_question.setdefault(referral.question_id, []).append(referral)
        if tell:
            await sender.send(
                EditMessage(key=referral_key(referral)),
                f"You're away, so I've asked someone else about: {short(referral.question.text)}",
                key=f"{referral_key(referral)}:away",
            )
    for referrals in by_question.values():
        question = referrals[0].question
        if question.status in ("open", "routed") and question.asker_id != person.id:
            await route(bot, session, sender, question, count=len(referrals))
    return len(theirs)
