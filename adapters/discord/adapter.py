"""The Discord adapter: a discord.py client wired to the core.

In: messages in the groups' channels (and their threads), mentions anywhere in the
guild, and DMs become :class:`~bot.events.MessagePosted`; ``/peerbot`` subcommands
become :class:`~bot.events.CommandInvoked`; peerbot's buttons become
:class:`~bot.events.ButtonPressed`; someone joining the guild (or gaining a role that
shows them a group's channel) becomes :class:`~bot.events.MemberJoined`.

Chatter (a message in a group channel that is not addressed to the bot and that no
handler wants: :meth:`bot.dispatch.dispatcher.Dispatcher.wants`) is not handed to the
core: it is queued only to move its channel's cursor past it, in order behind what came
before it there, and a run of it takes one place in the queue.

Out: immediate replies through :mod:`adapters.discord.replies`, and everything queued
through the outbox's :class:`~adapters.discord.transport.DiscordTransport`.

Served: only members of the configured guild who are in the network's people file
(the core refuses strangers; this refuses people outside the guild before they reach
it). Messages from other guilds are ignored.

Resilience: a RESUME replays what was missed while the socket was down; after a fresh
IDENTIFY (a restart, an invalidated session) each group channel's history since its
cursor is read and handled, oldest first, once. A message's immediate replies are kept
by the core until they have gone (:meth:`bot.app.PeerBot.handle_keeping`; let go of with
the cursors' save): a message read back after a crash between its handling and its
replies gets them then, each first looked for where it would have gone. ``on_ready`` may
fire many times: everything it does is idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import discord
from discord import app_commands

from adapters.discord.calendar import ScheduledEvents
from adapters.discord.commands import SlashCommands
from adapters.discord.intake import QUEUE_CAPACITY, Cursors, Intake
from adapters.discord.outgoing import Poster
from adapters.discord.privacy import group_discord_ids, outside_readers
from adapters.discord.render import DEFAULT_FILE_LIMIT, PeerbotButton, render
from adapters.discord.replies import Responder
from adapters.discord.translate import (
    HANDLED_TYPES,
    button_event,
    command_event,
    download,
    message_event,
    place_of,
)
from adapters.discord.transport import DiscordTransport
from bot.app import PeerBot
from bot.config import DiscordSettings
from bot.errors import ConfigError
from bot.events import IncomingFile, MemberJoined, Place, Sender
from bot.replies import Message, Outgoing, Respond

log = logging.getLogger(__name__)

CATCH_UP_LIMIT = 1000  # messages per channel read back on one reconnect
PEOPLE_REFRESH = 60.0  # seconds between two reads of who is in the private groups
# DM conversations read back after a fresh IDENTIFY: the most recently active, within a month.
DM_CATCH_UP_RECENT = timedelta(days=30)
DM_CATCH_UP_MOST = 100
STRANGER_QUIET = 600.0  # seconds between two "you're not in the server" answers to one person
EPHEMERAL_EDITABLE = 14 * 60.0  # an interaction token lasts 15 minutes


def intents() -> discord.Intents:
    """What peerbot asks the gateway for. Message Content and Server Members are privileged."""
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.guild_messages = True
    wanted.dm_messages = True
    wanted.message_content = True  # to read questions posted in the groups' channels
    wanted.members = True  # to see people join, and to know who is in the server
    return wanted


@dataclass(frozen=True)
class CatchUp:
    """Read a channel's (or thread's) history: since its cursor at connection, or (``after``)
    since a given message id."""

    channel_id: int
    parent_id: int | None = None
    dm: bool = False
    after: int | None = None


@dataclass
class Passed:
    """Chatter in one channel or thread that the core does not want (see
    :meth:`bot.dispatch.dispatcher.Dispatcher.wants`): nothing to handle, only the channel's
    cursor to move past it, once what was queued before it there has been handled. Chatter
    that follows it before anything else in that channel joins it (the newest id wins), so a
    flood of chatter takes one place in a queue, not one each."""

    channel_id: int
    message_id: int
    count: int = 1


@dataclass(frozen=True)
class Joined:
    member_id: int
    name: str
    channel_ids: tuple[int, ...]
    fallback_channel: int
    stamp: str


class PeerbotClient(discord.Client):
    def __init__(self, adapter: DiscordAdapter, **options: Any) -> None:
        super().__init__(**options)
        self.adapter = adapter
        self.tree: app_commands.CommandTree[PeerbotClient] = app_commands.CommandTree(self)

    async def setup_hook(self) -> None:
        await self.adapter.setup()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        if not initial:
            await asyncio.sleep(self.adapter.identify_delay)

    async def on_connect(self) -> None:
        self.adapter.on_connect()

    async def on_ready(self) -> None:
        await self.adapter.on_ready()

    async def on_resumed(self) -> None:
        log.info("Discord session resumed; missed events are replayed by Discord")

    async def on_message(self, message: discord.Message) -> None:
        self.adapter.on_message(message)

    async def on_member_join(self, member: discord.Member) -> None:
        self.adapter.on_member_join(member)

    async def on_member_update(self, before: discord.Member, after: discord.Member) -> None:
        self.adapter.on_member_update(before, after)

    # Who can read which channel may have changed: the private channels are judged again.
    async def on_member_remove(self, member: discord.Member) -> None:
        self.adapter.access_changed()

    async def on_guild_role_create(self, role: discord.Role) -> None:
        self.adapter.access_changed()

    async def on_guild_role_update(self, before: discord.Role, after: discord.Role) -> None:
        self.adapter.access_changed()

    async def on_guild_role_delete(self, role: discord.Role) -> None:
        self.adapter.access_changed()

    async def on_guild_channel_create(self, channel: discord.abc.GuildChannel) -> None:
        self.adapter.access_changed()

    async def on_guild_channel_update(self, before: discord.abc.GuildChannel, after: discord.abc.GuildChannel) -> None:
        self.adapter.access_changed()

    async def on_guild_channel_delete(self, channel: discord.abc.GuildChannel) -> None:
        self.adapter.access_changed()

    async def on_guild_update(self, before: discord.Guild, after: discord.Guild) -> None:
        self.adapter.access_changed()

    async def on_peerbot_button(self, interaction: discord.Interaction[Any], action: str, value: str) -> None:
        await self.adapter.on_button(interaction, action, value)


class DiscordAdapter:
    platform = "discord"

    def __init__(
        self,
        bot: PeerBot,
        *,
        token: str | None = None,
        guild_ready_timeout: float = 2.0,
        ack_deadline: float = 2.0,
        identify_delay: float = 5.0,
        workers: int = 4,
        queue_capacity: int = QUEUE_CAPACITY,
        flush_interval: float = 2.0,
        flush_timeout: float = 5.0,
    ) -> None:
        settings = bot.config.settings.discord
        if not settings.guild_id:
            raise ConfigError(
                "discord.guild_id is not set: in Discord, turn on Developer Mode (User Settings › Advanced), "
                "right-click your server and Copy Server ID"
            )
        # discord.py logs whole payloads (message text included) at DEBUG: never let it.
        logging.getLogger("discord").setLevel(max(logging.INFO, logging.getLogger().getEffectiveLevel()))
        self.bot = bot
        self.settings: DiscordSettings = settings
        self.guild_id = int(settings.guild_id)
        self.token = token or bot.config.secret("discord.token_env", settings.token_env)
        self.channel_groups: dict[int, str] = {
            int(cid): group for cid, group in bot.config.channel_groups("discord").items()
        }
        self.private_groups = set(settings.private_groups)
        self.file_limit = DEFAULT_FILE_LIMIT
        self.incoming_limit = min(bot.config.settings.knowledge.max_file_bytes, 25 * 1024 * 1024)
        self.ack_deadline = ack_deadline
        self.identify_delay = identify_delay
        self.flush_interval = flush_interval
        self.flush_timeout = flush_timeout
        self.ready = asyncio.Event()
        self.client = PeerbotClient(
            self,
            intents=intents(),
            guild_ready_timeout=guild_ready_timeout,
            allowed_mentions=discord.AllowedMentions.none(),
            max_ratelimit_timeout=30.0,
            chunk_guilds_at_startup=True,
        )
        self.poster = Poster(self)
        self.transport = DiscordTransport(self)
        self.calendar = ScheduledEvents(self)
        self.responder = Responder(self)
        self.commands = SlashCommands(self, self.client.tree)
        self.cursors = Cursors(bot.db, bot.network_id)
        self.intake = Intake(self._process, workers=workers, capacity=queue_capacity)
        self.dispatches = 0  # MESSAGE_CREATEs seen (for benchmarks)
        self.received = 0  # ... of which for the core
        self.overflowed = 0  # ... of which left to be read from history (the queue was full)
        self.core_handled = 0  # messages handed to the core (live or from history)
        self.passed_over = 0  # live chatter the core did not want, its channel's cursor moved past it
        # Per channel (cursor key): the chatter queued last there, while nothing else follows it.
        self._passing: dict[int, Passed] = {}
        # Channels (cursor keys) whose new messages are left to a history read already due.
        self._overflowing: set[int] = set()
        self.readies = 0  # how many times on_ready has run
        self._ready_lock = asyncio.Lock()
        self._strangers: dict[int, float] = {}
        self._members_checked: dict[int, float] = {}
        self._background: list[asyncio.Task[None]] = []
        # Ephemeral messages can only be edited through an interaction's token (15 minutes).
        self._ephemeral: dict[int, tuple[discord.Interaction[Any], float]] = {}
        self._me_id = 0
        self._catch_up_from: dict[int, int] = {}
        # The private groups' members (Discord ids, from the people table), and which of
        # their channels someone outside the group can read (None: judged again when asked).
        self._group_ids: dict[str, frozenset[int]] = {}
        self._exposure: dict[int, str | None] = {}
        bot.deliverer.register(self.transport)

    # -- running ---------------------------------------------------------------------------
    async def run(self) -> None:
        await self.cursors.load()
        self._overflowing.clear()
        self._passing.clear()
        self.intake.start()
        self._background.append(asyncio.create_task(self.cursors.run_flusher(self.flush_interval)))
        self._background.append(asyncio.create_task(self._keep_people_fresh()))
        try:
            async with self.client:
                await self.client.start(self.token)
        except discord.LoginFailure:
            raise ConfigError(
                f"Discord refused the token in {self.settings.token_env}: copy it again from the Developer Portal "
                "(your application › Bot › Reset Token)"
            ) from None
        except discord.PrivilegedIntentsRequired:
            raise ConfigError(
                "Discord refused the connection: turn on the Server Members and Message Content intents "
                "(Developer Portal › your application › Bot › Privileged Gateway Intents)"
            ) from None
        finally:
            await self._shutdown()

    async def stop(self) -> None:
        """Finish the message in hand (catch-up stops between messages), save the cursors
        (bounded: losing them only means reading some history again, which the core
        dedupes), then close the connection."""
        await self.intake.stop()
        self._passing.clear()  # dropped with the queues
        await self._stop_background()
        await self._final_flush()
        await self.client.close()

    async def _shutdown(self) -> None:
        await self._stop_background()
        await self.intake.stop()
        self._passing.clear()  # dropped with the queues
        await self._final_flush()
        self.ready.clear()

    async def _stop_background(self) -> None:
        for task in self._background:
            task.cancel()
        for task in self._background:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._background.clear()

    async def _final_flush(self) -> None:
        try:
            await asyncio.wait_for(self.cursors.flush(), self.flush_timeout)
        except TimeoutError:
            log.warning("could not save the Discord channel cursors in time: some history will be read again")
        except Exception:
            log.exception("could not save the Discord channel cursors: some history will be read again")

    async def setup(self) -> None:
        """Once per client start (discord.py's ``setup_hook``)."""
        self.client.add_dynamic_items(PeerbotButton)
        if not self.commands.names:
            self.commands.build(self.on_command)

    def on_connect(self) -> None:
        """A new gateway session (READY): remember where each channel's catch-up starts,
        before any message of the new session moves the cursors on."""
        self._catch_up_from = dict(self.cursors.values)

    async def on_ready(self) -> None:
        """After every IDENTIFY. Idempotent: sync commands if they differ, catch up."""
        me = self.client.user
        self._me_id = me.id if me else 0
        guild = self.client.get_guild(self.guild_id)
        if guild is None:
            log.error(
                "peerbot is not in the Discord server %s named in discord.guild_id: invite it "
                "(`peerbot discord check` prints the invite link)",
                self.guild_id,
            )
            return
        async with self._ready_lock:
            if not guild.chunked:  # the privacy guard needs every member
                await guild.chunk()
            await self.refresh_people()
            if not self.commands.synced:
                try:
                    await self.commands.sync(guild)
                except discord.HTTPException as exc:
                    log.error("could not register /peerbot in the server (HTTP %s, error %s)", exc.status, exc.code)
            for cid, group in self.channel_groups.items():
                if self.exposed_group(cid):
                    log.warning(
                        "the %s channel (%s) can be read by people outside the %s group: peerbot will not post "
                        "there until it is private to the group (`peerbot discord check` names them)",
                        group,
                        cid,
                        group,
                    )
                elif guild.get_channel(cid) is None:
                    log.warning("the %s channel (%s) is not in the server, or peerbot cannot see it", group, cid)
            self.file_limit = guild.filesize_limit
            self.readies += 1
            self.ready.set()
            self._schedule_catch_up(guild)

    def _schedule_catch_up(self, guild: discord.Guild) -> None:
        for cid in self.channel_groups:
            if guild.get_channel(cid) is not None:
                self.intake.submit_or_defer(cid, ("catch-up", cid), CatchUp(cid))
        for thread in guild.threads:
            if thread.parent_id in self.channel_groups:
                self.intake.submit_or_defer(
                    thread.parent_id, ("catch-up", thread.id), CatchUp(thread.id, thread.parent_id)
                )
        # Conversations people have had with peerbot lately (one history request each).
        since = discord.utils.time_snowflake(discord.utils.utcnow() - DM_CATCH_UP_RECENT)
        recent = sorted((self.cursors.values[dm], dm) for dm in self.cursors.dms if self.cursors.values[dm] > since)
        for _, dm in recent[-DM_CATCH_UP_MOST:]:
            self.intake.submit_or_defer(dm, ("catch-up", dm), CatchUp(dm, dm=True))

    # -- who and what is served -----------------------------------------------------------------
    def exposed_group(self, channel_id: int) -> str | None:
        """The private group whose channel someone outside the group can read, if this is one.

        Judged over every member of the server (the member cache is complete: the members
        intent, chunked at start-up) and remembered until a member, role, channel or the
        people file changes.
        """
        group = self.channel_groups.get(channel_id)
        if group is None or group not in self.private_groups:
            return None
        if channel_id in self._exposure:
            return self._exposure[channel_id]
        guild = self.client.get_guild(self.guild_id)
        channel = guild.get_channel(channel_id) if guild else None
        if guild is None or channel is None:
            return None  # not known yet: nothing can be posted there either
        readers = outside_readers(channel, guild.members, self._group_ids.get(group, frozenset()))
        self._exposure[channel_id] = group if readers else None
        return self._exposure[channel_id]

    def access_changed(self) -> None:
        self._exposure.clear()

    async def refresh_people(self) -> None:
        """Read again who is in each private group (the people file may have been imported)."""
        groups = [g for g in self.private_groups if g in self.channel_groups.values()]
        async with self.bot.db.session() as session:
            found = await group_discord_ids(session, self.bot.config, self.bot.network_id, groups)
        if found != self._group_ids:
            self._group_ids = found
            self.access_changed()

    async def _keep_people_fresh(self) -> None:
        while True:
            await asyncio.sleep(PEOPLE_REFRESH)
            try:
                await self.refresh_people()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not read who is in the private groups; will try again")

    def can_see(self, user_id: int, channel_id: int) -> bool:
        """Can this member of the server read this channel (and so its public threads)?"""
        guild = self.client.get_guild(self.guild_id)
        channel = guild.get_channel(channel_id) if guild else None
        member = guild.get_member(user_id) if guild else None
        return channel is not None and member is not None and channel.permissions_for(member).view_channel

    def route_of(self, channel: Any) -> int | None:
        """The group channel a guild channel or thread belongs to (None: not watched)."""
        cid = getattr(channel, "id", None)
        if cid in self.channel_groups:
            return int(cid)
        parent = getattr(channel, "parent_id", None)
        if parent in self.channel_groups:
            return int(parent)
        return None

    def wants(self, message: discord.Message) -> int | None:
        """The worker queue this message goes to, or ``None`` when it is not for the core.

        Cheap: it runs for every message the server sends.
        """
        author = message.author
        if author.bot or message.webhook_id is not None or message.type not in HANDLED_TYPES:
            return None
        channel = message.channel
        if is_dm(channel):
            return channel.id  # membership of the guild is checked by the worker
        guild = message.guild
        if guild is None or guild.id != self.guild_id:
            return None  # another server (or one peerbot does not know)
        route = self.route_of(channel)
        if route is not None:
            return route
        if self._me_id in message.raw_mentions or (
            guild.self_role is not None and guild.self_role.id in message.raw_role_mentions
        ):
            return channel.id
        return None

    async def is_member(self, user_id: int) -> bool:
        guild = self.client.get_guild(self.guild_id)
        if guild is None:
            return False
        if guild.get_member(user_id) is not None:
            return True
        checked = self._members_checked.get(user_id)
        if checked is not None and time.monotonic() - checked < STRANGER_QUIET:
            return False
        try:
            await guild.fetch_member(user_id)
        except discord.NotFound:
            self._members_checked[user_id] = time.monotonic()
            return False
        return True

    async def _refuse_stranger(self, user: discord.abc.User, channel: discord.abc.Messageable) -> None:
        last = self._strangers.get(user.id)
        if last is not None and time.monotonic() - last < STRANGER_QUIET:
            return
        self._strangers[user.id] = time.monotonic()
        text = (
            f"Hello! I'm peerbot, the assistant for the {self.bot.config.network_name} network. "
            "I only help members of the network's Discord server."
        )
        with contextlib.suppress(discord.HTTPException):
            await channel.send(text)

    # -- gateway events in ------------------------------------------------------------------------
    def on_message(self, message: discord.Message) -> None:
        self.dispatches += 1
        route = self.wants(message)
        if route is None:
            return
        self.received += 1
        channel = message.channel
        if channel.id in self._overflowing:  # a history read from an earlier message will see it
            self.overflowed += 1
            return
        item: discord.Message | Passed = message
        if not is_dm(channel) and not self._core_wants(message):
            # Chatter: the core would drop it; only the cursor has to move past it, in order.
            tail = self._passing.get(channel.id)
            if tail is not None:
                tail.message_id, tail.count = max(tail.message_id, message.id), tail.count + 1
                return
            item = Passed(channel.id, message.id)
        if self.intake.submit(route, item):
            if isinstance(item, Passed):
                self._passing[channel.id] = item
            else:
                self._passing.pop(channel.id, None)  # later chatter must wait behind this message
            return
        # More than the workers can take: leave this channel's new messages to its history,
        # read from this one on once the queue has room (what is queued before goes first).
        self.overflowed += 1
        self._passing.pop(channel.id, None)
        self._overflowing.add(channel.id)
        catch_up = CatchUp(channel.id, getattr(channel, "parent_id", None), is_dm(channel), after=message.id - 1)
        self.intake.defer(route, ("overflow", channel.id), catch_up)
        log.warning("more messages than peerbot can handle at once: channel %s is read from its history", channel.id)

    def _core_wants(self, message: discord.Message) -> bool:
        try:
            return self.bot.dispatcher.wants(message_event(message, self._me_id))
        except Exception:  # the core's tests failed: let the core handle it (and answer) as usual
            log.exception("could not tell whether a Discord message is chatter")
            return True

    def on_member_join(self, member: discord.Member) -> None:
        if member.guild.id != self.guild_id:
            return
        self.access_changed()
        if member.bot:
            return
        visible = self._visible_group_channels(member)
        system = member.guild.system_channel
        stamp = str(int(member.joined_at.timestamp())) if member.joined_at else "0"
        joined = Joined(member.id, member.display_name, visible, system.id if system else member.guild.id, stamp)
        self.intake.submit_or_defer(visible[0] if visible else member.id, ("join", joined), joined)

    def on_member_update(self, before: discord.Member, after: discord.Member) -> None:
        if after.guild.id != self.guild_id or before.roles == after.roles:
            return
        self.access_changed()
        if after.bot:
            return
        was = set(self._visible_group_channels(before))
        now = self._visible_group_channels(after)
        new = tuple(c for c in now if c not in was)
        if new:
            stamp = f"roles{int(time.time())}"
            joined = Joined(after.id, after.display_name, new, 0, stamp)
            self.intake.submit_or_defer(new[0], ("join", joined), joined)

    def _visible_group_channels(self, member: discord.Member) -> tuple[int, ...]:
        found = []
        for cid in self.channel_groups:
            channel = member.guild.get_channel(cid)
            if channel is not None and channel.permissions_for(member).view_channel:
                found.append(cid)
        return tuple(found)

    # -- the workers ------------------------------------------------------------------------------
    async def _process(self, item: Any) -> None:
        if isinstance(item, discord.Message):
            await self._handle_message(item)
        elif isinstance(item, Passed):
            if self._passing.get(item.channel_id) is item:
                del self._passing[item.channel_id]  # what comes next in the channel starts anew
            self.cursors.advance(item.channel_id, item.message_id)
            self.passed_over += item.count
        elif isinstance(item, CatchUp):
            await self._catch_up(item)
        elif isinstance(item, Joined):
            await self._handle_join(item)

    async def _handle_message(self, message: discord.Message) -> None:
        direct = is_dm(message.channel)
        if direct and not await self.is_member(message.author.id):
            await self._refuse_stranger(message.author, message.channel)
            return
        event = message_event(message, self._me_id)
        extra: list[Outgoing] = []
        # Not for a stranger or a repeat (a message read again after a restart): the core
        # answers those whatever was shared.
        if message.attachments and (event.place.is_direct or event.mentions_bot) and await self.bot.takes_files(event):
            got = await download(message.attachments, limit=self.incoming_limit)
            event = message_event(message, self._me_id, got.files)
            if got.refused:
                extra.append(_refused_note(got.refused, self.incoming_limit))
        handled = await self.bot.handle_keeping(event)
        self.core_handled += 1
        # Read again after a restart: the replies kept then may have gone before it, so
        # each is looked for in the conversation since the message first (see Poster.post).
        since = message.created_at if handled.again else None
        await self.responder.to_message(message, event, [*extra, *handled.replies], since=since)
        if handled.replies and event.event_id:
            self.cursors.replied(event.event_id)  # let go of the kept replies with the cursor's save
        self.cursors.advance(message.channel.id, message.id, dm=direct)

    async def _catch_up(self, item: CatchUp) -> None:
        if item.after is not None:
            self._overflowing.discard(item.channel_id)  # live messages queue again, behind this read
            after = item.after
        else:
            start = self._catch_up_from
            cursor = start.get(item.channel_id)
            if cursor is None and item.parent_id is not None:
                cursor = start.get(item.parent_id)
            now = discord.utils.utcnow()
            if cursor is None:
                # First time this channel is watched: start from now, not from its whole history.
                if item.parent_id is None and not item.dm:
                    self.cursors.advance(item.channel_id, discord.utils.time_snowflake(now))
                return
            after = max(cursor, discord.utils.time_snowflake(now - self.settings.catch_up))
        channel: Any = self.client.get_channel(item.channel_id)
        if channel is None and item.dm:
            channel = self.client.get_partial_messageable(item.channel_id, type=discord.ChannelType.private)
        if not isinstance(channel, discord.abc.Messageable):
            return
        handled = read = last = 0
        try:
            async for message in channel.history(after=discord.Object(after), oldest_first=True, limit=CATCH_UP_LIMIT):
                if self.intake.closing:  # shutting down: the rest is read again next time
                    log.info("stopped catching up on channel %s to shut down", item.channel_id)
                    return
                read, last = read + 1, message.id
                if self.wants(message) is not None:
                    await self._handle_message(message)
                    handled += 1
        except discord.HTTPException as exc:
            log.warning("could not read channel %s's history to catch up (HTTP %s)", item.channel_id, exc.status)
            return
        if handled:
            log.info("caught up on %d message(s) in channel %s", handled, item.channel_id)
        if read >= CATCH_UP_LIMIT:  # there may be more: read on from the last one, after what is queued
            more = CatchUp(item.channel_id, item.parent_id, item.dm, after=last)
            self.intake.submit_or_defer(item.parent_id or item.channel_id, ("more", item.channel_id), more)

    async def _handle_join(self, joined: Joined) -> None:
        places = joined.channel_ids or (joined.fallback_channel,)
        for cid in places:
            event = MemberJoined(
                sender=Sender(platform="discord", user_id=str(joined.member_id), display_name=joined.name),
                place=Place(platform="discord", channel_id=str(cid)),
                event_id=f"join:{joined.member_id}:{cid}:{joined.stamp}",
            )
            replies = await self.bot.handle(event)
            await self.responder.to_event(event, replies, cid if cid in self.channel_groups else None)

    # -- interactions ---------------------------------------------------------------------------
    async def _interaction_allowed(self, interaction: discord.Interaction[Any]) -> bool:
        if interaction.guild_id is not None and interaction.guild_id != self.guild_id:
            await interaction.response.send_message(
                f"peerbot only works in the {self.bot.config.network_name} network's own server.", ephemeral=True
            )
            return False
        if interaction.guild_id is None and not await self.is_member(interaction.user.id):
            await interaction.response.send_message(
                f"peerbot only helps members of the {self.bot.config.network_name} network's Discord server.",
                ephemeral=True,
            )
            return False
        return True

    async def on_command(
        self, interaction: discord.Interaction[Any], name: str, text: str, attachment: discord.Attachment | None
    ) -> None:
        started = time.monotonic()
        if not await self._interaction_allowed(interaction):
            return
        extra: list[Outgoing] = []
        files: tuple[IncomingFile, ...] = ()
        if attachment is not None:
            # Downloading can take a while: acknowledge first.
            await interaction.response.defer(ephemeral=True, thinking=True)
            got = await download([attachment], limit=self.incoming_limit)
            files = got.files
            if got.refused:
                extra.append(_refused_note(got.refused, self.incoming_limit))
        event = command_event(interaction, name, text, files)
        if interaction.response.is_done():
            replies = await self.bot.handle(event)
            await self.responder.to_interaction(interaction, event, [*extra, *replies], deferred=True)
        else:
            await self.responder.answer(interaction, event, started=started)

    async def on_button(self, interaction: discord.Interaction[Any], action: str, value: str) -> None:
        started = time.monotonic()
        if not await self._interaction_allowed(interaction):
            return
        message = interaction.message
        if message is not None and message.flags.ephemeral:
            self._remember_ephemeral(message.id, interaction)
        event = button_event(interaction, action, value)
        await self.responder.answer(interaction, event, started=started)

    def _remember_ephemeral(self, message_id: int, interaction: discord.Interaction[Any]) -> None:
        now = time.monotonic()
        for mid, (_, at) in list(self._ephemeral.items()):
            if now - at > EPHEMERAL_EDITABLE:
                del self._ephemeral[mid]
        self._ephemeral[message_id] = (interaction, now)

    def ephemeral_editor(self, message_id: int) -> discord.Interaction[Any] | None:
        """The interaction through which an ephemeral message can still be edited."""
        found = self._ephemeral.get(message_id)
        if found is None or time.monotonic() - found[1] > EPHEMERAL_EDITABLE:
            return None
        return found[0]


def is_dm(channel: Any) -> bool:
    return isinstance(channel, discord.DMChannel) or getattr(channel, "type", None) is discord.ChannelType.private


def _refused_note(names: tuple[str, ...], limit: int) -> Outgoing:
    listed = ", ".join(names[:5]) + (" and more" if len(names) > 5 else "")
    text = (
        f"I couldn't take {listed}: files can be up to {limit / 1_048_576:.0f} MB, "
        "and up to 10 at a time. Nothing from those files was kept."
    )
    return Outgoing(Respond(private=True), Message(text=text))


__all__ = ["DiscordAdapter", "PeerbotClient", "intents", "place_of", "render"]
