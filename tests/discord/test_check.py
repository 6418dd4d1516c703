"""``peerbot discord check`` says exactly what is missing."""

from __future__ import annotations

import asyncio
import csv
import io
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from adapters.discord.check import Report, required_permissions
from adapters.discord.check import run_check as check
from bot.clock import FrozenClock
from bot.roles import DEFAULT_GROUPS
from tests.discord.conftest import HEAD, World, discord_config, network_sources
from tests.support.discord_fake import ADMINISTRATOR, SEND_MESSAGES, VIEW_CHANNEL, FakeDiscord


def group_ids(world: World) -> dict[str, frozenset[int]]:
    """Each group's Discord ids, as the people file says (what the CLI reads from the database)."""
    found: dict[str, set[int]] = {g: set() for g in DEFAULT_GROUPS}
    for row in csv.DictReader(io.StringIO(network_sources()["people"].data.decode())):
        roles = {r.strip() for r in row["roles"].split(";")}
        for group, wanted in DEFAULT_GROUPS.items():
            if roles & set(wanted):
                found[group].add(int(world.uid(row["email"])))
    return {g: frozenset(ids) for g, ids in found.items()}


async def run_check(config: Any, world: World) -> Report:
    return await check(config, group_ids=group_ids(world))


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch, fake: FakeDiscord) -> str:
    monkeypatch.setenv("DISCORD_TOKEN", fake.token)
    return fake.token


def test_the_permissions_integer_is_what_peerbot_needs() -> None:
    perms = required_permissions()
    assert perms.value == 17901423807488
    assert perms.send_messages and perms.create_public_threads and perms.send_messages_in_threads
    assert perms.read_message_history and perms.attach_files and perms.embed_links and perms.create_events
    assert not perms.administrator and not perms.manage_messages and not perms.mention_everyone


async def test_a_good_set_up_passes_and_gives_the_invite_link(fake: FakeDiscord, world: World, token: str) -> None:
    report = await run_check(discord_config(world), world)
    assert report.problems == []
    names = [f.name for f in report.findings]
    assert names[:4] == ["token", "intents", "discord.guild_id", "server permissions"]
    assert {f"discord.channels.{g}" for g in world.channels} <= set(names)
    assert report.invite_url is not None
    query = parse_qs(urlparse(report.invite_url).query)
    assert query["client_id"] == [fake.app_id]
    assert query["permissions"] == [str(required_permissions().value)]
    assert query["scope"] == ["bot applications.commands"]
    assert query["guild_id"] == [fake.guild_id]


async def test_a_missing_token_is_named(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    report = await run_check(discord_config(world), world)
    assert report.problems == [
        "token: DISCORD_TOKEN is not set: put the bot's token in it "
        "(Developer Portal › your application › Bot › Reset Token)"
    ]


async def test_a_wrong_token_is_refused(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "not-the-token")
    report = await run_check(discord_config(world), world)
    [problem] = report.problems
    assert problem.startswith("token: Discord refused the token in DISCORD_TOKEN")


async def test_missing_intents_are_named(fake: FakeDiscord, world: World, token: str) -> None:
    fake.app_flags = 0
    report = await run_check(discord_config(world), world)
    problem, *private_channels = report.problems
    assert "Message Content Intent" in problem and "Server Members Intent" in problem
    assert "Privileged Gateway Intents" in problem
    assert private_channels == [
        f"discord.channels.{group}: cannot tell who can read #{group}: Discord would not list the server's "
        "members (the Server Members Intent must be on)"
        for group in ("dsl", "senco")
    ]


async def test_a_missing_or_wrong_server_is_explained(fake: FakeDiscord, world: World, token: str) -> None:
    config = discord_config(world, guild_id=None)
    report = await run_check(config, world)
    assert report.problems[-1].startswith("discord.guild_id: is not set")
    report = await run_check(discord_config(world, guild_id="123"), world)
    [problem] = report.problems
    assert problem.startswith("discord.guild_id: peerbot is not in the server 123")
    assert "invite it with https://discord.com/oauth2/authorize?client_id=" in problem


async def test_channel_problems_are_named_one_by_one(fake: FakeDiscord, world: World, token: str) -> None:
    fake.set_channel_permissions(world.channels["sbm"], fake.bot_role, deny=SEND_MESSAGES)
    fake.set_visibility(world.channels["dsl"], visible_to=None)
    channels = {**world.channels, "senco": "999"}
    report = await run_check(discord_config(world, channels=channels), world)
    assert sorted(report.problems) == [
        "discord.channels.dsl: #dsl can be read by everyone in the server: make it private to the dsl role "
        "(peerbot will not post there until it is)",
        "discord.channels.sbm: in #sbm peerbot lacks Send Messages, Embed Links, Attach Files",
        "discord.channels.senco: there is no channel 999 in 'Riverside Heads' that peerbot can see",
    ]


async def test_a_private_channel_others_can_read_is_named_with_who_can(
    fake: FakeDiscord, world: World, token: str
) -> None:
    fake.set_channel_permissions(world.channels["senco"], world.roles["heads"], allow=VIEW_CHANNEL)
    head = world.uid(HEAD)  # given the DSL role on Discord, but not a DSL in the people file
    fake.members[head]["roles"].append(world.roles["dsl"])
    report = await run_check(discord_config(world), world)
    problems = dict(p.split(": ", 1) for p in report.problems)
    assert problems["discord.channels.dsl"] == (
        "#dsl can be read by 1 person outside the dsl group (Priya Shah): take away their access, or if they "
        "are in the group give them the dsl role and their discord_id in people.csv "
        "(peerbot will not post there until then)"
    )
    assert problems["discord.channels.senco"].startswith("#senco can be read by 4 people outside the senco group (")
    assert set(problems) == {"discord.channels.dsl", "discord.channels.senco"}


async def test_the_servers_administrators_are_named_but_pass(fake: FakeDiscord, world: World, token: str) -> None:
    admins = fake.add_role("Admin", ADMINISTRATOR)
    fake.members[world.uid(HEAD)]["roles"].append(admins)
    report = await run_check(discord_config(world), world)
    assert report.problems == []
    [dsl] = [f for f in report.findings if f.name == "discord.channels.dsl"]
    assert dsl.detail == (
        "#dsl: peerbot can read, post and start threads; only the dsl group can read it (and the server's owner "
        "and administrators, who can read every channel: Priya Shah)"
    )


async def test_the_command_line_prints_each_check_and_exits_2_on_a_problem(
    fake: FakeDiscord, world: World, token: str, tmp_path: Path
) -> None:
    from bot.config import load_config
    from bot.db.engine import Database
    from tests.discord.conftest import open_bot

    config = tmp_path / "peerbot.toml"
    channels = "\n".join(f'{g} = "{c}"' for g, c in world.channels.items())
    config.write_text(
        f'[network]\nname = "Test Network"\n[platforms]\nrun = ["discord"]\n'
        f'[discord]\nguild_id = "{fake.guild_id}"\n[discord.channels]\n{channels}\n',
        encoding="utf-8",
    )
    # The people file, with everyone's discord_id, imported into the config's database.
    db = Database(load_config(config).database_url())
    await db.ensure_schema(migrate=True)
    await (await open_bot(db, FrozenClock(datetime.now(UTC)), world)).close()
    script = (
        "import sys, yarl, discord.http, discord.gateway\n"
        f"discord.http.Route.BASE = {fake.api_base!r}\n"
        "from bot.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )

    async def cli(*args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            script,
            "--config",
            str(config),
            "discord",
            "check",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    fake.app_flags = 0
    code, out, err = await cli()
    assert code == 2
    lines = out.splitlines()
    assert lines[0] == "Discord set-up for 'Test Network':"
    assert lines[1].startswith("  ok    token: accepted: the bot is peerbot")
    assert lines[2].startswith("  FAIL  intents: turn on Message Content Intent")
    assert "Invite link (permissions 17901423807488): https://discord.com/oauth2/authorize?" in out
    assert lines[-1] == "3 problem(s)"  # and the private channels cannot be checked without the intent
    assert err.startswith("error: intents: turn on") and err.count("\n") == 1


async def test_the_json_report(fake: FakeDiscord, world: World, token: str) -> None:
    document = (await run_check(discord_config(world), world)).to_json()
    assert document["ok"] is True and document["problems"] == []
    assert document["permissions"] == 17901423807488 and document["guild"] == "Riverside Heads"
    assert {c["name"] for c in document["checks"]} >= {"token", "intents", "discord.guild_id"}
