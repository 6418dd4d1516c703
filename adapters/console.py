"""The console adapter: talk to the bot in a terminal, as anyone in the network.

Type as the person you have chosen, in a DM with the bot or in a group's channel.
Lines starting with ``/`` steer the console itself::

    /as EMAIL|NAME   become someone else          /who     list the network's people
    /in GROUP        go to a group's channel      /dm      talk to the bot privately
    /thread N        reply in message N's thread  /out     leave the thread
    /press N         press button N               /peerbot CMD ...  a slash command
    /where           where am I                   /quit    leave (or type quit)

Everything the bot sends anyone (DMs to peers, posts in channels) is printed too, marked
with who it was for, so one terminal shows a whole conversation.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import sys
import uuid
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from rich.console import Console
from rich.text import Text

from bot.delivery import Address
from bot.events import ButtonPressed, CommandInvoked, MessagePosted, MessageRef, Place, Sender
from bot.network import store
from bot.replies import Button, Message, Outgoing, Respond

if TYPE_CHECKING:
    from bot.app import PeerBot

CONSOLE_HELP = __doc__.split("::", 1)[1].split("\n\nEverything", 1)[0] if __doc__ else ""
LEAVE_WORDS = ("quit", "exit")
_BOLD = re.compile(r"\*\*(.+?)\*\*")


@dataclass(frozen=True)
class Me:
    email: str
    name: str


def render(text: str, style: str = "") -> Text:
    """The core's neutral markup (``**bold**``) as rich text; nothing else is interpreted."""
    out = Text(style=style)
    pos = 0
    for m in _BOLD.finditer(text):
        out.append(text[pos : m.start()])
        out.append(m.group(1), style="bold")
        pos = m.end()
    out.append(text[pos:])
    return out


class ConsoleAdapter:
    platform = "console"

    def __init__(
        self,
        bot: PeerBot,
        *,
        stdin: IO[str] | None = None,
        stdout: IO[str] | None = None,
        interactive: bool | None = None,
    ) -> None:
        self.bot = bot
        self.stdin = stdin or sys.stdin
        self.interactive = self.stdin.isatty() if interactive is None else interactive
        self.console = Console(file=stdout or sys.stdout, highlight=False, soft_wrap=True, emoji=False)
        self.me: Me | None = None
        self.place = Place(platform="console", channel_id="dm", is_direct=True)
        self.buttons: dict[int, tuple[Button, MessageRef | None]] = {}
        self._button_numbers = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._stop = asyncio.Event()
        bot.deliverer.register(self)

    # -- set-up -----------------------------------------------------------------------
    async def prepare(self, *, identity: str | None = None, place: str | None = None) -> None:
        people = await self._people()
        if not people:
            self.console.print("The network has no people yet: import it with `peerbot network import`.")
            return
        if identity:
            self._become(identity, people)
        elif self.interactive:
            await self._choose(people)
        else:
            first = next((p for p in people if "convenor" in p[2]), people[0])
            self.me = Me(first[0], first[1])
        if place:
            self._go(place)
        self._where()

    async def _people(self) -> list[tuple[str, str, list[str], str]]:
        async with self.bot.db.session() as session:
            return [(p.email, p.name, p.roles, p.school.name) for p in await store.people(session, self.bot.network_id)]

    async def _choose(self, people: list[tuple[str, str, list[str], str]]) -> None:
        self.console.print(Text(f"Welcome to {self.bot.config.network_name}. Who are you?", style="bold"))
        for i, (email, name, roles, school) in enumerate(people, 1):
            self.console.print(f"  {i:>2}. {name} — {', '.join(roles)}, {school} <{email}>")
        while self.me is None:
            try:
                answer = (await asyncio.to_thread(input, "Number or email: ")).strip()
            except EOFError:
                answer = "1"
            if answer.isdigit() and 1 <= int(answer) <= len(people):
                email, name, *_ = people[int(answer) - 1]
                self.me = Me(email, name)
            else:
                self._become(answer, people)

    def _become(self, who: str, people: list[tuple[str, str, list[str], str]]) -> None:
        key = who.strip().lower()
        matches = [p for p in people if p[0] == key] or [p for p in people if key and key in p[1].lower()]
        if len(matches) == 1:
            self.me = Me(matches[0][0], matches[0][1])
            self.console.print(f"You are now {self.me.name} ({matches[0][3]}).")
        elif matches:
            self.console.print(f"'{who}' could be: {', '.join(p[1] for p in matches[:6])}. Be more specific.")
        else:
            self.console.print(f"Nobody called '{who}' is in the network. /who lists everyone.")

    def _go(self, group: str) -> None:
        name = group.strip().lstrip("#").lower()
        groups = self.bot.config.enabled_groups()
        if name in ("dm", "direct"):
            self.place = Place(platform="console", channel_id=self._dm_channel(), is_direct=True)
        elif name in groups:
            self.place = Place(platform="console", channel_id=name)
        else:
            self.console.print(f"There is no '{name}' channel. Channels: {', '.join(sorted(groups))}.")

    def _dm_channel(self) -> str:
        return f"dm:{self.me.email}" if self.me else "dm"

    def _where(self) -> None:
        if self.me is None:
            return
        if self.place.is_direct:
            where = "a private chat with peerbot"
        else:
            where = f"#{self.place.channel_id}"
            if self.place.thread_id:
                where += f", in the thread of message {self.place.thread_id}"
        self.console.print(Text(f"You are {self.me.name}, in {where}. /help for console commands.", style="dim"))

    # -- the loop ---------------------------------------------------------------------
    async def run(self) -> None:
        if self.me is None:
            await self.prepare()
        while not self._stop.is_set():
            line = await self._read()
            if line is None:
                break
            await self.handle_line(line)

    async def stop(self) -> None:
        self._stop.set()

    async def _read(self) -> str | None:
        if self.interactive:
            try:
                return str(await asyncio.to_thread(input, self._prompt()))
            except EOFError:
                return None
        line: str = await asyncio.to_thread(self.stdin.readline)
        if not line:
            return None
        self.console.print(Text(self._prompt() + line.rstrip("\n"), style="cyan"))
        return line.rstrip("\n")

    def _prompt(self) -> str:
        name = self.me.name if self.me else "?"
        where = "DM" if self.place.is_direct else f"#{self.place.channel_id}"
        if self.place.thread_id:
            where += f"/{self.place.thread_id}"
        return f"{name} @ {where} > "

    async def handle_line(self, line: str) -> None:
        line = line.strip()
        if not line:
            return
        if line.startswith("/"):
            await self._console_command(line)
            return
        if line.lower().rstrip(".!") in LEAVE_WORDS:  # what people type to leave a terminal program
            await self.stop()
            return
        if self.me is None:
            self.console.print("Choose who you are first: /as EMAIL")
            return
        mentions = bool(re.match(r"^@peerbot\b", line, re.I))
        text = re.sub(r"^@peerbot\b[:,]?\s*", "", line, flags=re.I) if mentions else line
        message_id = str(next(self._message_ids))
        if not self.place.is_direct and not self.place.thread_id:
            self.console.print(Text(f"  (message {message_id})", style="dim"))
        await self._dispatch(
            MessagePosted(
                sender=self._sender(),
                place=self._current_place(),
                event_id=uuid.uuid4().hex,
                text=text,
                message_id=message_id,
                mentions_bot=mentions,
            )
        )

    def _sender(self) -> Sender:
        assert self.me is not None
        return Sender(platform="console", user_id=self.me.email, display_name=self.me.name)

    def _current_place(self) -> Place:
        if self.place.is_direct:
            return Place(platform="console", channel_id=self._dm_channel(), is_direct=True)
        return self.place

    async def _console_command(self, line: str) -> None:
        name, _, rest = line[1:].partition(" ")
        name, rest = name.lower(), rest.strip()
        if name in (*LEAVE_WORDS, "q"):
            await self.stop()
        elif name in ("help", "h"):
            self.console.print(CONSOLE_HELP.strip("\n"))
        elif name == "who":
            for email, pname, roles, school in await self._people():
                self.console.print(f"  {pname} — {', '.join(roles)}, {school} <{email}>")
        elif name == "as":
            self._become(rest, await self._people())
            self.place = (
                self.place
                if not self.place.is_direct
                else Place(platform="console", channel_id=self._dm_channel(), is_direct=True)
            )
        elif name == "in":
            self._go(rest)
            self._where()
        elif name == "dm":
            self._go("dm")
            self._where()
        elif name == "thread":
            if self.place.is_direct or not rest.isdigit():
                self.console.print("Go to a channel first (/in GROUP), then /thread N for message N's thread.")
            else:
                self.place = self.place.in_thread(rest)
                self._where()
        elif name == "out":
            self.place = Place(platform="console", channel_id=self.place.channel_id, is_direct=self.place.is_direct)
            self._where()
        elif name == "where":
            self._where()
        elif name == "press":
            await self._press(rest)
        elif name == "peerbot":
            if self.me is None:
                self.console.print("Choose who you are first: /as EMAIL")
                return
            cmd, _, cmd_args = rest.partition(" ")
            await self._dispatch(
                CommandInvoked(
                    sender=self._sender(),
                    place=self._current_place(),
                    event_id=uuid.uuid4().hex,
                    name=cmd.lower(),
                    text=cmd_args.strip(),
                )
            )
        else:
            self.console.print(
                f"'/{name}' is not a console command. /help lists them; type without a '/' to talk to the bot."
            )

    async def _press(self, rest: str) -> None:
        if not rest.isdigit() or int(rest) not in self.buttons:
            self.console.print("No such button. Buttons are shown as [N] under messages.")
            return
        if self.me is None:
            return
        button, ref = self.buttons[int(rest)]
        place = (
            Place(
                platform="console",
                channel_id=ref.channel_id,
                is_direct=ref.channel_id.startswith("dm:"),
                thread_id=ref.thread_id,
            )
            if ref
            else self._current_place()
        )
        await self._dispatch(
            ButtonPressed(
                sender=self._sender(),
                place=place,
                event_id=uuid.uuid4().hex,
                action=button.action,
                value=button.value,
                message=ref,
            )
        )

    async def _dispatch(self, event: MessagePosted | CommandInvoked | ButtonPressed) -> None:
        replies = await self.bot.handle(event)
        for reply in replies:
            self._show_reply(event, reply)
        await self.bot.deliverer.drain()

    # -- output -----------------------------------------------------------------------
    def _show_reply(self, event: MessagePosted | CommandInvoked | ButtonPressed, reply: Outgoing) -> None:
        target = reply.target
        assert isinstance(target, Respond)
        label = "peerbot"
        if target.private and not event.place.is_direct:
            label += " (only you can see this)"
        elif target.in_thread and isinstance(event, MessagePosted) and not event.place.is_direct:
            label += f" (in the thread of message {event.place.thread_id or event.message_id})"
        ref = MessageRef(
            platform="console",
            channel_id=event.place.channel_id,
            message_id=str(next(self._message_ids)),
            thread_id=event.place.thread_id,
        )
        self._print(label, reply.message, ref)

    def _print(self, label: str, message: Message, ref: MessageRef | None, style: str = "") -> None:
        head = Text(f"{label}: ", style=style or "bold green")
        self.console.print(head + render(message.text, style))
        if message.buttons:
            row = Text("   ")
            for button in message.buttons:
                n = next(self._button_numbers)
                self.buttons[n] = (button, ref)
                row.append(f"[{n}] {button.label}", style="bold magenta" if button.style == "primary" else "magenta")
                row.append("   ")
            row.append("(/press N)", style="dim")
            self.console.print(row)
        for f in message.files:
            self.console.print(Text(f"   📎 {f.name} ({len(f.data):,} bytes)", style="dim"))

    # -- Transport: what the outbox delivers ------------------------------------------
    async def send(self, address: Address, message: Message, *, key: str | None, attempt: int) -> MessageRef:
        message_id = str(next(self._message_ids))
        mine = self.me is not None and address.user_id == self.me.email
        if address.kind == "dm":
            label = f"peerbot → DM to {address.label}" + (" (you)" if mine else "")
            channel = f"dm:{address.user_id}"
            ref = MessageRef(platform="console", channel_id=channel, message_id=message_id)
        elif address.kind == "channel":
            label = f"peerbot → #{address.channel_id}"
            ref = MessageRef(platform="console", channel_id=address.channel_id or "", message_id=message_id)
        elif address.kind == "thread":
            label = f"peerbot → #{address.channel_id}, thread of message {address.thread_id}"
            ref = MessageRef(
                platform="console",
                channel_id=address.channel_id or "",
                message_id=message_id,
                thread_id=address.thread_id,
            )
        else:
            label = f"peerbot ✎ edited message {address.message_id}"
            ref = MessageRef(
                platform="console",
                channel_id=address.channel_id or "",
                message_id=address.message_id or message_id,
                thread_id=address.thread_id,
            )
        self._print(label, message, ref, style="" if mine or address.kind != "dm" else "dim")
        return ref
