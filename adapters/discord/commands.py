"""``/peerbot ...``: the core's commands as Discord slash commands.

One ``/peerbot`` group, synced to the configured guild only, with a subcommand for each
of the core's visible commands (its description is the command's help line) taking an
optional ``text`` (what you would type after the command) and an optional ``file``.
Discord allows 25 subcommands; past 24, the rest (the convenor's and the last modules')
are reached through ``/peerbot other name:...``. Syncing is skipped when Discord already has exactly these
commands, so a reconnect (``on_ready`` again) costs one read, not a rewrite.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

if TYPE_CHECKING:
    from adapters.discord.adapter import DiscordAdapter
    from bot.dispatch.registry import HandlerSpec

log = logging.getLogger(__name__)

ROOT = "peerbot"
MAX_SUBCOMMANDS = 25
_NAME = re.compile(r"^[-_a-z0-9]{1,32}$")

CommandHandler = Callable[[discord.Interaction[Any], str, str, "discord.Attachment | None"], Awaitable[None]]


def describe(text: str, fallback: str) -> str:
    text = " ".join(text.split())
    if not text:
        return fallback
    return text if len(text) <= 100 else text[:99] + "…"


class SlashCommands:
    def __init__(self, adapter: DiscordAdapter, tree: app_commands.CommandTree[Any]) -> None:
        self.adapter = adapter
        self.tree = tree
        self.names: list[str] = []
        self.synced = False

    def build(self, handler: CommandHandler) -> None:
        """The ``/peerbot`` group from the core's registry (call once, before syncing)."""
        # In the order the core's modules list them (the basics first), everyone's before
        # the convenor's: if there are more than Discord allows, the last go under "other".
        registry = self.adapter.bot.registry
        unique: dict[str, HandlerSpec] = {}
        for spec in registry.commands.values():
            if not spec.hidden:
                unique.setdefault(spec.name, spec)
        specs = sorted(unique.values(), key=lambda s: s.convenor_only)
        valid = [s for s in specs if _NAME.match(s.name)]
        overflow = [s for s in specs if not _NAME.match(s.name)]
        if len(valid) > MAX_SUBCOMMANDS:
            overflow = valid[MAX_SUBCOMMANDS - 1 :] + overflow
            valid = valid[: MAX_SUBCOMMANDS - 1]
        group = app_commands.Group(
            name=ROOT,
            description=describe(f"peerbot, the {self.adapter.bot.config.network_name} assistant", "peerbot"),
            guild_only=True,
        )
        for spec in valid:
            group.add_command(self._subcommand(spec, handler))
            self.names.append(spec.name)
        if overflow:
            group.add_command(self._other([s.name for s in overflow], handler))
            self.names.append("other")
        self.tree.add_command(group, guild=discord.Object(self.adapter.guild_id))

    def _subcommand(self, spec: HandlerSpec, handler: CommandHandler) -> app_commands.Command[Any, Any, Any]:
        name = spec.name

        async def callback(
            interaction: discord.Interaction[Any],
            text: str | None = None,
            file: discord.Attachment | None = None,
        ) -> None:
            await handler(interaction, name, text or "", file)

        described = app_commands.describe(
            text=describe(f"what to add: {spec.usage}", "what to add"),
            file="a file to share with peerbot",
        )(callback)
        return app_commands.Command(name=name, description=describe(spec.help, name), callback=described)

    def _other(self, names: list[str], handler: CommandHandler) -> app_commands.Command[Any, Any, Any]:
        async def callback(
            interaction: discord.Interaction[Any],
            name: str,
            text: str | None = None,
            file: discord.Attachment | None = None,
        ) -> None:
            await handler(interaction, name.strip().lower(), text or "", file)

        async def complete(interaction: discord.Interaction[Any], current: str) -> list[app_commands.Choice[str]]:
            return [app_commands.Choice(name=n, value=n) for n in names if current.lower() in n][:25]

        described = app_commands.describe(
            name="the command", text="what to add after it", file="a file to share with peerbot"
        )(callback)
        command: app_commands.Command[Any, Any, Any] = app_commands.Command(
            name="other", description="another of peerbot's commands", callback=described
        )
        command.autocomplete("name")(complete)
        return command

    async def sync(self, guild: discord.abc.Snowflake) -> bool:
        """Make Discord's commands for the guild ours; ``False`` when they already were."""
        client = self.adapter.client
        app_id = client.application_id
        if app_id is None:
            return False
        local = [c.to_dict(self.tree) for c in self.tree.get_commands(guild=guild)]
        # Discord lists localizations only when asked to.
        route = discord.http.Route(
            "GET", "/applications/{application_id}/guilds/{guild_id}/commands", application_id=app_id, guild_id=guild.id
        )
        remote = await client.http.request(route, params={"with_localizations": "true"})
        if normalise(local) == normalise(remote):
            self.synced = True
            return False
        await self.tree.sync(guild=guild)
        self.synced = True
        log.info("synced /%s with %d subcommands to the guild", ROOT, len(self.names))
        return True


def _localized(value: Any) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((value or {}).items()))


def _listed(value: Any) -> tuple[Any, ...] | None:
    return tuple(sorted(value)) if value else None


def normalise(commands: Any) -> Any:
    """What matters when comparing our commands with Discord's copy: everything a person
    sees or that decides who may use them, with Discord's defaults filled in (a missing
    list, ``null`` and ``[]`` are the same)."""

    def choice(c: dict[str, Any]) -> tuple[Any, ...]:
        return (c.get("name"), c.get("value"), _localized(c.get("name_localizations")))

    def option(o: dict[str, Any]) -> tuple[Any, ...]:
        return (
            o.get("type"),
            o.get("name"),
            o.get("description", ""),
            _localized(o.get("name_localizations")),
            _localized(o.get("description_localizations")),
            bool(o.get("required", False)),
            bool(o.get("autocomplete", False)),
            tuple(choice(c) for c in o.get("choices") or ()),
            _listed(o.get("channel_types")),
            tuple(o.get(k) for k in ("min_value", "max_value", "min_length", "max_length")),
            tuple(option(x) for x in o.get("options") or ()),
        )

    def command(c: dict[str, Any]) -> tuple[Any, ...]:
        permissions = c.get("default_member_permissions")
        return (
            c.get("type", 1),
            c.get("name"),
            c.get("description", ""),
            _localized(c.get("name_localizations")),
            _localized(c.get("description_localizations")),
            None if permissions is None else str(permissions),
            bool(c.get("nsfw", False)),
            _listed(c.get("contexts")),
            _listed(c.get("integration_types")) or (0,),  # a guild command is for the guild install
            tuple(option(o) for o in c.get("options") or ()),
        )

    return sorted(command(c) for c in commands)
