"""A fake Slack for tests: the Web API methods peerbot calls, file hosting, response
URLs and a Socket Mode WebSocket, on 127.0.0.1 at an ephemeral port.

It behaves like Slack where peerbot depends on it: it checks the token (``not_authed``,
``invalid_auth``, ``token_revoked``), the scope each method needs (``missing_scope``; the
token has exactly the manifest's scopes unless a test changes :attr:`FakeSlack.scopes`)
and each method's required arguments, refuses
channels the bot is not in, validates Block Kit limits peerbot must respect (unique
``action_id``\\ s, 3,000-character sections, 75-character button labels), keeps messages
with their metadata so that ``conversations.history`` finds them, and sends the
``x-oauth-scopes`` header. Tests script failures (``fail``) and HTTP 429s
(``rate_limit``), and read every call back from :attr:`FakeSlack.calls`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

from adapters.slack.manifest import BOT_SCOPES

BOT_TOKEN = "xoxb-test-bot-token"
APP_TOKEN = "xapp-test-app-token"
SIGNING_SECRET = "test-signing-secret"
TEAM_ID = "T0TEST0001"
BOT_USER = "U0BOT00001"
BOT_ID = "B0BOT00001"
APP_ID = "A0APP00001"
# The fake grants the bot exactly the scopes the manifest asks for, so a method peerbot
# starts calling without adding its scope to the manifest fails the tests (missing_scope).
MANIFEST_SCOPES = ",".join(sorted(BOT_SCOPES))

# The bot-token scope(s) each Web API method needs, from Slack's method reference (any one
# of a tuple will do). Methods that read or write a conversation need the scope for its
# kind, and are listed in CONVERSATION_SCOPES instead. auth.test, views.* need none.
METHOD_SCOPES: dict[str, tuple[str, ...]] = {
    "auth.test": (),
    "chat.postMessage": ("chat:write",),
    "chat.postEphemeral": ("chat:write",),
    "chat.update": ("chat:write",),
    "conversations.open": ("im:write", "mpim:write", "channels:manage", "groups:write"),
    "users.list": ("users:read",),
    "views.publish": (),
    "views.open": (),
    "files.getUploadURLExternal": ("files:write",),
    "files.completeUploadExternal": ("files:write",),
}
CONVERSATION_SCOPES: dict[str, str] = {
    "conversations.history": "history",
    "conversations.replies": "history",
    "conversations.info": "read",
}
FILE_DOWNLOAD_SCOPE = "files:read"
# The scope each Events API subscription needs (Slack's event reference; any one will do).
EVENT_SCOPES: dict[str, tuple[str, ...]] = {
    "app_home_opened": (),
    "app_mention": ("app_mentions:read",),
    "app_uninstalled": (),
    "member_joined_channel": ("channels:read", "groups:read"),
    "message.channels": ("channels:history",),
    "message.groups": ("groups:history",),
    "message.im": ("im:history",),
    "message.mpim": ("mpim:history",),
    "tokens_revoked": (),
}


def sign(secret: str, timestamp: str, body: str) -> str:
    """Slack's request signature (computed here independently of slack_sdk)."""
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(
    body: str, *, content_type: str, secret: str = SIGNING_SECRET, at: float | None = None
) -> dict[str, str]:
    ts = str(int(at if at is not None else time.time()))
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": sign(secret, ts, body),
    }


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str | None


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool = False
    is_member: bool = True
    is_archived: bool = False
    is_im: bool = False
    user: str | None = None  # for a DM


@dataclass
class Posted:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    metadata: dict[str, Any] | None = None
    user: str = BOT_USER
    bot_id: str | None = BOT_ID
    files: list[dict[str, Any]] = field(default_factory=list)

    def as_slack(self, *, with_metadata: bool) -> dict[str, Any]:
        m: dict[str, Any] = {"type": "message", "ts": self.ts, "text": self.text, "user": self.user}
        if self.bot_id:
            m["bot_id"] = self.bot_id
        if self.blocks:
            m["blocks"] = self.blocks
        if self.thread_ts:
            m["thread_ts"] = self.thread_ts
        if self.files:
            m["files"] = self.files
        if with_metadata and self.metadata:
            m["metadata"] = self.metadata
        return m


class FakeSlack:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.responses: list[dict[str, Any]] = []  # bodies posted to response_urls
        self.channels: dict[str, Channel] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.messages: list[Posted] = []
        self.ephemerals: list[dict[str, Any]] = []
        self.views: dict[str, dict[str, Any]] = {}  # user → home view
        self.modals: list[dict[str, Any]] = []
        self.hosted: dict[str, tuple[str, bytes]] = {}  # file id → (name, bytes) people shared
        self.uploads: dict[str, dict[str, Any]] = {}  # file id → {"name", "data", "shared": [...]}
        self.scopes = MANIFEST_SCOPES
        self.revoked: str | None = None
        self.app_token_refused: str | None = None
        self._failures: dict[str, list[tuple[str, int, dict[str, str]]]] = {}
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self._dm: dict[str, str] = {}
        self.acks: dict[str, dict[str, Any]] = {}
        self._ack_event = asyncio.Event() if _loop_running() else None
        self._sockets: list[web.WebSocketResponse] = []
        self.connections_opened = 0
        self.runner: web.AppRunner | None = None
        self.url = ""
        # While set and not yet released, Web API calls and response_url posts wait for it:
        # "Slack is slow" without any clock (a test releases it with ``hold.set()``).
        self.hold: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- set-up -------------------------------------------------------------------------
    def add_channel(self, cid: str, name: str, **kw: Any) -> Channel:
        channel = Channel(id=cid, name=name, **kw)
        self.channels[cid] = channel
        return channel

    def add_user(self, uid: str, name: str, email: str, *, deleted: bool = False) -> None:
        self.users[uid] = {"id": uid, "name": name, "deleted": deleted, "profile": {"email": email, "real_name": name}}

    def host_file(self, name: str, data: bytes, *, mimetype: str = "application/octet-stream") -> dict[str, Any]:
        """A file someone shared: its Slack file object (``url_private_download`` served here)."""
        fid = f"F{next(self._ids):08d}"
        self.hosted[fid] = (name, data)
        url = f"{self.url}/files-pri/{TEAM_ID}-{fid}/download/{name}"
        return {
            "id": fid,
            "name": name,
            "title": name,
            "mimetype": mimetype,
            "filetype": name.rsplit(".", 1)[-1],
            "size": len(data),
            "mode": "hosted",
            "url_private": url,
            "url_private_download": url,
        }

    def fail(self, method: str, error: str, *, times: int = 1, status: int = 200) -> None:
        self._failures.setdefault(method, []).extend([(error, status, {})] * times)

    def rate_limit(self, method: str, *, retry_after: int = 1, times: int = 1) -> None:
        self._failures.setdefault(method, []).extend([("ratelimited", 429, {"Retry-After": str(retry_after)})] * times)

    def called(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def posted(self, channel: str | None = None) -> list[Posted]:
        return [m for m in self.messages if channel is None or m.channel == channel]

    def dm_channel(self, user: str) -> str | None:
        return self._dm.get(user)

    def next_ts(self) -> str:
        return f"{1764000000 + next(self._ts)}.{next(self._ids):06d}"

    # -- serving ------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/upload/{fid}", self._upload)
        app.router.add_get("/files-pri/{path:.*}", self._download)
        app.router.add_post("/response/{rid}", self._response)
        app.router.add_get("/link/", self._socket)
        return app

    async def start(self) -> None:
        if self._ack_event is None:
            self._ack_event = asyncio.Event()
        self.runner = web.AppRunner(self.app(), access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self.runner is not None:
            await self.runner.cleanup()

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def response_url(self) -> str:
        return f"{self.url}/response/{uuid.uuid4().hex[:12]}"

    def run_soon(self, coro: Any) -> Any:
        """Run ``coro`` on the fake's own loop (when it serves from a thread); wait for it."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    @contextlib.contextmanager
    def in_thread(self) -> Iterator[FakeSlack]:
        """Serve from a thread of its own (for code that runs its own event loop, the CLI)."""
        loop = asyncio.new_event_loop()
        self._loop = loop
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.start())
            ready.set()
            loop.run_forever()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        ready.wait(10)
        try:
            yield self
        finally:
            asyncio.run_coroutine_threadsafe(self.stop(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()

    # -- the Web API --------------------------------------------------------------------
    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        raw = await request.read()
        if request.content_type == "application/json" and raw:
            args.update(json.loads(raw))
        elif raw:
            args.update(dict(parse_qsl(raw.decode(), keep_blank_values=True)))
        auth = request.headers.get("Authorization", "")
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else args.pop("token", None)
        self.calls.append(Call(method, args, token))
        if self.hold is not None:
            await self.hold.wait()
        headers = {"x-oauth-scopes": self.scopes} if token == BOT_TOKEN else {}
        scripted = self._failures.get(method)
        if scripted:
            error, status, extra = scripted.pop(0)
            return web.json_response({"ok": False, "error": error}, status=status, headers={**headers, **extra})
        if method == "apps.connections.open":
            if token is None:
                return self._error("not_authed")
            if not token.startswith("xapp-"):
                return self._error("not_allowed_token_type")
            if token != APP_TOKEN or self.app_token_refused:
                return self._error(self.app_token_refused or "invalid_auth")
            self.connections_opened += 1
            return web.json_response({"ok": True, "url": f"ws://127.0.0.1:{request.url.port}/link/?ticket=t"})
        if token is None:
            return self._error("not_authed")
        if token != BOT_TOKEN:
            return self._error("invalid_auth")
        if self.revoked:
            return self._error(self.revoked)
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return self._error("unknown_method", status=404)
        needed = self.needed_scopes(method, args)
        if needed and not set(needed) & self.granted:
            # As Slack answers: which scope would do, and what the token has.
            return web.json_response(
                {"ok": False, "error": "missing_scope", "needed": ",".join(needed), "provided": self.scopes},
                headers=headers,
            )
        try:
            result = handler(args)
        except _SlackError as exc:
            return self._error(exc.code, headers=headers)
        return web.json_response({"ok": True, **result}, headers=headers)

    @property
    def granted(self) -> set[str]:
        return {x.strip() for x in self.scopes.split(",") if x.strip()}

    def needed_scopes(self, method: str, args: dict[str, Any]) -> tuple[str, ...]:
        """The scopes that would let the bot call ``method`` with ``args`` (any one)."""
        kind = CONVERSATION_SCOPES.get(method)
        if kind is None:
            return METHOD_SCOPES[method]  # a method with no entry is a KeyError: add it
        channel = self.channels.get(str(args.get("channel") or ""))
        prefix = "channels"
        if channel is not None and channel.is_im:
            prefix = "im"
        elif channel is not None and channel.is_private:
            prefix = "groups"
        return (f"{prefix}:{kind}",)

    @staticmethod
    def _error(code: str, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
        return web.json_response({"ok": False, "error": code}, status=status, headers=headers or {})

    def _m_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://test-schools.slack.com/",
            "team": "Test Schools",
            "user": "peerbot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _channel_for_posting(self, cid: str | None) -> Channel:
        if not cid:
            raise _SlackError("channel_not_found")
        if cid.startswith(("U", "W")):
            return self.channels[self._open_dm(cid)]
        channel = self.channels.get(cid)
        if channel is None:
            raise _SlackError("channel_not_found")
        if channel.is_archived:
            raise _SlackError("is_archived")
        if not channel.is_member:
            raise _SlackError("channel_not_found" if channel.is_private else "not_in_channel")
        return channel

    def _blocks(self, args: dict[str, Any], *, limit: int = 50) -> list[dict[str, Any]]:
        blocks = args.get("blocks")
        if blocks is None:
            return []
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        if not isinstance(blocks, list) or len(blocks) > limit:
            raise _SlackError("invalid_blocks")
        seen: set[str] = set()
        for block in blocks:
            if block.get("type") == "section":
                text = block.get("text", {}).get("text", "")
                if not text or len(text) > 3000:
                    raise _SlackError("invalid_blocks")
            if block.get("type") == "header" and len(block["text"]["text"]) > 150:
                raise _SlackError("invalid_blocks")
            for element in block.get("elements", []) if block.get("type") == "actions" else []:
                action_id = element.get("action_id", "")
                if action_id in seen or len(action_id) > 255:
                    raise _SlackError("invalid_blocks")
                seen.add(action_id)
                if len(element.get("text", {}).get("text", "")) > 75 or len(element.get("value", "")) > 2000:
                    raise _SlackError("invalid_blocks")
            if block.get("type") == "actions" and len(block.get("elements", [])) > 25:
                raise _SlackError("invalid_blocks")
        return blocks

    def _m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel_for_posting(args.get("channel"))
        blocks = self._blocks(args)
        text = args.get("text") or ""
        if not text and not blocks:
            raise _SlackError("no_text")
        metadata = args.get("metadata")
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        if metadata is not None and ("event_type" not in metadata or "event_payload" not in metadata):
            raise _SlackError("invalid_metadata_format")
        thread = args.get("thread_ts") or None
        if thread and not any(m.ts == thread and m.channel == channel.id for m in self.messages):
            raise _SlackError("thread_not_found")
        posted = Posted(channel.id, self.next_ts(), text, blocks, thread, metadata)
        self.messages.append(posted)
        return {"channel": channel.id, "ts": posted.ts, "message": posted.as_slack(with_metadata=True)}

    def add_message(self, channel: str, user: str, text: str, *, thread_ts: str | None = None) -> Posted:
        """A person's message (so that the bot can reply in its thread)."""
        posted = Posted(channel, self.next_ts(), text, [], thread_ts, None, user=user, bot_id=None)
        self.messages.append(posted)
        return posted

    def _m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel_for_posting(args.get("channel"))
        if not args.get("user"):
            raise _SlackError("user_not_found")
        blocks = self._blocks(args)
        if not args.get("text") and not blocks:
            raise _SlackError("no_text")
        self.ephemerals.append({**args, "channel": channel.id})
        return {"message_ts": self.next_ts()}

    def _m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        cid, ts = args.get("channel"), args.get("ts")
        found = next((m for m in self.messages if m.channel == cid and m.ts == ts), None)
        if found is None:
            raise _SlackError("message_not_found")
        if found.user != BOT_USER:
            raise _SlackError("cant_update_message")
        blocks = self._blocks(args)
        found.text = args.get("text") or found.text
        found.blocks = blocks
        return {"channel": cid, "ts": ts, "text": found.text}

    def _open_dm(self, user: str) -> str:
        if user not in self.users:
            raise _SlackError("user_not_found")
        if self.users[user].get("deleted"):
            raise _SlackError("user_disabled")
        cid = self._dm.get(user)
        if cid is None:
            cid = f"D{next(self._ids):08d}"
            self._dm[user] = cid
            self.channels[cid] = Channel(id=cid, name=user, is_private=True, is_im=True, user=user)
        return cid

    def _m_conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        users = str(args.get("users") or "")
        if not users or "," in users:
            raise _SlackError("users_not_found" if not users else "not_supported")
        return {"channel": {"id": self._open_dm(users)}}

    def _history(self, cid: str | None) -> list[Posted]:
        channel = self.channels.get(cid or "")
        if channel is None or (not channel.is_member and not channel.is_im):
            raise _SlackError("channel_not_found" if channel is None or channel.is_private else "not_in_channel")
        return [m for m in self.messages if m.channel == cid]

    def _m_conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        found = [m for m in self._history(args.get("channel")) if not m.thread_ts or m.thread_ts == m.ts]
        oldest = args.get("oldest")
        if oldest:
            found = [m for m in found if float(m.ts) > float(oldest)]
        limit = int(args.get("limit") or 100)
        meta = str(args.get("include_all_metadata", "")).lower() in ("true", "1")
        newest_first = list(reversed(found))[:limit]
        return {"messages": [m.as_slack(with_metadata=meta) for m in newest_first], "has_more": len(found) > limit}

    def _m_conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        ts = args.get("ts")
        if not ts:
            raise _SlackError("thread_not_found")
        found = [m for m in self._history(args.get("channel")) if m.ts == ts or m.thread_ts == ts]
        oldest = args.get("oldest")
        if oldest:
            found = [m for m in found if float(m.ts) > float(oldest)]
        meta = str(args.get("include_all_metadata", "")).lower() in ("true", "1")
        limit = int(args.get("limit") or 100)
        return {"messages": [m.as_slack(with_metadata=meta) for m in found[:limit]]}

    def _m_conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self.channels.get(args.get("channel") or "")
        if channel is None or (channel.is_private and not channel.is_member):
            raise _SlackError("channel_not_found")
        return {
            "channel": {
                "id": channel.id,
                "name": channel.name,
                "is_private": channel.is_private,
                "is_member": channel.is_member,
                "is_archived": channel.is_archived,
            }
        }

    def _m_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        users = sorted(self.users.values(), key=lambda u: u["id"])
        if "users:read.email" not in self.granted:  # Slack leaves the emails out
            users = [{**u, "profile": {k: v for k, v in u["profile"].items() if k != "email"}} for u in users]
        limit = int(args.get("limit") or 200)
        start = int(args.get("cursor") or 0)
        page = users[start : start + limit]
        more = start + limit < len(users)
        return {"members": page, "response_metadata": {"next_cursor": str(start + limit) if more else ""}}

    def _view(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        if not isinstance(view, dict) or "type" not in view:
            raise _SlackError("invalid_arguments")
        self._blocks(view, limit=100)
        return view

    def _m_views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user = args.get("user_id")
        if not user:
            raise _SlackError("invalid_arguments")
        view = self._view(args)
        if view["type"] != "home":
            raise _SlackError("invalid_arguments")
        self.views[user] = view
        return {"view": {"id": f"V{next(self._ids):08d}", **view}}

    def _m_views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        trigger = args.get("trigger_id")
        if not trigger:
            raise _SlackError("invalid_arguments")
        if str(trigger).startswith("expired"):
            raise _SlackError("expired_trigger_id")
        view = self._view(args)
        self.modals.append(view)
        return {"view": {"id": f"V{next(self._ids):08d}", **view}}

    def _m_files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("filename") or not str(args.get("length", "")).isdigit():
            raise _SlackError("invalid_arguments")
        fid = f"F{next(self._ids):08d}"
        self.uploads[fid] = {"name": args["filename"], "length": int(args["length"]), "data": None, "shared": []}
        return {"upload_url": f"{self.url}/upload/{fid}", "file_id": fid}

    def _m_files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        files = args.get("files")
        if isinstance(files, str):
            files = json.loads(files)
        if not files:
            raise _SlackError("invalid_arguments")
        channel = self._channel_for_posting(args.get("channel_id")) if args.get("channel_id") else None
        out = []
        for f in files:
            upload = self.uploads.get(f["id"])
            if upload is None or upload["data"] is None:
                raise _SlackError("file_not_found")
            if channel is not None:
                upload["shared"].append(channel.id)
            out.append({"id": f["id"], "name": upload["name"], "title": f.get("title", upload["name"])})
        if channel is not None:
            self.messages.append(
                Posted(channel.id, self.next_ts(), "", [], args.get("thread_ts") or None, None, files=out)
            )
        return {"files": out}

    async def _upload(self, request: web.Request) -> web.Response:
        fid = request.match_info["fid"]
        upload = self.uploads.get(fid)
        if upload is None:
            return web.Response(status=404)
        upload["data"] = await request.read()
        return web.Response(text=f"OK - {len(upload['data'])}")

    async def _download(self, request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        if auth != f"Bearer {BOT_TOKEN}" or self.revoked:
            # Slack answers an unauthenticated file request with its sign-in page.
            return web.Response(text="<html>sign in</html>", content_type="text/html")
        if FILE_DOWNLOAD_SCOPE not in self.granted:
            return web.Response(status=403, text="missing_scope")
        fid = request.match_info["path"].split("/", 1)[0].split("-", 1)[-1]
        hosted = self.hosted.get(fid)
        if hosted is None:
            return web.Response(status=404)
        self.calls.append(Call("files.download", {"file": fid}, BOT_TOKEN))
        return web.Response(body=hosted[1], content_type="application/octet-stream")

    async def _response(self, request: web.Request) -> web.Response:
        body = await request.json()
        if self.hold is not None:
            await self.hold.wait()
        self.responses.append({"url": str(request.url), **body})
        return web.Response(text="ok")

    # -- Socket Mode --------------------------------------------------------------------
    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": 1, "connection_info": {"app_id": APP_ID}})
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    data = json.loads(msg.data)
                    if "envelope_id" in data:
                        self.acks[data["envelope_id"]] = data
                        assert self._ack_event is not None
                        self._ack_event.set()
        finally:
            if ws in self._sockets:
                self._sockets.remove(ws)
        return ws

    @property
    def socket_connected(self) -> bool:
        return bool(self._sockets)

    async def envelope(self, kind: str, payload: dict[str, Any], *, retry_attempt: int = 0) -> str:
        """Push an envelope down the Socket Mode connection; returns its id."""
        envelope_id = uuid.uuid4().hex
        await self._sockets[-1].send_json(
            {
                "envelope_id": envelope_id,
                "payload": payload,
                "type": kind,
                "accepts_response_payload": kind != "events_api",
                "retry_attempt": retry_attempt,
                "retry_reason": "timeout" if retry_attempt else "",
            }
        )
        return envelope_id

    async def wait_ack(self, envelope_id: str, within: float = 5.0) -> dict[str, Any]:
        async with asyncio.timeout(within):
            while envelope_id not in self.acks:
                assert self._ack_event is not None
                self._ack_event.clear()
                await self._ack_event.wait()
        return self.acks[envelope_id]

    async def disconnect_sockets(self) -> None:
        for ws in list(self._sockets):
            await ws.send_json({"type": "disconnect", "reason": "refresh_requested"})


class _SlackError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
