"""Who can read a private group's channel (DSL, SENCO): the runtime guard and the check share this.

A private group's channel is *exposed* when someone who is not in the group can read it:
everyone (``@everyone`` may view it), a role that people outside the group hold (the
heads' role, a "Members" role), or one person given access by hand. "In the group" means
what the core means: holding one of the group's roles in ``people.csv``, matched by the
``discord_id`` column. Bots are left out, and so are the server's owner and
administrators: they can read every channel whatever its settings, so no set-up could
keep them out (``peerbot discord check`` names them instead).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

import discord
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config
from bot.network import store
from bot.numbers import SNOWFLAKE_MAX, whole_number


def sees_everything(member: discord.Member) -> bool:
    """The owner and administrators: no channel setting keeps them out."""
    return member.id == member.guild.owner_id or member.guild_permissions.administrator


def outside_readers(
    channel: discord.abc.GuildChannel, members: Iterable[discord.Member], group_ids: Collection[int]
) -> list[discord.Member]:
    """The people (not bots, not the owner or administrators) who can read ``channel``
    but are not in the group."""
    return [
        m
        for m in members
        if not m.bot and m.id not in group_ids and not sees_everything(m) and channel.permissions_for(m).view_channel
    ]


def names(members: Sequence[discord.Member], most: int = 5) -> str:
    listed = ", ".join(m.display_name for m in members[:most])
    return listed + (f" and {len(members) - most} more" if len(members) > most else "")


async def group_discord_ids(
    session: AsyncSession, config: Config, network_id: int, groups: Iterable[str]
) -> dict[str, frozenset[int]]:
    """Each group's members' Discord user ids, from the people table."""
    found: dict[str, frozenset[int]] = {}
    enabled = config.enabled_groups()
    for group in groups:
        settings = enabled.get(group)
        people = await store.people_with_roles(session, network_id, settings.roles) if settings else []
        ids = (whole_number(p.discord_id, most=SNOWFLAKE_MAX) for p in people if p.discord_id)
        found[group] = frozenset(i for i in ids if i is not None)
    return found
