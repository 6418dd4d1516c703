"""The Discord adapter's end-to-end fixtures: a fake Discord, the demo network on it,
and the real discord.py client (peerbot's adapter) connected to it over loopback."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select

from adapters.discord import DiscordAdapter
from bot.app import PeerBot
from bot.clock import FrozenClock
from bot.db.engine import Database
from bot.demo import demo_sources
from bot.dispatch.registry import Registry
from bot.models import Person
from bot.network.importer import import_network
from bot.network.parse import SourceFile
from bot.roles import DEFAULT_GROUPS
from tests.conftest import make_config
from tests.support.discord_fake import FakeDiscord, point_discord_py_at

HEAD = "p.shah@oakfield.sch.uk"  # head and convenor at Oakfield
SENCO = "h.cole@oakfield.sch.uk"
DSL = "t.birch@oakfield.sch.uk"  # deputy and DSL
PEER = "j.khan@marygreen.sch.uk"  # head at Marygreen


SCHOOLS = ("Oakfield Primary School", "Marygreen Academy", "Greensbury Special School")


def network_sources() -> dict[str, SourceFile]:
    """The demo network cut down to three schools (and their people and audits): every
    flow has its cast, and each test's import is quick on both databases."""
    out: dict[str, SourceFile] = {}
    for kind, source in demo_sources().items():
        rows = list(csv.reader(io.StringIO(source.data.decode("utf-8-sig"))))
        header, body = rows[0], rows[1:]
        column = {"schools": "name", "people": "school", "audit": "school"}.get(kind)
        if column is not None:
            body = [r for r in body if r[header.index(column)] in SCHOOLS]
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows([header, *body])
        out[kind] = SourceFile(name=source.name, data=buffer.getvalue().encode())
    return out


@dataclass
class World:
    """The demo network on the fake: who is who, and the groups' channels."""

    fake: FakeDiscord
    users: dict[str, str] = field(default_factory=dict)  # email -> Discord user id
    channels: dict[str, str] = field(default_factory=dict)  # group -> channel id
    roles: dict[str, str] = field(default_factory=dict)  # group -> role id
    general: str = ""
    stranger: str = ""  # in the server, not in the network
    outsider: str = ""  # not even in the server

    def uid(self, email: str) -> str:
        return self.users[email]

    def dm(self, email: str) -> str:
        return self.fake.dm_channel(self.users[email])


def build_world(fake: FakeDiscord) -> World:
    world = World(fake)
    for group in DEFAULT_GROUPS:
        world.roles[group] = fake.add_role(group)
    for group in DEFAULT_GROUPS:
        # Every group's channel is private to its role; heads is too, as networks do.
        world.channels[group] = fake.add_text_channel(group, visible_to=[world.roles[group]])
    world.general = fake.add_text_channel("general")
    rows = csv.DictReader(io.StringIO(network_sources()["people"].data.decode()))
    for row in rows:
        roles = {r.strip() for r in row["roles"].split(";")}
        member_of = [world.roles[g] for g, wanted in DEFAULT_GROUPS.items() if roles & set(wanted)]
        world.users[row["email"]] = fake.add_user(row["name"], roles=member_of)
    world.stranger = fake.add_user("Stranger Danger")
    world.outsider = fake.add_user("Not In Server", member=False)
    return world


def discord_config(world: World, *, extra: dict[str, Any] | None = None, **discord: Any) -> Any:
    """The network's config on the fake: ``discord`` settings, and ``extra`` sections."""
    return make_config(
        {
            "platforms": {"run": ["discord"]},
            "discord": {"guild_id": world.fake.guild_id, "channels": dict(world.channels), **discord},
            **(extra or {}),
        }
    )


# The basics and the test handlers that exercise every shape of reply: the adapter's
# tests stay independent of what the routing, knowledge and meetings handlers decide.
TEST_MODULES = ("bot.handlers.basics", "tests.discord.handlers")


async def open_bot(
    database: Database,
    clock: FrozenClock,
    world: World,
    *,
    modules: tuple[str, ...] = TEST_MODULES,
    extra: dict[str, Any] | None = None,
    **discord: Any,
) -> PeerBot:
    bot = await PeerBot.open(
        discord_config(world, extra=extra, **discord), db=database, clock=clock, migrate=False, platforms=["discord"]
    )
    bot.registry = Registry.discover(modules)
    async with bot.db.session() as session:
        await import_network(session, bot.network_id, now=clock.now(), **network_sources())
    async with bot.db.session() as session:
        for person in (await session.execute(select(Person))).unique().scalars():
            person.discord_id = world.users.get(person.email)
    return bot


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    import discord.gateway
    import discord.http

    server = await FakeDiscord().start()
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    monkeypatch.setattr(
        discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    )
    point_discord_py_at(server)
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
def world(fake: FakeDiscord) -> World:
    return build_world(fake)


class Running:
    """An adapter running against the fake, with helpers to wait for it."""

    def __init__(self, adapter: DiscordAdapter, task: asyncio.Task[None], fake: FakeDiscord) -> None:
        self.adapter = adapter
        self.task = task
        self.fake = fake

    @property
    def bot(self) -> PeerBot:
        return self.adapter.bot

    def caught_up(self) -> bool:
        """Has the client read every dispatch the fake has sent it?"""
        ws = self.adapter.client.ws
        session = self.fake.sessions.get(ws.session_id) if ws is not None else None
        return session is not None and session.socket is not None and (ws.sequence or 0) >= session.seq

    async def settle(self) -> None:
        """Everything dispatched so far received and handled, and the outbox delivered."""
        for _ in range(5):
            await self.fake.wait_for(self.caught_up)
            await asyncio.sleep(0.01)
            await self.adapter.intake.join()
            sent = await self.bot.deliverer.drain()
            if not sent and not self.adapter.intake.pending():
                return

    async def stop(self) -> None:
        await self.adapter.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self.task, 30)  # generous: the machine may be busy


async def start_adapter(bot: PeerBot, fake: FakeDiscord, *, settle: bool = True, **options: Any) -> Running:
    settings: dict[str, Any] = {
        "token": fake.token,
        "guild_ready_timeout": 0.02,
        "identify_delay": 0.0,
        "flush_interval": 0.05,
    }
    settings.update(options)
    adapter = DiscordAdapter(bot, **settings)
    task = asyncio.create_task(adapter.run())
    done, _ = await asyncio.wait(
        {task, asyncio.ensure_future(adapter.ready.wait())}, timeout=10, return_when="FIRST_COMPLETED"
    )
    if task in done:
        task.result()
    if not adapter.ready.is_set():
        raise AssertionError("the adapter never became ready")
    run = Running(adapter, task, fake)
    if settle:
        await run.settle()
    return run


@pytest.fixture
async def dbot(database: Database, clock: FrozenClock, world: World) -> AsyncIterator[PeerBot]:
    bot = await open_bot(database, clock, world)
    try:
        yield bot
    finally:
        bot._stop.set()


@pytest.fixture
async def running(dbot: PeerBot, fake: FakeDiscord) -> AsyncIterator[Running]:
    run = await start_adapter(dbot, fake)
    try:
        yield run
    finally:
        await run.stop()
