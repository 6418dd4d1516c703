"""``peerbot discord check``: is the Discord side set up? Says exactly what is missing.

It logs in with the token (REST only, no gateway connection) and checks, in order: the
token, the privileged intents switched on for the application, the server
(``discord.guild_id``) and that the bot is in it, and for each group's channel
(``discord.channels``) that it exists, is a text channel, that peerbot has the
permissions it needs there, and that the private groups' channels (DSL, SENCO) can be
read by nobody outside the group (:mod:`adapters.discord.privacy`: the server's members
against the people file). It prints the invite link with the right permissions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import discord

from adapters.discord.privacy import names, outside_readers, sees_everything
from bot.config import Config
from bot.errors import ConfigError

SCOPES = ("bot", "applications.commands")

CHANNEL_PERMISSIONS: dict[str, str] = {
    "view_channel": "View Channels",
    "send_messages": "Send Messages",
    "read_message_history": "Read Message History",
    "embed_links": "Embed Links",
    "attach_files": "Attach Files",
    "create_public_threads": "Create Public Threads",
    "send_messages_in_threads": "Send Messages in Threads",
}
SERVER_PERMISSIONS: dict[str, str] = {"create_events": "Create Events"}


def required_permissions() -> discord.Permissions:
    """Everything peerbot needs, as one permissions value for the invite link."""
    return discord.Permissions(**dict.fromkeys([*CHANNEL_PERMISSIONS, *SERVER_PERMISSIONS], True))


def invite_url(application_id: int | str, guild_id: str | None = None) -> str:
    return discord.utils.oauth_url(
        application_id,
        permissions=required_permissions(),
        scopes=SCOPES,
        guild=discord.Object(int(guild_id)) if guild_id else discord.utils.MISSING,
        disable_guild_select=bool(guild_id),
    )


@dataclass
class Finding:
    name: str
    ok: bool
    detail: str


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    application_id: str | None = None
    bot: str | None = None
    guild: str | None = None
    invite_url: str | None = None

    def add(self, name: str, ok: bool, detail: str) -> bool:
        self.findings.append(Finding(name, ok, detail))
        return ok

    @property
    def problems(self) -> list[str]:
        return [f"{f.name}: {f.detail}" for f in self.findings if not f.ok]

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": not self.problems,
            "application_id": self.application_id,
            "bot": self.bot,
            "guild": self.guild,
            "invite_url": self.invite_url,
            "permissions": required_permissions().value,
            "checks": [asdict(f) for f in self.findings],
            "problems": self.problems,
        }


async def run_check(config: Config, *, group_ids: Mapping[str, frozenset[int]]) -> Report:
    """``group_ids``: each private group's members' Discord ids, from the people table
    (:func:`adapters.discord.privacy.group_discord_ids`)."""
    settings = config.settings.discord
    report = Report()
    try:
        token = config.secret("discord.token_env", settings.token_env)
    except ConfigError:
        report.add(
            "token",
            False,
            f"{settings.token_env} is not set: put the bot's token in it "
            "(Developer Portal › your application › Bot › Reset Token)",
        )
        return report
    # REST only: never connects (the members intent lets it list the server's members).
    client = discord.Client(intents=discord.Intents(guilds=True, members=True))
    try:
        await _check(client, token, config, report, group_ids)
    finally:
        await client.close()
    return report


async def _check(
    client: discord.Client, token: str, config: Config, report: Report, group_ids: Mapping[str, frozenset[int]]
) -> None:
    settings = config.settings.discord
    try:
        await client.login(token)
    except discord.LoginFailure:
        report.add(
            "token",
            False,
            f"Discord refused the token in {settings.token_env}: copy it again "
            "(Developer Portal › your application › Bot › Reset Token)",
        )
        return
    except (discord.HTTPException, OSError) as exc:
        report.add("token", False, f"could not reach Discord to check the token ({type(exc).__name__})")
        return
    me = client.user
    assert me is not None
    report.bot = str(me)
    app = await client.application_info()
    report.application_id = str(app.id)
    report.invite_url = invite_url(app.id, settings.guild_id)
    report.add("token", True, f"accepted: the bot is {me} (application {app.id})")

    flags = app.flags
    missing = []
    if not (flags.gateway_message_content or flags.gateway_message_content_limited):
        missing.append("Message Content Intent (to read questions posted in the groups' channels)")
    if not (flags.gateway_guild_members or flags.gateway_guild_members_limited):
        missing.append("Server Members Intent (to greet people who join and know who is in the server)")
    report.add(
        "intents",
        not missing,
        "Message Content and Server Members are on"
        if not missing
        else "turn on "
        + " and ".join(missing)
        + " in the Developer Portal › your application › Bot › Privileged Gateway Intents",
    )

    if not settings.guild_id:
        report.add(
            "discord.guild_id",
            False,
            "is not set: turn on Developer Mode (User Settings › Advanced), right-click the server › Copy Server ID",
        )
        return
    try:
        guild = await client.fetch_guild(int(settings.guild_id))
    except (discord.Forbidden, discord.NotFound):
        report.add(
            "discord.guild_id",
            False,
            f"peerbot is not in the server {settings.guild_id} (or the id is wrong): "
            f"invite it with {report.invite_url}",
        )
        return
    report.guild = guild.name
    member = await guild.fetch_member(me.id)
    report.add("discord.guild_id", True, f"peerbot is in '{guild.name}'")

    if settings.scheduled_events:
        lacking = [label for perm, label in SERVER_PERMISSIONS.items() if not getattr(member.guild_permissions, perm)]
        report.add(
            "server permissions",
            not lacking,
            "peerbot can create the meetings' scheduled events"
            if not lacking
            else f"peerbot lacks {', '.join(lacking)} (give its role that permission, or set "
            "discord.scheduled_events = false)",
        )

    channels = {c.id: c for c in await guild.fetch_channels()}
    everyone: list[discord.Member] | None = None
    if configured_private(config):
        try:
            everyone = [m async for m in guild.fetch_members(limit=None)]
        except discord.HTTPException:
            everyone = None  # without the members intent: said above, and the private channels below
    groups = config.enabled_groups()
    configured = settings.channels
    for group in groups:
        key = f"discord.channels.{group}"
        cid = configured.get(group)
        if cid is None:
            continue
        channel = channels.get(int(cid))
        if channel is None:
            report.add(key, False, f"there is no channel {cid} in '{guild.name}' that peerbot can see")
            continue
        if not isinstance(channel, discord.TextChannel):
            report.add(key, False, f"#{channel.name} is not a text channel")
            continue
        perms = channel.permissions_for(member)
        lacking = [label for perm, label in CHANNEL_PERMISSIONS.items() if not getattr(perms, perm)]
        if lacking:
            report.add(key, False, f"in #{channel.name} peerbot lacks {', '.join(lacking)}")
            continue
        if group not in settings.private_groups:
            report.add(key, True, f"#{channel.name}: peerbot can read, post and start threads")
            continue
        if channel.permissions_for(guild.default_role).view_channel:
            report.add(
                key,
                False,
                f"#{channel.name} can be read by everyone in the server: make it private to the {group} role "
                "(peerbot will not post there until it is)",
            )
            continue
        if everyone is None:
            report.add(
                key,
                False,
                f"cannot tell who can read #{channel.name}: Discord would not list the server's members "
                "(the Server Members Intent must be on)",
            )
            continue
        outside = outside_readers(channel, everyone, group_ids.get(group, frozenset()))
        if outside:
            report.add(
                key,
                False,
                f"#{channel.name} can be read by {len(outside)} "
                f"{'person' if len(outside) == 1 else 'people'} outside the {group} group ({names(outside)}): "
                f"take away their access, or if they are in the group give them the {group} role and their "
                "discord_id in people.csv (peerbot will not post there until then)",
            )
            continue
        detail = f"#{channel.name}: peerbot can read, post and start threads; only the {group} group can read it"
        above = [m for m in everyone if not m.bot and sees_everything(m) and m.id not in group_ids.get(group, ())]
        if above:
            detail += f" (and the server's owner and administrators, who can read every channel: {names(above)})"
        report.add(key, True, detail)
    unmapped = sorted(g for g in groups if g not in configured)
    if unmapped:
        report.add("groups", True, f"no Discord channel for {', '.join(unmapped)} (optional)")


def configured_private(config: Config) -> list[str]:
    """The private groups that have a channel in the config."""
    settings = config.settings.discord
    return [g for g in settings.private_groups if g in settings.channels]
