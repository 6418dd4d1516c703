"""Test-only handlers that exercise every neutral reply shape the core can produce:
DMs with buttons, edits, group posts, threads, private notices, files, home sections."""

from __future__ import annotations

from bot.dispatch import NOT_HANDLED, Context, command, home_section, on_button, on_message
from bot.events import ButtonPressed, CommandInvoked, MessagePosted
from bot.home import HomeSection
from bot.models.network import Person
from bot.network import store
from bot.replies import Button, EditMessage, Message, OutgoingFile, ToGroup, ToPerson, ToThread

ICS = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//peerbot//test//EN\r\nEND:VCALENDAR\r\n"


@command("offer", usage="offer EMAIL")
async def offer(ctx: Context, args: str) -> None:
    """DM a peer a request with I can help / Not me buttons."""
    peer = await store.person_by_email(ctx.session, ctx.network_id, args)
    assert peer is not None
    buttons = (
        Button(label="I can help", action="test.take", value="7", style="primary"),
        Button(label="Not me", action="test.nope", value="7"),
    )
    await ctx.send(ToPerson(peer.id), Message(text="Can you help with **phonics**?", buttons=buttons), key="offer:7")
    ctx.private("Asked.")


@on_button("test.take")
async def take(ctx: Context, event: ButtonPressed, person: Person) -> None:
    assert event.message is not None
    await ctx.send(
        EditMessage(ref=event.message), Message(text=f"Taken by {person.name}."), key=f"taken:{event.event_id}"
    )
    ctx.private("Thanks — over to you.")


@on_button("test.nope")
async def nope(ctx: Context, event: ButtonPressed) -> None:
    ctx.reply(f"Noted ({event.value}).", in_thread=True)


@on_button("test.home")
async def home_button(ctx: Context, event: ButtonPressed) -> None:
    ctx.private(f"home button {event.value}")


@command("announce", usage="announce GROUP")
async def announce(ctx: Context, args: str) -> None:
    """Post to a group's channel, with a poll and an invite."""
    buttons = tuple(Button(label=f"Day {i}", action="test.vote", value=str(i)) for i in range(30))
    invite = OutgoingFile(name="meeting.ics", data=ICS, content_type="text/calendar")
    await ctx.send(
        ToGroup(args.strip()), Message(text="**Meeting** — pick a day", buttons=buttons, files=(invite,)), key="poll:1"
    )
    ctx.private("Posted.")


@on_button("test.vote")
async def vote(ctx: Context, event: ButtonPressed) -> None:
    ctx.private(f"vote {event.value}")


@command("invite")
async def invite(ctx: Context, args: str) -> None:
    """Reply with a file (privately unless asked for 'public')."""
    f = OutgoingFile(name="meeting.ics", data=ICS, content_type="text/calendar")
    ctx.reply("Here is the invite.", files=(f,), private=args.strip() != "public")


@command("kb", usage="kb WORDS")
async def kb(ctx: Context, event: CommandInvoked | MessagePosted, args: str) -> None:
    """Report what arrived (text and files)."""
    files = ", ".join(f"{f.name}={len(f.data)}:{f.data[:12]!r}" for f in event.files)
    ctx.private(f"kb [{args}] files [{files}]")


@command("ask", usage="ask QUESTION")
async def ask(ctx: Context, args: str, group: str | None) -> None:
    """Echo a question and where it was asked."""
    ctx.private(f"asked [{args}] in [{group}]")


@command("shout")
async def shout(ctx: Context, args: str) -> None:
    """A public answer in the channel."""
    ctx.reply(f"shout {args}", private=False, in_thread=False)


@on_message(where="channel", when=lambda event, group: group is not None and event.text.startswith("Q:"))
async def question(ctx: Context, event: MessagePosted) -> object:
    """A question in a group channel: a public reply in its thread, a private note, and a
    queued follow-up in the thread."""
    ctx.reply("Thanks — I'll find someone.", in_thread=True)
    ctx.private(f"Only you can see this: noted in {ctx.group}.")
    await ctx.send(ToThread(event.ref), Message(text=f"Follow-up about: {event.text}"), key=f"q:{event.message_id}")
    return None


@on_message(where="thread")
async def thread_reply(ctx: Context, event: MessagePosted) -> object:
    if not event.text.startswith("A:"):
        return NOT_HANDLED
    ctx.private("Answer noted.")
    return None


@home_section(order=10)
async def waiting(person: Person) -> HomeSection:
    return HomeSection(
        title="Waiting for you",
        lines=(f"A request for {person.name.split(' ')[0]}",),
        buttons=(Button(label="Look", action="test.home", value="42"),),
    )
