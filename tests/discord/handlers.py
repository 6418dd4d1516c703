"""Test-only handlers that exercise every part of the neutral reply model on Discord.

Routing, the knowledge base and meetings produce only these shapes (threads, buttons,
private notices, DMs with a fallback thread, edits, files, calendar events), so wiring
them generically here is what makes those flows work on Discord when they land.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bot.dispatch import NOT_HANDLED, Context, command, on_button, on_message
from bot.events import ButtonPressed, MessagePosted, MessageRef
from bot.models.network import Person
from bot.network import store
from bot.replies import (
    Button,
    CalendarEvent,
    EditMessage,
    Message,
    Outgoing,
    OutgoingFile,
    Respond,
    ToGroup,
    ToPerson,
    ToThread,
)

MEETING_START = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)


def _is_question(event: MessagePosted, group: str | None) -> bool:
    return event.text.lower().startswith("question:")


@on_message(where="channel", when=_is_question, priority=10)
async def question(ctx: Context, event: MessagePosted, group: str | None) -> object:
    """A question in a group's channel: answered in its own thread, peers asked by DM."""
    if group is None:
        return NOT_HANDLED
    ctx.reply(f"Thanks — I'll find someone in {group} who has done this.", in_thread=True)
    peer = await store.person_by_email(ctx.session, ctx.network_id, "j.khan@marygreen.sch.uk")
    assert peer is not None
    where = f"{event.place.channel_id}/{event.message_id}"
    buttons = (
        Button(label="I can help", action="t.accept", value=where, style="primary"),
        Button(label="Not me", action="t.decline", value=where),
    )
    await ctx.send(
        ToPerson(peer.id, fallback=event.ref),
        Message(text="Can you help with a question from a colleague?", buttons=buttons),
        key=f"t:ask:{event.message_id}",
    )
    return None


def _is_private_question(event: MessagePosted, group: str | None) -> bool:
    return event.text.lower().startswith("quietly:")


@on_message(where="channel", when=_is_private_question, priority=20)
async def private_question(ctx: Context, event: MessagePosted) -> None:
    """As the routing flow does: the asker is answered privately, a peer gets a DM that
    names the question's thread (where the answers go)."""
    ctx.private("I've asked a peer; answers will go in your question's thread.")
    peer = await store.person_by_email(ctx.session, ctx.network_id, "j.khan@marygreen.sch.uk")
    assert peer is not None
    await ctx.send(
        ToPerson(peer.id, fallback=event.ref),
        Message(
            text="Can you help? Please answer in the question's thread.",
            buttons=(
                Button(label="I can help", action="t.accept", value=f"{event.place.channel_id}/{event.message_id}"),
            ),
        ),
        key=f"t:quiet:{event.message_id}",
    )


@on_message(where="thread", priority=10)
async def in_thread(ctx: Context, event: MessagePosted, group: str | None) -> object:
    if not event.text.lower().startswith("answer:"):
        return NOT_HANDLED
    ctx.reply(f"Noted your answer in the {group} thread {event.place.thread_id}.")
    return None


@on_button("t.accept")
async def accept(ctx: Context, event: ButtonPressed, person: Person) -> None:
    channel_id, _, message_id = event.value.partition("/")
    ctx.private(f"Thank you, {person.name.split()[0]}: you took question {message_id}.")
    assert event.message is not None
    await ctx.send(
        EditMessage(ref=event.message),
        Message(text=f"{person.name} is helping with this one."),
        key=f"t:accepted:{message_id}",
    )
    question_ref = MessageRef(platform="discord", channel_id=channel_id, message_id=message_id)
    await ctx.send(
        ToThread(question_ref),
        Message(text=f"{person.name} from {person.school.name} will answer here."),
        key=f"t:announce:{message_id}",
    )


@on_button("t.decline")
async def decline(ctx: Context, event: ButtonPressed) -> None:
    ctx.private("No problem — I'll ask someone else.")


@command("ping")
async def ping(ctx: Context) -> None:
    """Answer in public, in the channel."""
    ctx.reply("pong", in_thread=False)


@command("choose")
async def choose(ctx: Context, args: str) -> None:
    """Offer two buttons."""
    value = args or "1"
    ctx.reply(
        "Pick one:",
        buttons=[
            Button(label="Yes", action="t.yes", value=value, style="primary"),
            Button(label="No", action="t.no", value=value, style="danger"),
        ],
    )


@on_button("t.yes")
async def yes(ctx: Context, event: ButtonPressed, person: Person) -> None:
    ctx.private(f"yes {event.value} from {person.name}")


@on_button("t.no")
async def no(ctx: Context, event: ButtonPressed) -> None:
    ctx.reply(f"no {event.value}", private=False)


@command("slow")
async def slow(ctx: Context) -> None:
    """Takes a while."""
    await asyncio.sleep(0.25)
    ctx.private("done slowly")


@command("slowpublic")
async def slowpublic(ctx: Context) -> None:
    """Takes a while, then answers in public."""
    await asyncio.sleep(0.25)
    ctx.reply("done slowly, for all", private=False, in_thread=False)


@command("quiet")
async def quiet(ctx: Context) -> None:
    """Says nothing."""


@command("long")
async def long(ctx: Context) -> None:
    """A long answer."""
    ctx.private("line of text\n" * 250)


@command("files")
async def files(ctx: Context, event: object) -> None:
    """Tell me about the files shared with me."""
    got = getattr(event, "files", ())
    ctx.private("files: " + ", ".join(f"{f.name} ({len(f.data)} bytes)" for f in got) if got else "no files")


@command("report")
async def report(ctx: Context) -> None:
    """Send a file back."""
    ctx.reply("Here it is.", files=[OutgoingFile(name="report.csv", data=b"a,b\n1,2\n", content_type="text/csv")])


@command("secret")
async def secret(ctx: Context) -> None:
    """A private notice."""
    ctx.private("PRIVATE-NOTICE-TEXT for you only")


@command("announce")
async def announce(ctx: Context, args: str) -> None:
    """Queue a message to a group's channel."""
    group, _, text = args.partition(" ")
    await ctx.send(ToGroup(group), Message(text=text or "hello"), key=f"t:announce:{ctx.event.event_id}")
    ctx.private("queued")


@command("meeting")
async def meeting(ctx: Context, args: str) -> None:
    """Announce, move or cancel the test meeting (a calendar event)."""
    hours = 0
    cancelled = args == "cancel"
    if args.startswith("move"):
        hours = 2
    start = MEETING_START + timedelta(hours=hours)
    cal = CalendarEvent(
        key="meeting:heads:1",
        title="Heads' meeting",
        start=start,
        end=start + timedelta(hours=2),
        description="Half-termly heads' meeting",
        location="Oakfield Primary School",
        cancelled=cancelled,
    )
    await ctx.send(
        ToGroup("heads"), Message(text=f"Heads' meeting: {args or 'booked'}", calendar=cal), key=f"t:meet:{args}"
    )
    ctx.private("ok")


@command("echo")
async def echo(ctx: Context, args: str) -> None:
    """Repeat what was said (as the core received it)."""
    ctx.private(f"echo: {args}")


@command("pastmeeting")
async def pastmeeting(ctx: Context) -> None:
    """A meeting that has already started: the message goes, the event cannot."""
    start = datetime.now(UTC) - timedelta(hours=1)
    cal = CalendarEvent(key="meeting:past", title="Past meeting", start=start, end=start + timedelta(hours=2))
    await ctx.send(ToGroup("heads"), Message(text="Minutes attached", calendar=cal), key="t:past")
    ctx.private("ok")


@command("pick")
async def pick(ctx: Context) -> None:
    """Offer a private choice."""
    ctx.private("Which one?", buttons=[Button(label="This", action="t.pick", value="a")])


@on_button("t.pick")
async def picked(ctx: Context, event: ButtonPressed) -> None:
    assert event.message is not None
    await ctx.send(
        EditMessage(ref=event.message), Message(text="You picked this one."), key=f"t:picked:{event.event_id}"
    )


SECRET_LINK = "https://meet.example.org/j/8841?pwd=SECRET"


@command("groupmeeting")
async def groupmeeting(ctx: Context, args: str) -> None:
    """Book an online meeting of a group (the text names the group), as the meetings module
    does: the event's location is the joining link."""
    group = args or "heads"
    start = MEETING_START + timedelta(days=1)
    cal = CalendarEvent(
        key=f"meeting:{group}:online",
        title=f"{group} meeting",
        start=start,
        end=start + timedelta(hours=1),
        description=f"{group} meeting. Add agenda items with: agenda add <your item>",
        location=SECRET_LINK,
    )
    text = f"{group} meeting booked. Join: {SECRET_LINK}"
    await ctx.send(ToGroup(group), Message(text=text, calendar=cal), key=f"t:groupmeet:{group}")
    ctx.private("ok")


@command("meetnow")
async def meetnow(ctx: Context) -> None:
    """Answer at once, in public, with a meeting attached (a scheduled event to make)."""
    start = MEETING_START + timedelta(days=2)
    cal = CalendarEvent(key="meeting:now", title="Quick meeting", start=start, end=start + timedelta(hours=1))
    ctx.replies.append(Outgoing(Respond(in_thread=False), Message(text="Quick meeting booked", calendar=cal)))


class Gate:
    """Holds the "hold:" handler until a test lets it go."""

    entered: asyncio.Event | None = None
    release: asyncio.Event | None = None


def _is_hold(event: MessagePosted, group: str | None) -> bool:
    return event.text.lower().startswith("hold:")


@on_message(where="channel", when=_is_hold, priority=30)
async def hold(ctx: Context, event: MessagePosted) -> None:
    """Waits at the gate (if a test set one), then answers in the message's thread."""
    if Gate.entered is not None and Gate.release is not None:
        Gate.entered.set()
        await Gate.release.wait()
    ctx.reply(f"handled {event.text}", in_thread=True)


@command("slowchoice")
async def slowchoice(ctx: Context) -> None:
    """Offer a button that takes a while."""
    ctx.reply("Press when ready:", buttons=[Button(label="Go", action="t.slow", value="1")])


@on_button("t.slow")
async def slow_button(ctx: Context) -> None:
    await asyncio.sleep(0.25)
    ctx.private("pressed, slowly")
