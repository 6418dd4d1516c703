"""Asking the network: questions in group channels, ``ask`` in a DM or ``/peerbot ask``,
anonymous asking, the referral buttons, answers in threads, and the escalation sweeper."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import PeerBot
from bot.config import Config
from bot.dispatch import (
    NOT_HANDLED,
    Context,
    background,
    command,
    home_section,
    on_button,
    on_message,
    on_person_left,
    on_startup,
)
from bot.errors import BadInput
from bot.events import ButtonPressed, CommandInvoked, MessagePosted
from bot.freshness import keep_fresh
from bot.home import HomeSection
from bot.meetings.text import day_text
from bot.models.network import Person
from bot.models.questions import LIVE_STATUSES, Answer, Question, Referral
from bot.numbers import whole_number
from bot.replies import Button
from bot.routing import flow
from bot.routing.flow import FlowError, Sender, Submission, asker_label, short
from bot.routing.service import router_of

log = logging.getLogger(__name__)

SWEEP_EVERY = 60.0  # seconds between looks for requests nobody answered
_ANON = re.compile(r"^\s*(?:anonymously|anonymous|anon)\b[:,]?\s*", re.I)


def _sender(ctx: Context) -> Sender:
    return Sender(ctx.bot, ctx.session, prefer=ctx.event.place.platform)


def _done(ctx: Context, sender: Sender) -> None:
    ctx.queued += sender.queued


@on_startup()
async def build_router(bot: PeerBot) -> None:
    """Build the strength index before the first question, so the first answer is fast."""
    router = router_of(bot)
    async with bot.db.session() as session:
        await router.prepare(session, bot.clock.now())


@background("routing.freshness")
async def keep_routing_fresh(bot: PeerBot, stop: asyncio.Event) -> None:
    """While questions are coming in, look for other processes' changes (strengths, people,
    load, term dates) ahead of them, so that none of them waits for the look (see
    :mod:`bot.freshness`)."""
    router = router_of(bot)

    async def look(session: AsyncSession, ahead: float) -> None:
        await router.look_ahead(session, bot.clock.now(), ahead)

    await keep_fresh(
        bot.db, stop, every=router.looks.check_every, last_used=lambda: router.used, look=look, timer=router.looks.timer
    )


# -- asking --------------------------------------------------------------------------------
def _is_channel_question(event: MessagePosted, group: str | None) -> bool:
    return (
        group is not None
        and not event.place.thread_id
        and not (event.mentions_bot and _ANON.match(event.text))  # "@peerbot anonymously ...": refused
        and flow.looks_like_a_question(event.text)
    )


@on_message(where="channel", when=_is_channel_question, priority=10)
async def channel_question(ctx: Context, event: MessagePosted, person: Person, group: str) -> object:
    """A question posted in a group's channel: peers are asked privately; answers go in its thread."""
    sender = _sender(ctx)
    result = await flow.ask(
        ctx.bot,
        ctx.session,
        sender,
        asker=person,
        text=event.text,
        group=group,
        via="channel",
        platform=event.place.platform,
        thread=event.ref,
    )
    _report(ctx, result, private=True)
    _done(ctx, sender)
    return None


@command("ask", usage="ask [anonymously] <your question>")
async def ask_command(ctx: Context, person: Person, args: str) -> None:
    """Ask the peers who are strong at something. Start with "anonymously" to keep your name off it.

    I post it in your group's channel (without your name if you ask anonymously), ask two or
    three peers whose schools' audited strengths fit, and let you know when someone can help.
    """
    await _ask(ctx, person, args)


def _is_addressed_question(event: MessagePosted, group: str | None) -> bool:
    return (
        (event.place.is_direct or event.mentions_bot)
        and not event.place.thread_id
        and flow.looks_like_a_question(_ANON.sub("", event.text, count=1))
    )


@on_message(where="any", when=_is_addressed_question, priority=5)
async def addressed_question(ctx: Context, event: MessagePosted, person: Person) -> None:
    """A question typed to the bot — in a DM, or mentioning it outside the group channels —
    is asked just as **ask** would ask it."""
    await _ask(ctx, person, event.text)


async def _ask(ctx: Context, person: Person, args: str) -> None:
    """``ask``, typed or as a slash command, or a question addressed to the bot. Outside a
    group channel the question goes to the group it is about among the asker's own (see
    :meth:`bot.routing.select.Router.choose_group`): heads for a head, else their group."""
    text = args.strip()
    anonymous = bool(_ANON.match(text))
    if anonymous:
        text = _ANON.sub("", text, count=1)
    event = ctx.event
    if anonymous and isinstance(event, MessagePosted) and not event.place.is_direct:
        raise BadInput(
            "I haven't asked it: your message can be seen in this channel, so it wouldn't be anonymous "
            "(you may want to delete it). To ask anonymously, send me **ask anonymously ...** in a direct "
            "message, or use **/peerbot ask anonymously ...**, which only you see"
        )
    if len(text.split()) < 3:
        raise BadInput("please type your question after **ask**, e.g. `ask how do you run EHCP annual reviews?`")
    via = "command" if isinstance(event, CommandInvoked) else ("direct" if event.place.is_direct else "mention")
    sender = _sender(ctx)
    result = await flow.ask(
        ctx.bot,
        ctx.session,
        sender,
        asker=person,
        text=text,
        group=ctx.group,
        via=via,
        platform=event.place.platform,
        anonymous=anonymous,
    )
    _report(ctx, result, private=not event.place.is_direct or via == "command")
    _done(ctx, sender)


def _report(ctx: Context, result: Submission, *, private: bool) -> None:
    question = result.question
    assert question is not None
    say = ctx.private if private else ctx.reply
    if result.status == "held":
        detail = result.flags[0]["detail"] if result.flags else "looks like it identifies a pupil"
        say(
            f"I've held your question back: it {detail}. Pupil details must not be shared in the network's chat, "
            "so I haven't sent it to anyone or kept those details. Please delete your message if you posted it "
            "in a channel, and ask again without them — or send it with those details removed.",
            buttons=(
                Button(
                    label="Send without those details",
                    action="question.send",
                    value=str(question.id),
                    style="primary",
                ),
                Button(label="I'll rephrase it", action="question.withdraw", value=str(question.id)),
            ),
        )
        return
    if result.status == "open" and result.kb:
        lines = ["This may already answer it — from the network's knowledge base:"]
        lines += [f"- **{s.title}**" + (f" ({s.school})" if s.school else "") for s in result.kb]
        say(
            "\n".join(lines),
            buttons=(
                Button(label="Ask my peers anyway", action="question.route", value=str(question.id), style="primary"),
                Button(label="That answers it", action="question.kb", value=str(question.id)),
            ),
        )
        return
    say(*_routed_text(question, result, ctx))


def _routed_text(question: Question, result: Submission, ctx: Context) -> tuple[str]:
    anon = " anonymously" if question.anonymous else ""
    if result.peers:
        n = f"{len(result.peers)} peer{'s' if len(result.peers) != 1 else ''}"
        send_at = result.plan.send_at if result.plan else None
        if send_at is not None and send_at > ctx.now + timedelta(minutes=1):
            when = send_at.astimezone(ctx.config.zone)
            lines = [
                f"Thanks — I'll ask{anon} {n} at {when:%H:%M} on {when:%A %-d %B} "
                "(I don't send requests at night, at weekends or in the holidays):"
            ]
        else:
            lines = [f"Thanks — I've asked{anon} {n}:"]
        lines += [f"- **{p.name}**, {p.school} — “{p.strength}”" for p in result.peers]
        lines.append("I'll tell you when someone can help. Answers go in the question's thread.")
        return ("\n".join(lines),)
    if result.plan and result.plan.busy:
        retry = result.plan.retry_at
        later = (
            f"I'll ask them at {retry.astimezone(ctx.config.zone):%H:%M on %A %-d %B}, when they have room"
            if retry is not None
            else "I'll ask them when they have room"
        )
        return (
            f"The peers whose strengths fit this one already have several requests waiting, so I haven't "
            f"added to them today. {later}, and tell you then. Others may still reply in the thread; type "
            "**home** to see your questions.",
        )
    return (
        "I couldn't find anyone in the network whose audited strengths fit this one, so I haven't asked "
        "anyone. Others may still reply in the thread. Type **home** to see your questions, or ask "
        "your network's convenor, who may know someone.",
    )


async def _asker_question(ctx: Context, value: str, person: Person) -> Question:
    question_id = whole_number(value)
    question = await ctx.session.get(Question, question_id) if question_id is not None else None
    if question is None:
        raise BadInput("that question no longer exists")
    if question.asker_id != person.id:
        raise BadInput("only the person who asked can do that")
    return question


@on_button("question.send")
async def send_without_details(ctx: Context, event: ButtonPressed, person: Person) -> None:
    """The asker confirms a held question: it goes out with the flagged details removed."""
    question = await _asker_question(ctx, event.value, person)
    if question.status != "held":
        ctx.private("That question has already been dealt with.")
        return
    sender = _sender(ctx)
    plan = await flow.release_held(ctx.bot, ctx.session, sender, question)
    result = Submission(question=question, status=question.status, flags=question.flags, peers=plan.peers, plan=plan)
    ctx.private(*_routed_text(question, result, ctx))
    _done(ctx, sender)


@on_button("question.withdraw")
async def withdraw(ctx: Context, event: ButtonPressed, person: Person) -> None:
    """The asker will rephrase: the held question is dropped and its text forgotten."""
    question = await _asker_question(ctx, event.value, person)
    if question.status == "held":
        question.status, question.close_reason, question.closed_at = "closed", "withdrawn", ctx.now
        question.text = ""
    ctx.private("OK — I've dropped it. Ask again without the pupil's details whenever you're ready.")


@on_button("question.route")
async def route_anyway(ctx: Context, event: ButtonPressed, person: Person) -> None:
    """The knowledge base's suggestions did not answer it: ask peers."""
    question = await _asker_question(ctx, event.value, person)
    if question.status != "open" or question.round:
        ctx.private("That question has already gone to peers.")
        return
    sender = _sender(ctx)
    await flow.post_to_group(ctx.bot, ctx.session, sender, question)
    plan = await flow.route(ctx.bot, ctx.session, sender, question)
    result = Submission(question=question, status=question.status, flags=[], peers=plan.peers, plan=plan)
    ctx.private(*_routed_text(question, result, ctx))
    _done(ctx, sender)


@on_button("question.kb")
async def answered_by_kb(ctx: Context, event: ButtonPressed, person: Person) -> None:
    """A knowledge-base suggestion answered it: close it without asking anyone."""
    question = await _asker_question(ctx, event.value, person)
    if question.status == "open" and not question.round:
        question.status, question.close_reason, question.closed_at = "closed", "knowledge-base", ctx.now
    ctx.private("Glad it helped — I haven't asked anyone.")


# -- peers' answers to requests ------------------------------------------------------------
async def _referral_step(ctx: Context, event: ButtonPressed, person: Person, accept: bool) -> None:
    sender = _sender(ctx)
    try:
        referral = await flow.get_referral(ctx.session, event.value)
        step = flow.accept if accept else flow.decline
        reply = await step(ctx.bot, ctx.session, sender, referral, person)
    except FlowError as exc:
        ctx.private(str(exc))
        return
    ctx.private(reply)
    _done(ctx, sender)


@on_button("referral.accept")
async def referral_accept(ctx: Context, event: ButtonPressed, person: Person) -> None:
    """ "I can help" on a request."""
    await _referral_step(ctx, event, person, accept=True)


@on_button("referral.decline")
async def referral_decline(ctx: Context, event: ButtonPressed, person: Person) -> None:
    """ "Not me" on a request: the next peer is asked."""
    await _referral_step(ctx, event, person, accept=False)


def _in_thread(event: MessagePosted, group: str | None) -> bool:
    # Any thread may be a question's (only the database knows which), wherever it is.
    return bool(event.place.thread_id)


@on_message(where="thread", when=_in_thread, priority=10)
async def thread_reply(ctx: Context, event: MessagePosted, person: Person) -> object:
    """A reply in a question's thread is an answer; the asker is asked whether it answered it."""
    question = await flow.question_for_thread(ctx.bot, ctx.session, event.ref)
    if question is None:
        return NOT_HANDLED
    if question.asker_id == person.id:
        return None  # the asker's own follow-up in their thread
    sender = _sender(ctx)
    _answer, note = await flow.record_answer(ctx.bot, ctx.session, sender, question, person, event.ref, event.text)
    if note:
        ctx.private(note)
    _done(ctx, sender)
    return None


async def _answer_step(ctx: Context, event: ButtonPressed, person: Person, step: str) -> None:
    answer_id = whole_number(event.value)
    answer = await ctx.session.get(Answer, answer_id) if answer_id is not None else None
    if answer is None:
        ctx.private("That answer no longer exists.")
        return
    sender = _sender(ctx)
    try:
        if step == "answered":
            reply = await flow.mark_answered(ctx.bot, ctx.session, sender, answer, person)
        elif step == "share":
            reply = await flow.share_answer(ctx.bot, ctx.session, sender, answer, person)
        else:
            reply = await flow.keep_answer_private(ctx.bot, ctx.session, sender, answer, person)
    except FlowError as exc:
        ctx.private(str(exc))
        return
    ctx.private(reply)
    _done(ctx, sender)


@on_button("question.answered")
async def this_answered_it(ctx: Context, event: ButtonPressed, person: Person) -> None:
    """The asker's "This answered it": closes the question."""
    await _answer_step(ctx, event, person, "answered")


@on_button("answer.share")
async def share(ctx: Context, event: ButtonPressed, person: Person) -> None:
    """The answerer agrees to keep their answer in the knowledge base."""
    await _answer_step(ctx, event, person, "share")


@on_button("answer.keep")
async def keep_private(ctx: Context, event: ButtonPressed, person: Person) -> None:
    """The answerer would rather their answer stayed in its thread."""
    await _answer_step(ctx, event, person, "keep")


# -- leaving --------------------------------------------------------------------------------
@on_person_left()
async def hand_over(bot: PeerBot, session: AsyncSession, person: Person) -> None:
    """Someone left: what was waiting for them goes to the next peers (same transaction)."""
    await flow.hand_over(bot, session, Sender(bot, session), person)


# -- escalation ---------------------------------------------------------------------------
async def sweep_once(bot: PeerBot) -> int:
    """One pass of the sweeper (tests call this directly)."""
    async with bot.db.session() as session:
        sender = Sender(bot, session)
        moved = await flow.sweep(bot, session, sender)
    if sender.queued:
        bot.deliverer.wake()
    return moved


@background("routing.sweeper")
async def sweeper(bot: PeerBot, stop: asyncio.Event) -> None:
    """Moves unanswered requests on to the next peers, counting school time only."""
    while not stop.is_set():
        try:
            await sweep_once(bot)
        except Exception:
            log.exception("the routing sweeper failed a round; trying again shortly")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=SWEEP_EVERY)


# -- home ----------------------------------------------------------------------------------
_STATE = {
    "held": "held — waiting for you to rephrase it or send it without the details",
    "open": "not sent to peers yet",
    "routed": "waiting for a peer",
    "accepted": "a peer is helping",
    "answered": "answered — did it help? Tap **This answered it**",
    "expired": "passed to the convenor",
}


def _state(question: Question, config: Config) -> str:
    if question.retry_at is not None and question.status in ("open", "routed"):
        when = question.retry_at.astimezone(config.zone)
        return f"waiting: the peers who fit are busy, so I'll ask again on {day_text(when.date())}"
    return _STATE.get(question.status, question.status)


@home_section(order=10)
async def my_questions(session: AsyncSession, person: Person, config: Config) -> HomeSection:
    """Your open questions."""
    q = (
        select(Question)
        .where(Question.asker_id == person.id, Question.status.in_((*LIVE_STATUSES, "expired")))
        .order_by(Question.created_at.desc(), Question.id.desc())
        .limit(5)
    )
    questions = list((await session.execute(q)).unique().scalars())
    lines = tuple(f"“{short(x.text, 60)}” — {_state(x, config)}" for x in questions)
    # The newest answered one carries its button here too, in case the DM could not be
    # delivered (an anonymous asker with closed DMs is never mentioned in the thread instead).
    buttons: tuple[Button, ...] = ()
    answered = next((x for x in questions if x.status == "answered"), None)
    if answered is not None:
        latest = (
            await session.execute(
                select(Answer.id).where(Answer.question_id == answered.id).order_by(Answer.id.desc()).limit(1)
            )
        ).scalar_one_or_none()
        if latest is not None:
            buttons = (Button(label="This answered it", action="question.answered", value=str(latest)),)
    return HomeSection(title="Your open questions", lines=lines, buttons=buttons, empty="You have no open questions.")


@home_section(order=20)
async def waiting_for_me(session: AsyncSession, person: Person, now: datetime) -> HomeSection:
    """Requests for your help that are still waiting."""
    q = (
        select(Referral)
        .join(Question, Question.id == Referral.question_id)
        .where(Referral.person_id == person.id, Referral.status == "asked", Question.status.in_(LIVE_STATUSES))
        .order_by(Referral.asked_at, Referral.id)
        .limit(5)
    )
    referrals = [r for r in (await session.execute(q)).unique().scalars() if r.asked_at <= now]
    lines = tuple(f"{asker_label(r.question)}: “{short(r.question.text, 60)}”" for r in referrals)
    buttons: tuple[Button, ...] = ()
    if referrals:
        first = referrals[0]
        buttons = (
            Button(label="I can help", action="referral.accept", value=str(first.id), style="primary"),
            Button(label="Not me", action="referral.decline", value=str(first.id)),
        )
    return HomeSection(
        title="Requests waiting for you", lines=lines, buttons=buttons, empty="No requests are waiting for you."
    )
