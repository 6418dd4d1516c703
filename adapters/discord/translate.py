"""Discord messages and interactions as the core's :mod:`bot.events`.

Places: a message in a thread is placed in the thread's *parent* channel with
``thread_id`` set, so the core finds the group by the channel it configured; a DM is
``is_direct``. Every event's ``event_id`` is the Discord message or interaction id, so a
message seen live, again after a RESUME, and again in the history read on reconnect is
handled once (the core's ``seen_events``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import discord

from bot.events import ButtonPressed, CommandInvoked, IncomingFile, MessagePosted, MessageRef, Place, Sender

log = logging.getLogger(__name__)

PLATFORM = "discord"
MAX_FILES = 10
_USER_MENTION = re.compile(r"<@!?(\d+)>")

HANDLED_TYPES = (discord.MessageType.default, discord.MessageType.reply)


def place_of(channel: Any) -> Place:
    """Where a message or interaction happened, in the core's terms."""
    if channel is None:
        return Place(platform=PLATFORM, channel_id="0", is_direct=True)
    if isinstance(channel, (discord.DMChannel, discord.GroupChannel)) or getattr(channel, "type", None) in (
        discord.ChannelType.private,
        discord.ChannelType.group,
    ):
        return Place(platform=PLATFORM, channel_id=str(channel.id), is_direct=True)
    parent_id = getattr(channel, "parent_id", None)
    if isinstance(channel, discord.Thread) and parent_id is not None:
        return Place(platform=PLATFORM, channel_id=str(parent_id), thread_id=str(channel.id))
    return Place(platform=PLATFORM, channel_id=str(channel.id))


def sender_of(user: discord.abc.User) -> Sender:
    return Sender(platform=PLATFORM, user_id=str(user.id), display_name=user.display_name)


def mentions_me(message: discord.Message, me_id: int) -> bool:
    if me_id in message.raw_mentions:
        return True
    guild = message.guild
    if guild is not None and message.raw_role_mentions:
        mine = guild.self_role
        return mine is not None and mine.id in message.raw_role_mentions
    return False


def clean_text(message: discord.Message, me_id: int) -> str:
    """The message's text without the bot's own mention; other people's mentions as names."""
    guild = message.guild
    own_role = guild.self_role.id if guild is not None and guild.self_role is not None else None
    return strip_mentions(message.content, me_id, {m.id: m.display_name for m in message.mentions}, own_role)


def strip_mentions(text: str, me_id: int, names: dict[int, str], own_role: int | None = None) -> str:
    """``<@bot> strengths oak`` → ``strengths oak``; ``ask <@123>`` → ``ask @Jo Khan``.

    The bot's mention (of its user, or of its own role) is dropped where it opens or
    closes the message, and read as "peerbot" inside a sentence. Nothing else changes.
    """
    me = rf"(?:<@!?{me_id}>" + (rf"|<@&{own_role}>" if own_role is not None else "") + ")"
    text = re.sub(rf"^\s*(?:{me}[\s,:]*)+", "", text)
    text = re.sub(rf"(?:[\s,:]*{me})+\s*$", "", text)
    text = re.sub(me, "peerbot", text)

    def person(m: re.Match[str]) -> str:
        return "@" + names.get(int(m.group(1)), "someone")

    return _USER_MENTION.sub(person, text).strip()


@dataclass(frozen=True)
class Downloaded:
    files: tuple[IncomingFile, ...]
    refused: tuple[str, ...]  # names of files left out, too big or too many


async def download(attachments: Sequence[discord.Attachment], *, limit: int) -> Downloaded:
    """Fetch shared files, up to ``limit`` bytes each and :data:`MAX_FILES` in all."""
    files: list[IncomingFile] = []
    refused: list[str] = []
    for att in attachments:
        if len(files) >= MAX_FILES or att.size > limit:
            refused.append(att.filename)
            continue
        try:
            data = await att.read()
        except (discord.HTTPException, discord.NotFound) as exc:
            log.warning("could not download an attachment (HTTP %s)", getattr(exc, "status", "?"))
            refused.append(att.filename)
            continue
        if len(data) > limit:
            refused.append(att.filename)
            continue
        files.append(IncomingFile(name=att.filename, data=data, content_type=att.content_type))
    return Downloaded(tuple(files), tuple(refused))


def message_event(message: discord.Message, me_id: int, files: Sequence[IncomingFile] = ()) -> MessagePosted:
    return MessagePosted(
        sender=sender_of(message.author),
        place=place_of(message.channel),
        event_id=str(message.id),
        text=clean_text(message, me_id),
        message_id=str(message.id),
        mentions_bot=mentions_me(message, me_id),
        files=tuple(files),
    )


def command_event(
    interaction: discord.Interaction[Any], name: str, text: str, files: Sequence[IncomingFile] = ()
) -> CommandInvoked:
    return CommandInvoked(
        sender=sender_of(interaction.user),
        place=place_of(interaction.channel),
        event_id=str(interaction.id),
        name=name,
        text=text.strip(),
        files=tuple(files),
    )


def button_event(interaction: discord.Interaction[Any], action: str, value: str) -> ButtonPressed:
    place = place_of(interaction.channel)
    ref = None
    if interaction.message is not None:
        ref = MessageRef(
            platform=PLATFORM,
            channel_id=place.channel_id,
            message_id=str(interaction.message.id),
            thread_id=place.thread_id,
        )
    return ButtonPressed(
        sender=sender_of(interaction.user),
        place=place,
        event_id=str(interaction.id),
        action=action,
        value=value,
        message=ref,
    )
