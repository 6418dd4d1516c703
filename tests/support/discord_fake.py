"""A local fake of Discord: the gateway and the REST endpoints peerbot uses.

It speaks the real protocol to an unmodified discord.py client pointed at it (see
:func:`point_discord_py_at`): HELLO, IDENTIFY, READY, GUILD_CREATE, heartbeats and their
ACKs, RECONNECT (op 7), RESUME/RESUMED with the missed events replayed in order,
INVALID_SESSION, member chunk requests, and MESSAGE_CREATE / INTERACTION_CREATE /
GUILD_MEMBER_ADD dispatches; zlib-stream compression when the client asks for it. REST
covers messages (JSON and multipart, ``nonce`` + ``enforce_nonce``), threads, DMs,
interaction callbacks (``?with_response=1``) and follow-ups, application commands, the
member list and guild scheduled events.

Every REST call is recorded (:attr:`FakeDiscord.calls`). Every answer carries Discord's
``X-RateLimit-*`` headers (limit, remaining, reset, reset-after, bucket) for its route's
bucket, and a client that sends more than they allow gets a 429 (with ``Via`` and a JSON
``retry_after``, as Discord does); 429s and other errors can also be ordered on demand.
It listens on 127.0.0.1 on an ephemeral port. Run it as a separate process for
benchmarks: ``python -m tests.support.discord_fake`` prints its port and serves a small
control API under ``/_fake``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import itertools
import json
import re
import sys
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

DISCORD_EPOCH_MS = 1420070400000
API = "/api/v10"

# Permission bits (https://discord.com/developers/docs/topics/permissions)
ADMINISTRATOR = 1 << 3
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
CREATE_PUBLIC_THREADS = 1 << 35
SEND_MESSAGES_IN_THREADS = 1 << 38
CREATE_EVENTS = 1 << 44
EVERYONE_DEFAULT = VIEW_CHANNEL | SEND_MESSAGES | READ_MESSAGE_HISTORY | SEND_MESSAGES_IN_THREADS

# Application flags: the privileged intents switched on in the developer portal.
FLAG_GATEWAY_GUILD_MEMBERS = 1 << 14
FLAG_GATEWAY_MESSAGE_CONTENT = 1 << 18
ALL_INTENT_FLAGS = FLAG_GATEWAY_GUILD_MEMBERS | FLAG_GATEWAY_MESSAGE_CONTENT

INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_PRESENCES = 1 << 8
INTENT_MESSAGE_CONTENT = 1 << 15


def iso(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).isoformat()


class Snowflakes:
    """Time-ordered ids, as Discord makes them."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> str:
        value = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        value = max(value, self._last + 1)
        self._last = value
        return str(value)

    def at(self, moment: datetime) -> str:
        """An id from the past (a message posted back then)."""
        self._counter = getattr(self, "_counter", 0) + 1
        return str(((int(moment.timestamp() * 1000) - DISCORD_EPOCH_MS) << 22) | (self._counter & 0xFFF))


def snowflake_time(snowflake: str | int) -> datetime:
    ms = (int(snowflake) >> 22) + DISCORD_EPOCH_MS
    return datetime.fromtimestamp(ms / 1000, UTC)


@dataclass
class Call:
    method: str
    path: str  # without the /api/v10 prefix
    query: dict[str, str]
    body: Any
    files: list[tuple[str, bytes]]
    at: float
    status: int = 200


@dataclass
class Rule:
    """Answer matching requests with an error, ``times`` times."""

    method: str
    pattern: re.Pattern[str]
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    times: int


@dataclass
class Bucket:
    """A REST rate limit bucket, as Discord keeps one per route and major parameter."""

    limit: int
    per: float  # seconds the window lasts
    used: int = 0
    window_start: float = 0.0

    def take(self, now: float) -> float | None:
        """Count a request; the seconds to wait instead when the bucket is empty."""
        if now - self.window_start >= self.per:
            self.window_start, self.used = now, 0
        if self.used >= self.limit:
            return self.per - (now - self.window_start)
        self.used += 1
        return None

    def headers(self, name: str, now: float) -> dict[str, str]:
        reset_after = max(0.0, self.per - (now - self.window_start))
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(0, self.limit - self.used)),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": name,
        }


@dataclass
class Session:
    session_id: str
    intents: int
    seq: int = 0
    backlog: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    socket: Connection | None = None
    invalid: bool = False


class Connection:
    """One gateway WebSocket."""

    def __init__(self, ws: web.WebSocketResponse, compress: bool) -> None:
        self.ws = ws
        self.compressor = zlib.compressobj() if compress else None
        self.session: Session | None = None
        self.lock = asyncio.Lock()

    async def send(self, payload: dict[str, Any] | str) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        async with self.lock:
            if self.ws.closed:
                return
            with contextlib.suppress(ConnectionError, RuntimeError):
                if self.compressor is not None:
                    data = self.compressor.compress(text.encode()) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
                    await self.ws.send_bytes(data)
                else:
                    await self.ws.send_str(text)


class FakeDiscord:
    """One application (the bot) and one guild, with users, channels and history."""

    def __init__(
        self,
        *,
        token: str = "fake-token",  # noqa: S107
        app_flags: int = ALL_INTENT_FLAGS,
        heartbeat_interval_ms: int = 41250,
        bot_permissions: int = VIEW_CHANNEL
        | SEND_MESSAGES
        | EMBED_LINKS
        | ATTACH_FILES
        | READ_MESSAGE_HISTORY
        | CREATE_PUBLIC_THREADS
        | SEND_MESSAGES_IN_THREADS
        | CREATE_EVENTS,
        guild_name: str = "Riverside Heads",
    ) -> None:
        self.token = token
        self.app_flags = app_flags
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.interaction_ttl = 3.0  # seconds to answer an interaction, as on Discord
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # "now" for scheduled events
        self.ids = Snowflakes()
        self.app_id = self.ids.next()
        self.bot_user = self._user_payload(self.app_id, "peerbot", bot=True)
        self.users: dict[str, dict[str, Any]] = {self.app_id: self.bot_user}
        self.dms_closed: set[str] = set()
        self.guild_id = self.ids.next()
        self.guild_name = guild_name
        self.owner_id = self.ids.next()
        self.roles: dict[str, dict[str, Any]] = {}
        self._add_role(self.guild_id, "@everyone", EVERYONE_DEFAULT)
        self.bot_role = self.add_role("peerbot", bot_permissions)
        self.members: dict[str, dict[str, Any]] = {}
        self.members[self.app_id] = self._member_payload(self.app_id, [self.bot_role])
        self.channels: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.attachments: dict[str, bytes] = {}
        self.commands: list[dict[str, Any]] = []
        self.scheduled_events: dict[str, dict[str, Any]] = {}
        self.interactions: dict[str, dict[str, Any]] = {}  # token -> state
        self.interaction_by_id: dict[str, dict[str, Any]] = {}
        self.nonces: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: list[Call] = []
        self.rules: list[Rule] = []
        # Rate limit buckets: every REST answer carries X-RateLimit-* headers, and a client
        # that ignores them gets a 429. (limit, per) by default, or per matching route.
        self.bucket_default: tuple[int, float] = (50, 1.0)
        self.bucket_rules: list[tuple[str, re.Pattern[str], int, float]] = []
        self.buckets: dict[str, Bucket] = {}
        self.sessions: dict[str, Session] = {}
        self.connections: list[Connection] = []
        self.identifies = 0
        self.resumes = 0
        self.heartbeats = 0
        self.closed_with: list[int] = []
        self._session_ids = itertools.count(1)
        self._tokens = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.changed = asyncio.Event()

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self, port: int = 0) -> FakeDiscord:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/attachments/{rest:.*}", self._attachment)
        app.router.add_route("*", "/_fake/{what}", self._control)
        app.router.add_route("*", API + "/{path:.*}", self._rest)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        for conn in list(self.connections):
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return self.base_url + API

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    # -- building the world ----------------------------------------------------------------
    def _user_payload(self, uid: str, name: str, *, bot: bool = False) -> dict[str, Any]:
        return {
            "id": uid,
            "username": name.lower().replace(" ", "."),
            "global_name": name,
            "discriminator": "0",
            "avatar": None,
            "bot": bot,
            "public_flags": 0,
        }

    def _member_payload(self, uid: str, roles: Iterable[str]) -> dict[str, Any]:
        return {
            "user": self.users[uid],
            "nick": None,
            "avatar": None,
            "roles": list(roles),
            "joined_at": iso(),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }

    def _add_role(self, rid: str, name: str, permissions: int) -> str:
        self.roles[rid] = {
            "id": rid,
            "name": name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": len(self.roles),
            "permissions": str(permissions),
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }
        return rid

    def add_role(self, name: str, permissions: int = 0) -> str:
        return self._add_role(self.ids.next(), name, permissions)

    def add_user(
        self,
        name: str,
        *,
        member: bool = True,
        roles: Iterable[str] = (),
        dms_open: bool = True,
        uid: str | None = None,
        bot: bool = False,
    ) -> str:
        uid = uid or self.ids.next()
        self.users[uid] = self._user_payload(uid, name, bot=bot)
        if member:
            self.members[uid] = self._member_payload(uid, roles)
        if not dms_open:
            self.dms_closed.add(uid)
        return uid

    def add_text_channel(self, name: str, *, visible_to: Iterable[str] | None = None) -> str:
        """A text channel; ``visible_to`` (role ids) makes it private to those roles."""
        cid = self.ids.next()
        overwrites: list[dict[str, Any]] = []
        if visible_to is not None:
            overwrites.append({"id": self.guild_id, "type": 0, "allow": "0", "deny": str(VIEW_CHANNEL)})
            for rid in [*visible_to, self.bot_role]:
                overwrites.append({"id": rid, "type": 0, "allow": str(VIEW_CHANNEL), "deny": "0"})
        self.channels[cid] = {
            "id": cid,
            "type": 0,
            "guild_id": self.guild_id,
            "name": name,
            "position": len(self.channels),
            "permission_overwrites": overwrites,
            "parent_id": None,
            "topic": None,
            "nsfw": False,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }
        self.messages[cid] = []
        return cid

    def guild_payload(self, *, full: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.guild_id,
            "name": self.guild_name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": self.owner_id,
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 1,
            "default_message_notifications": 1,
            "explicit_content_filter": 2,
            "roles": list(self.roles.values()),
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-GB",
            "public_updates_channel_id": None,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "max_members": 500000,
            "incidents_data": None,
        }
        if full:
            data.update(
                {
                    "joined_at": iso(),
                    "large": False,
                    "unavailable": False,
                    "member_count": len(self.members),
                    # Without the presences intent Discord lists only the bot itself.
                    "members": [self.members[self.app_id]],
                    "channels": [c for c in self.channels.values() if c["type"] == 0],
                    "threads": [c for c in self.channels.values() if c["type"] == 11],
                    "presences": [],
                    "voice_states": [],
                    "stage_instances": [],
                    "guild_scheduled_events": list(self.scheduled_events.values()),
                    "soundboard_sounds": [],
                }
            )
        return data

    # -- what users do ---------------------------------------------------------------------
    def _message_payload(
        self,
        channel_id: str,
        author_id: str,
        content: str,
        *,
        mentions: Iterable[str] = (),
        attachments: Iterable[tuple[str, bytes, str]] = (),
        components: list[dict[str, Any]] | None = None,
        embeds: list[dict[str, Any]] | None = None,
        nonce: str | None = None,
        reference: dict[str, Any] | None = None,
        flags: int = 0,
        mid: str | None = None,
    ) -> dict[str, Any]:
        mid = mid or self.ids.next()
        channel = self.channels[channel_id]
        atts = []
        for name, data, content_type in attachments:
            aid = self.ids.next()
            self.attachments[aid] = data
            atts.append(
                {
                    "id": aid,
                    "filename": name,
                    "size": len(data),
                    "url": f"{self.base_url}/attachments/{channel_id}/{aid}/{name}",
                    "proxy_url": f"{self.base_url}/attachments/{channel_id}/{aid}/{name}",
                    "content_type": content_type,
                }
            )
        message: dict[str, Any] = {
            "id": mid,
            "channel_id": channel_id,
            "author": self.users[author_id],
            "content": content,
            "timestamp": iso(snowflake_time(mid)),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [self.users[u] for u in mentions],
            "mention_roles": [],
            "attachments": atts,
            "embeds": embeds or [],
            "pinned": False,
            "type": 0 if reference is None else 19,
            "flags": flags,
            "components": components or [],
        }
        if nonce is not None:
            message["nonce"] = nonce
        if reference is not None:
            message["message_reference"] = reference
        if channel.get("guild_id"):
            message["guild_id"] = channel["guild_id"]
        if channel["type"] == 11:
            message["position"] = channel.get("total_message_sent", 0)
            channel["message_count"] = channel.get("message_count", 0) + 1
            channel["total_message_sent"] = channel.get("total_message_sent", 0) + 1
        channel["last_message_id"] = mid
        return message

    def _gateway_message(self, message: dict[str, Any]) -> dict[str, Any]:
        data = dict(message)
        channel = self.channels[message["channel_id"]]
        author = message["author"]["id"]
        if channel.get("guild_id") and author in self.members:
            member = {k: v for k, v in self.members[author].items() if k != "user"}
            data["member"] = member
        return data

    def post(
        self,
        channel_id: str,
        author_id: str,
        content: str,
        *,
        mentions: Iterable[str] = (),
        attachments: Iterable[tuple[str, bytes, str]] = (),
        dispatch: bool = True,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        """A user posts a message (in a channel, a thread or a DM channel); ``at`` backdates it."""
        mid = self.ids.at(at) if at is not None else None
        message = self._message_payload(
            channel_id, author_id, content, mentions=mentions, attachments=attachments, mid=mid
        )
        self.messages[channel_id].append(message)
        if dispatch:
            self.dispatch("MESSAGE_CREATE", self._gateway_message(message))
        return message

    def mention(self) -> str:
        return f"<@{self.app_id}>"

    def dm_channel(self, user_id: str) -> str:
        for cid, channel in self.channels.items():
            if channel["type"] == 1 and channel["recipients"][0]["id"] == user_id:
                return cid
        cid = self.ids.next()
        self.channels[cid] = {
            "id": cid,
            "type": 1,
            "recipients": [self.users[user_id]],
            "last_message_id": None,
            "flags": 0,
        }
        self.messages[cid] = []
        return cid

    def start_thread(self, channel_id: str, message_id: str, name: str, owner_id: str) -> str:
        """A thread on a message (its id is the message's id, as on Discord)."""
        parent = self.channels[channel_id]
        self.channels[message_id] = {
            "id": message_id,
            "type": 11,
            "guild_id": self.guild_id,
            "parent_id": channel_id,
            "owner_id": owner_id,
            "name": name[:100],
            "last_message_id": None,
            "message_count": 0,
            "member_count": 1,
            "total_message_sent": 0,
            "rate_limit_per_user": 0,
            "flags": 0,
            "permission_overwrites": [],
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": 10080,
                "archive_timestamp": iso(),
                "locked": False,
                "create_timestamp": iso(),
            },
        }
        self.messages[message_id] = []
        for m in self.messages[channel_id]:
            if m["id"] == message_id:
                m["thread"] = self.channels[message_id]
        del parent  # threads inherit the parent's visibility
        self.dispatch("THREAD_CREATE", {**self.channels[message_id], "newly_created": True})
        return message_id

    def leave(self, uid: str) -> None:
        """Someone leaves the guild."""
        self.members.pop(uid, None)
        self.dispatch("GUILD_MEMBER_REMOVE", {"guild_id": self.guild_id, "user": self.users[uid]})

    def join(self, name: str, *, roles: Iterable[str] = (), uid: str | None = None) -> str:
        """Someone joins the guild."""
        uid = self.add_user(name, member=True, roles=roles, uid=uid)
        self.dispatch("GUILD_MEMBER_ADD", {**self.members[uid], "guild_id": self.guild_id})
        return uid

    def _interaction_base(self, user_id: str, channel_id: str) -> dict[str, Any]:
        iid = self.ids.next()
        token = f"itoken{next(self._tokens)}"
        channel = self.channels[channel_id]
        data: dict[str, Any] = {
            "id": iid,
            "application_id": self.app_id,
            "token": token,
            "version": 1,
            "channel_id": channel_id,
            "channel": {k: v for k, v in channel.items() if k != "recipients"} | {"type": channel["type"]},
            "app_permissions": str(self._app_permissions()),
            "locale": "en-GB",
            "entitlements": [],
            "authorizing_integration_owners": {"0": self.guild_id},
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if channel.get("guild_id"):
            data["guild_id"] = self.guild_id
            data["guild_locale"] = "en-GB"
            data["guild"] = {"id": self.guild_id, "locale": "en-GB", "features": []}
            data["member"] = {**self.members[user_id], "permissions": str(EVERYONE_DEFAULT)}
            data["context"] = 0
        else:
            data["user"] = self.users[user_id]
            data["context"] = 1
        state = {
            "id": iid,
            "token": token,
            "created": time.monotonic(),
            "responses": [],
            "followups": [],
            "original": None,
            "channel_id": channel_id,
            "user_id": user_id,
        }
        self.interactions[token] = state
        self.interaction_by_id[iid] = state
        return data

    def _app_permissions(self) -> int:
        return int(self.roles[self.bot_role]["permissions"]) | int(self.roles[self.guild_id]["permissions"])

    def slash(
        self,
        user_id: str,
        channel_id: str,
        subcommand: str,
        options: dict[str, Any] | None = None,
        *,
        attachment: tuple[str, bytes, str] | None = None,
        command: str = "peerbot",
    ) -> str:
        """A member uses ``/peerbot SUBCOMMAND option:value ...``; returns the interaction id."""
        registered = next((c for c in self.commands if c["name"] == command), None)
        if registered is None:
            raise AssertionError(f"/{command} was never registered in the guild")
        sub = next((o for o in registered.get("options", []) if o["name"] == subcommand and o["type"] == 1), None)
        if sub is None:
            raise AssertionError(f"/{command} {subcommand} is not registered")
        opts: list[dict[str, Any]] = []
        resolved: dict[str, Any] = {}
        for name, value in (options or {}).items():
            declared = next(o for o in sub.get("options", []) if o["name"] == name)
            opts.append({"name": name, "type": declared["type"], "value": value})
        if attachment is not None:
            name, data, content_type = attachment
            aid = self.ids.next()
            self.attachments[aid] = data
            resolved["attachments"] = {
                aid: {
                    "id": aid,
                    "filename": name,
                    "size": len(data),
                    "url": f"{self.base_url}/attachments/{channel_id}/{aid}/{name}",
                    "proxy_url": f"{self.base_url}/attachments/{channel_id}/{aid}/{name}",
                    "content_type": content_type,
                }
            }
            opts.append({"name": "file", "type": 11, "value": aid})
        payload = self._interaction_base(user_id, channel_id)
        payload["type"] = 2
        payload["data"] = {
            "id": registered["id"],
            "name": command,
            "type": 1,
            "guild_id": self.guild_id,
            "options": [{"name": subcommand, "type": 1, "options": opts}],
        }
        if resolved:
            payload["data"]["resolved"] = resolved
        self.dispatch("INTERACTION_CREATE", payload)
        return str(payload["id"])

    def press(self, user_id: str, message: dict[str, Any], custom_id: str) -> str:
        """A user presses a button on a message the bot sent; returns the interaction id."""
        ids = [c.get("custom_id") for row in message.get("components", []) for c in row.get("components", [])]
        if custom_id not in ids:
            raise AssertionError(f"no button {custom_id!r} on that message: {ids}")
        payload = self._interaction_base(user_id, message["channel_id"])
        payload["type"] = 3
        payload["data"] = {"custom_id": custom_id, "component_type": 2}
        payload["message"] = message
        self.interaction_by_id[str(payload["id"])]["component_message"] = message
        self.dispatch("INTERACTION_CREATE", payload)
        return str(payload["id"])

    # -- looking at what the bot did ----------------------------------------------------------
    def bot_messages(self, channel_id: str | None = None) -> list[dict[str, Any]]:
        found = []
        for cid, messages in self.messages.items():
            if channel_id is not None and cid != channel_id:
                continue
            found.extend(m for m in messages if m["author"]["id"] == self.app_id)
        return sorted(found, key=lambda m: int(m["id"]))

    def dms_to(self, user_id: str) -> list[dict[str, Any]]:
        cid = self.dm_channel(user_id)
        return [m for m in self.messages[cid] if m["author"]["id"] == self.app_id]

    def threads_of(self, channel_id: str) -> list[dict[str, Any]]:
        return [c for c in self.channels.values() if c["type"] == 11 and c["parent_id"] == channel_id]

    def calls_to(self, method: str, pattern: str) -> list[Call]:
        rx = re.compile(pattern)
        return [c for c in self.calls if c.method == method and rx.fullmatch(c.path)]

    async def wait_for(self, predicate: Any, seconds: float = 5.0) -> Any:
        """Wait until ``predicate()`` is truthy (re-checked whenever the fake changes)."""
        deadline = time.monotonic() + seconds
        while True:
            result = predicate()
            if result:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("timed out waiting for the bot")
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), timeout=min(remaining, 0.05))

    # -- control -----------------------------------------------------------------------------
    def rate_limit(
        self, method: str, pattern: str, retry_after: float, *, times: int = 1, is_global: bool = False
    ) -> None:
        """The next ``times`` matching calls get a 429 like Discord's."""
        body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": is_global}
        headers = {
            "Via": "1.1 google",
            "Retry-After": str(max(1, round(retry_after))),
            "X-RateLimit-Scope": "global" if is_global else "user",
        }
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        self.rules.append(Rule(method, re.compile(pattern), 429, body, headers, times))

    def fail(self, method: str, pattern: str, status: int, code: int = 0, *, times: int = 1, message: str = "") -> None:
        body = {"message": message or f"error {status}", "code": code}
        self.rules.append(Rule(method, re.compile(pattern), status, body, {}, times))

    def fail_after_create(self, pattern: str, status: int = 500, *, times: int = 1) -> None:
        """The next ``times`` matching message creations succeed, but answer ``status``
        (the reply was lost on the way back: the client cannot know it worked)."""
        self.rules.append(Rule("POST", re.compile(pattern), status, {"message": "lost"}, {"X-After": "1"}, times))

    def set_visibility(self, channel_id: str, *, visible_to: Iterable[str] | None) -> None:
        """Make a channel private to some roles (or public with ``None``), and tell the bot."""
        channel = self.channels[channel_id]
        overwrites: list[dict[str, Any]] = []
        if visible_to is not None:
            overwrites.append({"id": self.guild_id, "type": 0, "allow": "0", "deny": str(VIEW_CHANNEL)})
            for rid in [*visible_to, self.bot_role]:
                overwrites.append({"id": rid, "type": 0, "allow": str(VIEW_CHANNEL), "deny": "0"})
        channel["permission_overwrites"] = overwrites
        self.dispatch("CHANNEL_UPDATE", channel)

    def set_channel_permissions(
        self, channel_id: str, role_id: str, *, allow: int = 0, deny: int = 0, member: bool = False
    ) -> None:
        """Change one overwrite: of a role, or (``member``) of one member."""
        channel = self.channels[channel_id]
        old = next((o for o in channel["permission_overwrites"] if o["id"] == role_id), None)
        if old is not None:
            allow |= int(old["allow"]) & ~deny
            deny |= int(old["deny"]) & ~allow
        overwrites = [o for o in channel["permission_overwrites"] if o["id"] != role_id]
        overwrites.append({"id": role_id, "type": 1 if member else 0, "allow": str(allow), "deny": str(deny)})
        channel["permission_overwrites"] = overwrites
        self.dispatch("CHANNEL_UPDATE", channel)

    def set_roles(self, uid: str, roles: Iterable[str]) -> None:
        """Give a member these roles (and tell the bot, as Discord does)."""
        member = self.members[uid]
        member["roles"] = list(roles)
        self.dispatch("GUILD_MEMBER_UPDATE", {**member, "guild_id": self.guild_id})

    def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a dispatch to every live session (kept for replay to disconnected ones)."""
        for session in self.sessions.values():
            if session.invalid:
                continue
            session.seq += 1
            session.backlog.append((session.seq, event, data))
            if len(session.backlog) > 50_000:
                del session.backlog[:10_000]
            if session.socket is not None:
                frame = json.dumps({"op": 0, "t": event, "s": session.seq, "d": data})
                task = asyncio.ensure_future(session.socket.send(frame))
                task.add_done_callback(_quiet)
        self.changed.set()

    async def drop_connections(self, code: int = 4000) -> None:
        """Close every gateway socket, as a network blip does; sessions stay resumable."""
        for conn in list(self.connections):
            if conn.session is not None:
                conn.session.socket = None
            await conn.ws.close(code=code)

    async def request_reconnect(self) -> None:
        """Ask every connected client to reconnect and resume (op 7), as Discord does before
        moving a session to another server."""
        for conn in list(self.connections):
            await conn.send({"op": 7, "d": None})

    async def invalidate_sessions(self) -> None:
        """Tell every connected client its session is gone (op 9, not resumable)."""
        for conn in list(self.connections):
            if conn.session is not None:
                conn.session.invalid = True
                conn.session.socket = None
            await conn.send({"op": 9, "d": False})

    def live_sessions(self) -> int:
        return sum(1 for s in self.sessions.values() if s.socket is not None and not s.invalid)

    # -- the gateway -----------------------------------------------------------------------------
    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0, heartbeat=None, autoping=True)
        await ws.prepare(request)
        conn = Connection(ws, compress=request.query.get("compress") == "zlib-stream")
        self.connections.append(conn)
        try:
            await conn.send({"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                payload = json.loads(msg.data)
                await self._gateway_op(conn, payload)
        finally:
            if conn.session is not None and conn.session.socket is conn:
                conn.session.socket = None
            self.connections.remove(conn)
            if ws.close_code is not None:
                self.closed_with.append(ws.close_code)
            self.changed.set()
        return ws

    async def _gateway_op(self, conn: Connection, payload: dict[str, Any]) -> None:
        op, data = payload.get("op"), payload.get("d")
        if op == 1:
            self.heartbeats += 1
            await conn.send({"op": 11})
        elif op == 2:
            await self._identify(conn, data)
        elif op == 6:
            await self._resume(conn, data)
        elif op == 8:
            members = [m for uid, m in self.members.items()]
            chunk = {
                "guild_id": self.guild_id,
                "members": members,
                "chunk_index": 0,
                "chunk_count": 1,
                "not_found": [],
            }
            if data.get("nonce"):
                chunk["nonce"] = data["nonce"]
            await self._send_dispatch(conn, "GUILD_MEMBERS_CHUNK", chunk)
        elif op in (3, 4):
            return
        else:
            await conn.ws.close(code=4001)  # unknown opcode

    async def _identify(self, conn: Connection, data: dict[str, Any]) -> None:
        self.identifies += 1
        if data.get("token") != self.token:
            await conn.ws.close(code=4004)  # authentication failed
            return
        intents = int(data.get("intents", 0))
        wants_members = bool(intents & INTENT_GUILD_MEMBERS)
        wants_content = bool(intents & INTENT_MESSAGE_CONTENT)
        if (wants_members and not self.app_flags & FLAG_GATEWAY_GUILD_MEMBERS) or (
            wants_content and not self.app_flags & FLAG_GATEWAY_MESSAGE_CONTENT
        ):
            await conn.ws.close(code=4014)  # disallowed intents
            return
        session = Session(session_id=f"session{next(self._session_ids)}", intents=intents)
        self.sessions[session.session_id] = session
        conn.session = session
        session.socket = conn
        await self._send_dispatch(
            conn,
            "READY",
            {
                "v": 10,
                "user": {**self.bot_user, "verified": True, "mfa_enabled": False, "flags": 0, "email": None},
                "guilds": [{"id": self.guild_id, "unavailable": True}],
                "session_id": session.session_id,
                "resume_gateway_url": self.gateway_url,
                "shard": [0, 1],
                "application": {"id": self.app_id, "flags": self.app_flags},
                "private_channels": [],
                "relationships": [],
                "presences": [],
                "geo_ordered_rtc_regions": [],
                "guild_join_requests": [],
                "user_settings": {},
                "session_type": "normal",
                "auth": {},
            },
        )
        await self._send_dispatch(conn, "GUILD_CREATE", self.guild_payload())
        self.changed.set()

    async def _send_dispatch(self, conn: Connection, event: str, data: dict[str, Any]) -> None:
        session = conn.session
        assert session is not None
        session.seq += 1
        session.backlog.append((session.seq, event, data))
        await conn.send({"op": 0, "t": event, "s": session.seq, "d": data})

    async def _resume(self, conn: Connection, data: dict[str, Any]) -> None:
        session = self.sessions.get(str(data.get("session_id")))
        if data.get("token") != self.token:
            await conn.ws.close(code=4004)
            return
        seq = data.get("seq") or 0
        if session is None or session.invalid or (session.backlog and session.backlog[0][0] > seq + 1):
            await conn.send({"op": 9, "d": False})
            return
        self.resumes += 1
        conn.session = session
        for s, event, payload in session.backlog:
            if s > seq:
                await conn.send({"op": 0, "t": event, "s": s, "d": payload})
        session.socket = conn
        session.seq += 1
        await conn.send({"op": 0, "t": "RESUMED", "s": session.seq, "d": {}})
        self.changed.set()

    # -- REST ---------------------------------------------------------------------------------
    async def _attachment(self, request: web.Request) -> web.Response:
        self.calls.append(Call("GET", request.path, dict(request.query), None, [], time.monotonic()))
        parts = request.match_info["rest"].split("/")
        data = self.attachments.get(parts[1]) if len(parts) > 1 else None
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="application/octet-stream")

    async def _rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["path"]
        body: Any = None
        files: list[tuple[str, bytes]] = []
        if request.content_type == "application/json":
            body = await request.json()
        elif request.content_type.startswith("multipart/"):
            form = await request.post()
            for key, value in form.items():
                if key == "payload_json":
                    body = json.loads(str(value))
                elif hasattr(value, "file"):
                    files.append((value.filename, value.file.read()))
        call = Call(request.method, path, dict(request.query), body, files, time.monotonic())
        self.calls.append(call)
        try:
            if request.headers.get("Authorization") != f"Bot {self.token}" and not path.startswith(
                ("/interactions/", "/webhooks/")
            ):
                return self._error(401, 0, "401: Unauthorized")
            for rule in self.rules:
                if rule.times > 0 and rule.method == request.method and rule.pattern.fullmatch(path):
                    rule.times -= 1
                    call.status = rule.status
                    if rule.headers.get("X-After"):
                        await self._route(request.method, path, dict(request.query), body, files)
                    return self._json(rule.body, status=rule.status, headers=rule.headers)
            name, bucket = self._bucket(request.method, path)
            now = time.monotonic()
            wait = bucket.take(now)
            if wait is not None:  # the client sent more than the headers allowed
                call.status = 429
                body_429 = {"message": "You are being rate limited.", "retry_after": round(wait, 3), "global": False}
                headers = {"Via": "1.1 google", "X-RateLimit-Scope": "user", **bucket.headers(name, now)}
                return self._json(body_429, status=429, headers=headers)
            response = await self._route(request.method, path, dict(request.query), body, files)
            response.headers.update(bucket.headers(name, now))
            return response
        finally:
            self.changed.set()

    def _bucket(self, method: str, path: str) -> tuple[str, Bucket]:
        """The bucket of a route: its method and shape, per major parameter (a channel, a
        guild, a webhook), as Discord keys them."""
        parts = path.strip("/").split("/")
        shape = [
            p if not p.isdigit() or (i > 0 and parts[i - 1] in ("channels", "guilds", "webhooks")) else ":id"
            for i, p in enumerate(parts)
        ]
        key = f"{method} /{'/'.join(shape)}"
        bucket = self.buckets.get(key)
        if bucket is None:
            limit, per = self.bucket_default
            for rule_method, pattern, rule_limit, rule_per in self.bucket_rules:
                if rule_method == method and pattern.fullmatch(path):
                    limit, per = rule_limit, rule_per
                    break
            bucket = self.buckets[key] = Bucket(limit, per)
        route = "/".join(":id" if p.isdigit() else p for p in parts)  # one hash per route, all channels
        name = hashlib.sha256(f"{method} /{route}".encode()).hexdigest()[:16]
        return name, bucket

    def limit_bucket(self, method: str, pattern: str, limit: int, per: float) -> None:
        """Routes matching ``pattern`` allow ``limit`` requests per ``per`` seconds (each
        channel, guild or webhook its own bucket)."""
        self.bucket_rules.append((method, re.compile(pattern), limit, per))

    def _json(self, data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
        # discord.py reads a body as JSON only when the content type is exactly this.
        return web.Response(
            body=json.dumps(data).encode(),
            status=status,
            headers={"Content-Type": "application/json", **(headers or {})},
        )

    def _error(self, status: int, code: int, message: str) -> web.Response:
        self.calls[-1].status = status
        return self._json({"message": message, "code": code}, status=status)

    async def _route(
        self, method: str, path: str, query: dict[str, str], body: Any, files: list[tuple[str, bytes]]
    ) -> web.Response:
        parts = path.strip("/").split("/")
        match method, parts:
            case "GET", ["users", "@me"]:
                return self._json(self.bot_user)
            case "GET", ["oauth2", "applications", "@me"] | ["applications", "@me"]:
                return self._json(self._application())
            case "POST", ["users", "@me", "channels"]:
                uid = str(body["recipient_id"])
                if uid not in self.users:
                    return self._error(400, 50035, "Invalid Form Body")
                return self._json(self.channels[self.dm_channel(uid)])
            case "GET", ["guilds", gid]:
                if gid != self.guild_id:
                    return self._error(403, 50001, "Missing Access")
                return self._json(self.guild_payload(full=False))
            case "GET", ["guilds", gid, "channels"]:
                if gid != self.guild_id:
                    return self._error(403, 50001, "Missing Access")
                return self._json([c for c in self.channels.values() if c["type"] == 0])
            case "GET", ["guilds", gid, "members"]:
                if gid != self.guild_id or not self.app_flags & FLAG_GATEWAY_GUILD_MEMBERS:
                    return self._error(403, 50001, "Missing Access")
                limit, after = int(query.get("limit", 1)), int(query.get("after", 0))
                listed = sorted((int(uid), m) for uid, m in self.members.items() if int(uid) > after)
                return self._json([m for _, m in listed[:limit]])
            case "GET", ["guilds", gid, "members", uid]:
                if gid != self.guild_id or uid not in self.members:
                    return self._error(404, 10007, "Unknown Member")
                return self._json(self.members[uid])
            case "GET", ["guilds", gid, "threads", "active"]:
                return self._json({"threads": [c for c in self.channels.values() if c["type"] == 11], "members": []})
            case "GET", ["channels", cid]:
                if cid not in self.channels:
                    return self._error(404, 10003, "Unknown Channel")
                return self._json(self.channels[cid])
            case "GET", ["channels", cid, "messages"]:
                return self._history(cid, query)
            case "POST", ["channels", cid, "messages"]:
                return self._create_message(cid, body or {}, files)
            case "PATCH", ["channels", cid, "messages", mid]:
                return self._edit_message(cid, mid, body or {}, files)
            case "GET", ["channels", cid, "messages", mid]:
                found = self._find_message(cid, mid)
                return self._json(found) if found else self._error(404, 10008, "Unknown Message")
            case "POST", ["channels", cid, "messages", mid, "threads"]:
                return self._create_thread(cid, mid, body or {})
            case "POST", ["interactions", iid, token, "callback"]:
                return self._interaction_callback(iid, token, query, body or {}, files)
            case "POST", ["webhooks", app_id, token]:
                return self._followup(token, body or {}, files, query)
            case (("PATCH" | "GET" | "DELETE"), ["webhooks", app_id, token, "messages", which]):
                return self._webhook_message(method, token, which, body or {}, files)
            case "GET", ["applications", app_id, "guilds", gid, "commands"]:
                if query.get("with_localizations") == "true":
                    return self._json(self.commands)
                return self._json([_unlocalized(c) for c in self.commands])  # as Discord does
            case "PUT", ["applications", app_id, "guilds", gid, "commands"]:
                return self._put_commands(app_id, gid, body or [])
            case "GET", ["guilds", gid, "scheduled-events"]:
                return self._json(list(self.scheduled_events.values()))
            case "POST", ["guilds", gid, "scheduled-events"]:
                return self._create_event(body or {})
            case "GET", ["guilds", gid, "scheduled-events", eid]:
                event = self.scheduled_events.get(eid)
                return self._json(event) if event else self._error(404, 10070, "Unknown Guild Scheduled Event")
            case "PATCH", ["guilds", gid, "scheduled-events", eid]:
                return self._edit_event(eid, body or {})
            case "DELETE", ["guilds", gid, "scheduled-events", eid]:
                if self.scheduled_events.pop(eid, None) is None:
                    return self._error(404, 10070, "Unknown Guild Scheduled Event")
                return web.Response(status=204)
        return self._error(404, 0, f"404: Not Found ({method} {path})")

    def _application(self) -> dict[str, Any]:
        return {
            "id": self.app_id,
            "name": "peerbot",
            "icon": None,
            "description": "",
            "bot_public": False,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "flags": self.app_flags,
            "owner": self.users.get(self.owner_id) or self._user_payload(self.owner_id, "Owner"),
            "team": None,
            "summary": "",
            "rpc_origins": [],
            "bot": self.bot_user,
        }

    def _find_message(self, cid: str, mid: str) -> dict[str, Any] | None:
        return next((m for m in self.messages.get(cid, []) if m["id"] == mid), None)

    def _history(self, cid: str, query: dict[str, str]) -> web.Response:
        if cid not in self.channels:
            return self._error(404, 10003, "Unknown Channel")
        limit = int(query.get("limit", 50))
        messages = sorted(self.messages[cid], key=lambda m: int(m["id"]))
        if "after" in query:
            chosen = [m for m in messages if int(m["id"]) > int(query["after"])][:limit]
        elif "before" in query:
            chosen = [m for m in messages if int(m["id"]) < int(query["before"])][-limit:]
        else:
            chosen = messages[-limit:]
        # Discord returns newest first, without the nonce.
        return self._json([{k: v for k, v in m.items() if k != "nonce"} for m in reversed(chosen)])

    def _can_post(self, cid: str) -> web.Response | None:
        channel = self.channels.get(cid)
        if channel is None:
            return self._error(404, 10003, "Unknown Channel")
        if channel["type"] == 1 and channel["recipients"][0]["id"] in self.dms_closed:
            return self._error(403, 50007, "Cannot send messages to this user")
        if channel["type"] == 11 and channel["thread_metadata"].get("locked"):
            return self._error(403, 50083, "Thread is locked")
        return None

    def _create_message(self, cid: str, body: dict[str, Any], files: list[tuple[str, bytes]]) -> web.Response:
        problem = self._can_post(cid)
        if problem is not None:
            return problem
        content = body.get("content") or ""
        if len(content) > 2000:
            return self._error(400, 50035, "Invalid Form Body (content: Must be 2000 or fewer in length.)")
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce"):
            if len(str(nonce)) > 25:
                return self._error(400, 50035, "Invalid Form Body (nonce: too long)")
            existing = self.nonces.get((self.app_id, str(nonce)))
            if existing is not None:
                return self._json(existing)
        if not content and not body.get("embeds") and not files and not body.get("components"):
            return self._error(400, 50006, "Cannot send an empty message")
        reference = body.get("message_reference")
        message = self._message_payload(
            cid,
            self.app_id,
            content,
            attachments=[(name, data, "application/octet-stream") for name, data in files],
            components=body.get("components"),
            embeds=body.get("embeds"),
            nonce=str(nonce) if nonce is not None else None,
            reference=reference,
        )
        self.messages[cid].append(message)
        if nonce is not None:
            self.nonces[(self.app_id, str(nonce))] = message
        self.dispatch("MESSAGE_CREATE", self._gateway_message(message))
        return self._json(message)

    def _edit_message(self, cid: str, mid: str, body: dict[str, Any], files: list[tuple[str, bytes]]) -> web.Response:
        message = self._find_message(cid, mid)
        if message is None:
            return self._error(404, 10008, "Unknown Message")
        if message["author"]["id"] != self.app_id:
            return self._error(403, 50005, "Cannot edit a message authored by another user")
        for key in ("content", "embeds", "components"):
            if key in body:
                message[key] = body[key] or ([] if key != "content" else "")
        message["edited_timestamp"] = iso()
        return self._json(message)

    def _create_thread(self, cid: str, mid: str, body: dict[str, Any]) -> web.Response:
        channel = self.channels.get(cid)
        if channel is None:
            return self._error(404, 10003, "Unknown Channel")
        if channel["type"] != 0:
            return self._error(400, 50024, "Cannot execute action on this channel type")
        if self._find_message(cid, mid) is None:
            return self._error(404, 10008, "Unknown Message")
        if mid in self.channels:
            return self._error(400, 160004, "A thread has already been created for this message")
        name = str(body.get("name", ""))
        if not 1 <= len(name) <= 100:
            return self._error(400, 50035, "Invalid Form Body (name)")
        self.start_thread(cid, mid, name, self.app_id)
        return self._json(self.channels[mid])

    def _interaction_callback(
        self, iid: str, token: str, query: dict[str, str], body: dict[str, Any], files: list[tuple[str, bytes]]
    ) -> web.Response:
        state = self.interactions.get(token)
        if state is None or state["id"] != iid:
            return self._error(404, 10062, "Unknown interaction")
        if state["responses"]:
            return self._error(400, 40060, "Interaction has already been acknowledged")
        if time.monotonic() - state["created"] > self.interaction_ttl:
            return self._error(404, 10062, "Unknown interaction")
        kind = int(body.get("type", 0))
        data = body.get("data") or {}
        state["responses"].append({"type": kind, "data": data, "at": time.monotonic()})
        ephemeral = bool(int(data.get("flags", 0)) & 64)
        result: dict[str, Any] = {
            "interaction": {
                "id": iid,
                "type": 2,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": ephemeral,
            }
        }
        if kind in (4, 5):
            message = self._message_payload(
                state["channel_id"],
                self.app_id,
                data.get("content") or "",
                components=data.get("components"),
                embeds=data.get("embeds"),
                attachments=[(name, blob, "application/octet-stream") for name, blob in files],
                flags=int(data.get("flags", 0)) | (128 if kind == 5 else 0),
            )
            message["interaction_metadata"] = {"id": iid, "type": 2, "user": self.users[state["user_id"]]}
            state["original"] = message
            result["interaction"]["response_message_id"] = message["id"]
            result["resource"] = {"type": kind, "message": message}
            if not ephemeral:
                self.messages[state["channel_id"]].append(message)
        if query.get("with_response") not in ("1", "true", "True"):
            return web.Response(status=204)
        return self._json(result)

    def _followup(
        self, token: str, body: dict[str, Any], files: list[tuple[str, bytes]], query: dict[str, str]
    ) -> web.Response:
        state = self.interactions.get(token)
        if state is None:
            return self._error(404, 10015, "Unknown Webhook")
        if not state["responses"]:
            return self._error(400, 10015, "Interaction has not been acknowledged")
        flags = int(body.get("flags", 0))
        message = self._message_payload(
            state["channel_id"],
            self.app_id,
            body.get("content") or "",
            components=body.get("components"),
            embeds=body.get("embeds"),
            attachments=[(name, blob, "application/octet-stream") for name, blob in files],
            flags=flags,
        )
        state["followups"].append({"message": message, "at": time.monotonic()})
        if not flags & 64:
            self.messages[state["channel_id"]].append(message)
        if query.get("wait") in ("true", "1", "True"):
            return self._json(message)
        return web.Response(status=204)

    def _webhook_message(
        self, method: str, token: str, which: str, body: dict[str, Any], files: list[tuple[str, bytes]]
    ) -> web.Response:
        state = self.interactions.get(token)
        if state is None:
            return self._error(404, 10015, "Unknown Webhook")
        if which == "@original":
            message = state["original"]
        else:
            # Any message of the interaction's channel (a component's own message) can be
            # edited through its token; ephemeral ones only this way.
            candidates = [state["original"], *(f["message"] for f in state["followups"])]
            candidates += [state["component_message"]] if state.get("component_message") else []
            message = next((m for m in candidates if m and m["id"] == which), None)
        if message is None:
            return self._error(404, 10008, "Unknown Message")
        if method == "DELETE":
            state["original_deleted"] = True
            return web.Response(status=204)
        if method == "PATCH":
            for key in ("content", "embeds", "components"):
                if key in body:
                    message[key] = body[key] or ([] if key != "content" else "")
            message["flags"] = int(message.get("flags", 0)) & ~128
            state.setdefault("edits", []).append({"body": body, "at": time.monotonic()})
        return self._json(message)

    def _put_commands(self, app_id: str, gid: str, body: list[dict[str, Any]]) -> web.Response:
        if gid != self.guild_id:
            return self._error(403, 50001, "Missing Access")
        self.commands = []
        for cmd in body:
            self.commands.append(
                {
                    "id": self.ids.next(),
                    "application_id": app_id,
                    "guild_id": gid,
                    "version": self.ids.next(),
                    "type": cmd.get("type", 1),
                    "name": cmd["name"],
                    "description": cmd.get("description", ""),
                    "options": cmd.get("options", []),
                    "default_member_permissions": cmd.get("default_member_permissions"),
                    "nsfw": cmd.get("nsfw", False),
                    "contexts": cmd.get("contexts"),
                    "integration_types": cmd.get("integration_types") or [0],
                    "name_localizations": cmd.get("name_localizations"),
                    "description_localizations": cmd.get("description_localizations"),
                }
            )
        return self._json(self.commands)

    def _create_event(self, body: dict[str, Any]) -> web.Response:
        start = datetime.fromisoformat(body["scheduled_start_time"])
        if start <= self.clock():
            return self._error(
                400, 50035, "Invalid Form Body (scheduled_start_time: Cannot schedule event in the past)"
            )
        if body.get("entity_type") == 3 and not (body.get("entity_metadata") or {}).get("location"):
            return self._error(400, 50035, "Invalid Form Body (entity_metadata.location)")
        eid = self.ids.next()
        event = {
            "id": eid,
            "guild_id": self.guild_id,
            "channel_id": body.get("channel_id"),
            "creator_id": self.app_id,
            "creator": self.bot_user,
            "name": body["name"],
            "description": body.get("description"),
            "scheduled_start_time": body["scheduled_start_time"],
            "scheduled_end_time": body.get("scheduled_end_time"),
            "privacy_level": body.get("privacy_level", 2),
            "status": 1,
            "entity_type": body.get("entity_type", 3),
            "entity_id": None,
            "entity_metadata": body.get("entity_metadata"),
            "user_count": 0,
            "image": None,
            "recurrence_rule": None,
        }
        self.scheduled_events[eid] = event
        self.dispatch("GUILD_SCHEDULED_EVENT_CREATE", event)
        return self._json(event)

    def _edit_event(self, eid: str, body: dict[str, Any]) -> web.Response:
        event = self.scheduled_events.get(eid)
        if event is None:
            return self._error(404, 10070, "Unknown Guild Scheduled Event")
        if event["status"] in (3, 4):
            return self._error(400, 180000, "Cannot modify a finished event")
        for key in ("name", "description", "scheduled_start_time", "scheduled_end_time", "entity_metadata", "status"):
            if key in body:
                event[key] = body[key]
        self.dispatch("GUILD_SCHEDULED_EVENT_UPDATE", event)
        return self._json(event)

    # -- the control API (benchmarks drive a fake in another process) ---------------------------
    async def _control(self, request: web.Request) -> web.Response:
        what = request.match_info["what"]
        body = await request.json() if request.can_read_body else {}
        if what == "world":
            return self._json(
                {
                    "app_id": self.app_id,
                    "guild_id": self.guild_id,
                    "channels": {c["name"]: cid for cid, c in self.channels.items() if c["type"] == 0},
                    "users": {u["global_name"]: uid for uid, u in self.users.items()},
                    "token": self.token,
                }
            )
        if what == "flood":
            started = time.monotonic()
            sent = await self.flood(
                str(body["channel_id"]),
                [str(a) for a in body["authors"]],
                int(body["count"]),
                str(body["text"]),
                store=bool(body.get("store", False)),
            )
            return self._json({"sent": sent, "seconds": time.monotonic() - started})
        if what == "sessions":
            return self._json({"live": self.live_sessions(), "identifies": self.identifies})
        return self._error(404, 0, "unknown control")

    async def flood(self, channel_id: str, authors: list[str], count: int, text: str, *, store: bool = False) -> int:
        """Dispatch ``count`` MESSAGE_CREATEs as fast as the sockets take them (kept in the
        channel's history only with ``store``)."""
        template = self._gateway_message(self._message_payload(channel_id, authors[0], text))
        sockets = [s for s in self.sessions.values() if s.socket is not None and not s.invalid]
        members = {a: {k: v for k, v in self.members[a].items() if k != "user"} for a in authors if a in self.members}
        for i in range(count):
            author = authors[i % len(authors)]
            mid = self.ids.next()
            data = {
                **template,
                "id": mid,
                "author": self.users[author],
                "timestamp": iso(snowflake_time(mid)),
                "content": f"{text} {i}",
            }
            if store:
                self.messages[channel_id].append(dict(data))
            if author in members:
                data["member"] = members[author]
            for session in sockets:
                session.seq += 1
                assert session.socket is not None
                await session.socket.send({"op": 0, "t": "MESSAGE_CREATE", "s": session.seq, "d": data})
        return count


def _unlocalized(data: Any) -> Any:
    """A command without its localizations, as Discord lists it unless asked for them."""
    if isinstance(data, list):
        return [_unlocalized(x) for x in data]
    if isinstance(data, dict):
        return {k: _unlocalized(v) for k, v in data.items() if not k.endswith("_localizations")}
    return data


def _quiet(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


def point_discord_py_at(fake: FakeDiscord) -> None:
    """Aim discord.py's REST and gateway at the fake (the two places it connects to)."""
    import discord.gateway
    import discord.http
    import yarl

    discord.http.Route.BASE = fake.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)


def build_bench_world(fake: FakeDiscord, members: int = 8) -> None:
    heads = fake.add_role("heads")
    fake.add_text_channel("heads", visible_to=[heads])
    fake.add_text_channel("general")
    for i in range(members):
        fake.add_user(f"Head {i}", roles=[heads])


async def _serve(port: int) -> None:
    fake = FakeDiscord()
    build_bench_world(fake)
    await fake.start(port)
    sys.stdout.write(f"{fake.port}\n")
    sys.stdout.flush()
    try:
        await asyncio.Event().wait()
    finally:
        await fake.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="a local fake of Discord, for benchmarks")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.port))


if __name__ == "__main__":
    main()
