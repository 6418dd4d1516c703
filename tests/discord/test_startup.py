"""Starting the adapter: configuration problems are explained, not crashed on."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.discord import DiscordAdapter
from bot.app import PeerBot
from bot.clock import FrozenClock
from bot.errors import ConfigError
from bot.plugins import load_adapter
from bot.replies import Message, ToGroup
from tests.discord.conftest import HEAD, Running, World, discord_config, start_adapter
from tests.support.discord_fake import FakeDiscord


def test_the_adapter_is_found_through_its_entry_point() -> None:
    assert load_adapter("discord") is DiscordAdapter


async def test_without_a_guild_id_it_says_how_to_find_one(dbot: PeerBot, world: World) -> None:
    dbot.config = discord_config(world, guild_id=None)
    with pytest.raises(ConfigError, match=r"discord\.guild_id is not set: .*Copy Server ID"):
        DiscordAdapter(dbot, token="x")


async def test_without_a_token_it_names_the_variable(
    dbot: PeerBot, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    with pytest.raises(ConfigError, match=r"discord\.token_env names DISCORD_TOKEN, which is not set"):
        DiscordAdapter(dbot)


async def test_a_refused_token_is_explained(dbot: PeerBot, fake: FakeDiscord) -> None:
    adapter = DiscordAdapter(dbot, token="wrong", identify_delay=0)
    with pytest.raises(ConfigError, match="Discord refused the token in DISCORD_TOKEN"):
        await adapter.run()


async def test_privileged_intents_switched_off_are_explained(dbot: PeerBot, fake: FakeDiscord) -> None:
    fake.app_flags = 0
    adapter = DiscordAdapter(dbot, token=fake.token, identify_delay=0)
    with pytest.raises(ConfigError, match="turn on the Server Members and Message Content intents"):
        await adapter.run()


async def test_the_bots_own_mention_is_removed_and_others_become_names(
    running: Running, fake: FakeDiscord, world: World
) -> None:
    peer = world.uid("j.khan@marygreen.sch.uk")
    fake.post(
        world.channels["heads"],
        world.uid(HEAD),
        f"<@{fake.app_id}>   echo could <@{peer}> help?",
        mentions=[fake.app_id, peer],
    )
    await running.settle()
    [reply] = fake.dms_to(world.uid(HEAD))
    assert reply["content"] == "echo: could @Jo Khan help?"


async def test_a_meeting_already_started_still_gets_its_message(
    running: Running, fake: FakeDiscord, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="adapters.discord")
    fake.post(world.dm(HEAD), world.uid(HEAD), "pastmeeting")
    await running.settle()
    assert [m["content"] for m in fake.bot_messages(world.channels["heads"])] == ["Minutes attached"]
    assert fake.scheduled_events == {}
    assert "Discord refused the scheduled event for meeting:past" in caplog.text


async def test_a_second_adapter_start_does_not_register_commands_again(dbot: PeerBot, fake: FakeDiscord) -> None:
    first = await start_adapter(dbot, fake)
    await first.stop()
    second = await start_adapter(dbot, fake)
    await second.stop()
    assert len(fake.calls_to("PUT", r"/applications/.*")) == 1
    assert fake.identifies == 2


async def test_peerbot_run_serves_discord_from_the_config_file(
    fake: FakeDiscord, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The production path: ``peerbot run`` finds the adapter by entry point, reads the
    token from the environment, and delivers the outbox in the background."""
    from bot.config import load_config
    from tests.discord.conftest import open_bot

    channels = "\n".join(f'{g} = "{c}"' for g, c in world.channels.items())
    config_file = tmp_path / "peerbot.toml"
    config_file.write_text(
        f'[network]\nname = "Test Network"\n[platforms]\nrun = ["discord"]\n'
        f'[discord]\nguild_id = "{fake.guild_id}"\n[discord.channels]\n{channels}\n',
        encoding="utf-8",
    )
    config = load_config(config_file)
    from bot.db.engine import Database

    db = Database(config.database_url())
    await db.ensure_schema(migrate=True)
    bot = await open_bot(db, FrozenClock(datetime.now(UTC)), world)
    async with bot.db.session() as session:  # decided before the restart: delivered by the background deliverer
        await bot.queue(session, ToGroup("heads"), Message(text="Staff briefing at 8"), key="briefing:1")
    await bot.close()

    script = (
        "import sys, yarl, discord.http, discord.gateway\n"
        f"discord.http.Route.BASE = {fake.api_base!r}\n"
        f"discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL({fake.gateway_url!r})\n"
        "from bot.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    env = {**os.environ, "DISCORD_TOKEN": fake.token}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        script,
        "--config",
        str(config_file),
        "run",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await fake.wait_for(lambda: fake.commands and fake.live_sessions() == 1, seconds=30)
        fake.post(world.dm(HEAD), world.uid(HEAD), "whoami")
        await fake.wait_for(
            lambda: fake.bot_messages(world.channels["heads"]) and fake.dms_to(world.uid(HEAD)), seconds=15
        )
        assert fake.bot_messages(world.channels["heads"])[0]["content"] == "Staff briefing at 8"
        assert "You are **Priya Shah**" in fake.dms_to(world.uid(HEAD))[0]["content"]
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, err.decode()
    assert "Staff briefing" not in err.decode()


def _first_text_option(root: dict[str, Any]) -> dict[str, Any]:
    return next(o for sub in root["options"] for o in sub.get("options", []) if o["name"] == "text")


@pytest.mark.parametrize(
    "drift",
    ["permissions", "contexts", "localizations", "choices"],
)
async def test_commands_that_differ_from_discords_copy_in_any_way_that_matters_are_synced_again(
    dbot: PeerBot, fake: FakeDiscord, drift: str
) -> None:
    first = await start_adapter(dbot, fake)
    await first.stop()
    [root] = fake.commands
    if drift == "permissions":
        root["default_member_permissions"] = "8"  # someone made /peerbot admin-only
    elif drift == "contexts":
        root["contexts"] = [0, 1]
    elif drift == "localizations":
        root["description_localizations"] = {"fr": "peerbot, l'assistant"}
    else:
        _first_text_option(root)["choices"] = [{"name": "all", "value": "all"}]
    second = await start_adapter(dbot, fake)
    await second.stop()
    assert len(fake.calls_to("PUT", r"/applications/.*")) == 2
    [root] = fake.commands
    assert root["default_member_permissions"] is None and not root["contexts"]
    assert not root["description_localizations"] and "choices" not in _first_text_option(root)
