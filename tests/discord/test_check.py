"""``peerbot discord check`` says exactly what is missing."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from adapters.discord.check import required_permissions, run_check
from tests.discord.conftest import World, discord_config
from tests.support.discord_fake import SEND_MESSAGES, FakeDiscord


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
    report = await run_check(discord_config(world))
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
    report = await run_check(discord_config(world))
    assert report.problems == [
        "token: DISCORD_TOKEN is not set: put the bot's token in it "
        "(Developer Portal › your application › Bot › Reset Token)"
    ]


async def test_a_wrong_token_is_refused(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "not-the-token")
    report = await run_check(discord_config(world))
    [problem] = report.problems
    assert problem.startswith("token: Discord refused the token in DISCORD_TOKEN")


async def test_missing_intents_are_named(fake: FakeDiscord, world: World, token: str) -> None:
    fake.app_flags = 0
    report = await run_check(discord_config(world))
    [problem] = report.problems
    assert "Message Content Intent" in problem and "Server Members Intent" in problem
    assert "Privileged Gateway Intents" in problem


async def test_a_missing_or_wrong_server_is_explained(fake: FakeDiscord, world: World, token: str) -> None:
    config = discord_config(world, guild_id=None)
    report = await run_check(config)
    assert report.problems[-1].startswith("discord.guild_id: is not set")
    report = await run_check(discord_config(world, guild_id="123"))
    [problem] = report.problems
    assert problem.startswith("discord.guild_id: peerbot is not in the server 123")
    assert "invite it with https://discord.com/oauth2/authorize?client_id=" in problem


async def test_channel_problems_are_named_one_by_one(fake: FakeDiscord, world: World, token: str) -> None:
    fake.set_channel_permissions(world.channels["sbm"], fake.bot_role, deny=SEND_MESSAGES)
    fake.set_visibility(world.channels["dsl"], visible_to=None)
    channels = {**world.channels, "senco": "999"}
    report = await run_check(discord_config(world, channels=channels))
    assert sorted(report.problems) == [
        "discord.channels.dsl: #dsl can be read by everyone in the server: make it private to the dsl role "
        "(peerbot will not post there until it is)",
        "discord.channels.sbm: in #sbm peerbot lacks Send Messages, Embed Links, Attach Files",
        "discord.channels.senco: there is no channel 999 in 'Riverside Heads' that peerbot can see",
    ]


async def test_the_command_line_prints_each_check_and_exits_2_on_a_problem(
    fake: FakeDiscord, world: World, token: str, tmp_path: Path
) -> None:
    config = tmp_path / "peerbot.toml"
    channels = "\n".join(f'{g} = "{c}"' for g, c in world.channels.items())
    config.write_text(
        f'[network]\nname = "Test Network"\n[platforms]\nrun = ["discord"]\n'
        f'[discord]\nguild_id = "{fake.guild_id}"\n[discord.channels]\n{channels}\n',
        encoding="utf-8",
    )
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
    assert lines[-1] == "1 problem(s)"
    assert err.startswith("error: intents: turn on") and err.count("\n") == 1


async def test_the_json_report(fake: FakeDiscord, world: World, token: str) -> None:
    document = (await run_check(discord_config(world))).to_json()
    assert document["ok"] is True and document["problems"] == []
    assert document["permissions"] == 17901423807488 and document["guild"] == "Riverside Heads"
    assert {c["name"] for c in document["checks"]} >= {"token", "intents", "discord.guild_id"}
