"""Drive a real SlackAdapter (real Bolt, real slack_sdk) with the bytes Slack would send:
signed HTTP requests, or envelopes down the Socket Mode WebSocket, built from the
payload fixtures in ``payloads/``."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp

from adapters.slack import SlackAdapter
from adapters.slack.api import Throttle
from bot.app import PeerBot
from tests.support.slack import APP_ID, BOT_USER, SIGNING_SECRET, TEAM_ID, FakeSlack, Posted, signed_headers

PAYLOADS = Path(__file__).parent / "payloads"
CHANNELS = {"heads": "C0HEADS001", "dsl": "G0DSL00001", "senco": "G0SENCO001", "sbm": "C0SBM00001"}
CHANNEL_NAMES = {cid: group for group, cid in CHANNELS.items()}
UNMAPPED = "C0RANDOM01"


def fixture(name: str, **values: Any) -> dict[str, Any]:
    """A payload fixture with its ``$PLACEHOLDERS`` filled in."""
    data = json.loads((PAYLOADS / f"{name}.json").read_text(encoding="utf-8"))
    defaults = {"TEAM": TEAM_ID, "APP": APP_ID, "BOT": BOT_USER}
    return _fill(data, {**defaults, **values})


def _fill(value: Any, values: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    if isinstance(value, str) and value.startswith("$") and value[1:] in values:
        return values[value[1:]]
    if isinstance(value, str) and "$" in value:
        for key, v in values.items():
            if isinstance(v, str):
                value = value.replace(f"${key}", v)
        return value
    return value


@dataclass
class Answer:
    status: int
    text: str

    def json(self) -> Any:
        return json.loads(self.text) if self.text else None


class SlackHarness:
    """People in the demo network talking to peerbot through Slack."""

    def __init__(self, adapter: SlackAdapter, fake: FakeSlack, bot: PeerBot, ids: dict[str, str]) -> None:
        self.adapter = adapter
        self.fake = fake
        self.bot = bot
        self.ids = ids
        self.mode = adapter.mode
        self._n = itertools.count(1)
        self._session: aiohttp.ClientSession | None = None

    def uid(self, email: str) -> str:
        return self.ids[email]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.adapter.http_port}{self.adapter.settings.http_path}"

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    # -- the wire -------------------------------------------------------------------------
    async def raw(self, body: str, headers: dict[str, str]) -> Answer:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        async with self._session.post(self.url, data=body.encode(), headers=headers) as response:
            return Answer(response.status, await response.text())

    async def deliver(self, kind: str, payload: dict[str, Any], *, retry: int = 0) -> Answer:
        """Send one payload as Slack would in this adapter's mode."""
        if self.mode == "socket":
            envelope_id = await self.fake.envelope(kind, payload, retry_attempt=retry)
            ack = await self.fake.wait_ack(envelope_id)
            return Answer(200, json.dumps(ack.get("payload")) if ack.get("payload") else "")
        if kind == "slash_commands":
            body = urlencode(payload)
            content_type = "application/x-www-form-urlencoded"
        elif kind == "interactive":
            body = urlencode({"payload": json.dumps(payload)})
            content_type = "application/x-www-form-urlencoded"
        else:
            body = json.dumps(payload)
            content_type = "application/json"
        headers = signed_headers(body, content_type=content_type, secret=SIGNING_SECRET)
        if retry:
            headers["X-Slack-Retry-Num"] = str(retry)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        return await self.raw(body, headers)

    async def settle(self) -> None:
        """Let the acknowledged work (and the adapter's own small chores) finish, then
        deliver the outbox."""
        await self.adapter.inbox.idle()
        await self.adapter.work.idle()
        await asyncio.gather(*self.adapter._chores)
        await self.bot.deliverer.drain()
        await self.adapter.inbox.idle()
        await self.adapter.work.idle()

    # -- people ---------------------------------------------------------------------------
    def channel(self, email: str, where: str, *, user: str | None = None) -> tuple[str, str]:
        """(channel id, channel_type) for ``where``: ``dm``, a group, or a raw channel id."""
        if where == "dm":
            return self.fake._open_dm(user or self.uid(email)), "im"
        cid = CHANNELS.get(where, where)
        return cid, "group" if cid.startswith("G") else "channel"

    async def message(
        self,
        email: str,
        text: str,
        *,
        where: str = "dm",
        thread: str | None = None,
        mention: bool = False,
        retry: int = 0,
        event_id: str | None = None,
        ts: str | None = None,
        files: list[dict[str, Any]] | None = None,
        user: str | None = None,
    ) -> tuple[Answer, str]:
        user = user or self.uid(email)
        channel, channel_type = self.channel(email, where, user=user)
        body_text = f"<@{BOT_USER}> {text}" if mention else text
        if ts is None:
            ts = self.fake.add_message(channel, user, body_text, thread_ts=thread).ts
        payload = fixture(
            "event_file_share" if files else "event_message",
            USER=user,
            CHANNEL=channel,
            CHANNEL_TYPE=channel_type,
            TEXT=body_text,
            TS=ts,
            EVENT_ID=event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
            FILES=files or [],
        )
        if thread:
            payload["event"]["thread_ts"] = thread
        answer = await self.deliver("events_api", payload, retry=retry)
        return answer, ts

    async def event(self, name: str, *, retry: int = 0, **values: Any) -> Answer:
        values.setdefault("EVENT_ID", f"Ev{uuid.uuid4().hex[:10].upper()}")
        values.setdefault("TS", self.fake.next_ts())
        return await self.deliver("events_api", fixture(name, **values), retry=retry)

    def command_payload(
        self, email: str | None, text: str, *, where: str = "dm", user: str | None = None
    ) -> dict[str, Any]:
        user = user or self.uid(email or "")
        if where == "dm":
            channel, name = self.fake._open_dm(user) if user in self.fake.users else "D0STRANGE1", "directmessage"
        else:
            channel = CHANNELS.get(where, where)
            name = CHANNEL_NAMES.get(channel, "random")
        return fixture(
            "slash_command",
            USER=user,
            CHANNEL=channel,
            CHANNEL_NAME=name,
            TEXT=text,
            RESPONSE_URL=self.fake.response_url(),
            TRIGGER=f"{next(self._n)}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex[:32]}",
        )

    async def command(self, email: str | None, text: str, *, where: str = "dm", user: str | None = None) -> Answer:
        return await self.deliver("slash_commands", self.command_payload(email, text, where=where, user=user))

    def press_payload(
        self, email: str, posted: Posted, action: str, *, ephemeral: bool = False, value: str | None = None
    ) -> dict[str, Any]:
        """A press of ``posted``'s first button for ``action`` (or the one carrying ``value``)."""
        element = next(
            e
            for b in posted.blocks
            if b.get("type") == "actions"
            for e in b["elements"]
            if e["action_id"].split(":", 1)[0] == action and (value is None or e.get("value") == value)
        )
        channel = self.fake.channels[posted.channel]
        payload = fixture(
            "block_actions",
            USER=self.uid(email),
            CHANNEL=posted.channel,
            CHANNEL_NAME="directmessage" if channel.is_im else channel.name,
            MESSAGE_TS=posted.ts,
            TRIGGER=f"{next(self._n)}.{uuid.uuid4().hex[:20]}",
            RESPONSE_URL=self.fake.response_url(),
            ACTION_ID=element["action_id"],
            LABEL=element["text"]["text"],
            VALUE=element.get("value", ""),
            BLOCKS=posted.blocks,
        )
        if posted.thread_ts:
            payload["container"]["thread_ts"] = posted.thread_ts
            payload["message"]["thread_ts"] = posted.thread_ts
        if ephemeral:
            payload["container"]["is_ephemeral"] = True
            payload.pop("message")
        return payload

    async def press(
        self, email: str, posted: Posted, action: str, *, ephemeral: bool = False, value: str | None = None
    ) -> Answer:
        payload = self.press_payload(email, posted, action, ephemeral=ephemeral, value=value)
        return await self.deliver("interactive", payload)

    async def press_home(self, email: str, element: dict[str, Any]) -> Answer:
        payload = fixture(
            "block_actions_home",
            USER=self.uid(email),
            TRIGGER=f"{next(self._n)}.{uuid.uuid4().hex[:20]}",
            ACTION_ID=element["action_id"],
            LABEL=element["text"]["text"],
            VALUE=element.get("value", ""),
        )
        return await self.deliver("interactive", payload)

    async def submit(
        self, email: str, modal: dict[str, Any], *, text: str | None, files: list[dict[str, Any]] | None = None
    ) -> Answer:
        values: dict[str, Any] = {}
        if any(b["block_id"] == "text" for b in modal["blocks"]):
            values["text"] = {"text": {"type": "plain_text_input", "value": text}}
        if files is not None:
            values["file"] = {"file": {"type": "file_input", "files": files}}
        payload = fixture(
            "view_submission",
            USER=self.uid(email),
            TRIGGER=f"{next(self._n)}.{uuid.uuid4().hex[:20]}",
            METADATA=modal["private_metadata"],
            VALUES=values,
        )
        return await self.deliver("interactive", payload)


def texts(items: list[Posted]) -> list[str]:
    return [m.text for m in items]


class ManualTime:
    """A monotonic clock and a sleep for the adapter's throttle, moved by the test."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)  # time only moves when the test moves it


def manual_throttle(slack: SlackHarness) -> ManualTime:
    time_ = ManualTime()
    slack.adapter.api.throttle = Throttle(clock=time_, sleep=time_.sleep)
    return time_
