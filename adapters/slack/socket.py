"""Socket Mode: Slack's WebSocket, through slack_sdk's aiohttp client and Bolt's own
dispatch (the same listeners as HTTP mode; only the transport differs).

Two changes to the stock handler: an envelope is acknowledged as soon as Bolt answers
(our listeners only queue the work, see :mod:`adapters.slack.app`), and a refused app
token does not spin: ``apps.connections.open`` is retried with a growing pause (up to ten
minutes) and the reason logged once per pause, instead of an error every ten seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from slack_bolt.adapter.socket_mode.async_base_handler import AsyncBaseSocketModeHandler
from slack_bolt.adapter.socket_mode.async_internals import run_async_bolt_app, send_async_response
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger("peerbot.slack")

RECONNECT_FIRST = 5.0
RECONNECT_MAX = 600.0


class PatientSocketModeClient(SocketModeClient):
    """slack_sdk's client, backing off when Slack will not hand out a connection."""

    reconnect_first: float = RECONNECT_FIRST

    async def issue_new_wss_url(self) -> str:
        delay = self.reconnect_first
        while True:
            try:
                return await super().issue_new_wss_url()
            except (SlackApiError, SlackClientError, aiohttp.ClientError, TimeoutError, OSError) as exc:
                if self.closed:
                    raise
                reason = _reason(exc)
                log.error("slack: cannot open a Socket Mode connection (%s); trying again in %.0fs", reason, delay)
                await asyncio.sleep(delay)
                delay = min(RECONNECT_MAX, delay * 2)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, SlackApiError):
        try:
            return str(exc.response.get("error") or "refused")
        except (AttributeError, TypeError):
            return "refused"
    return type(exc).__name__


class SocketModeRunner(AsyncBaseSocketModeHandler):
    """Bolt's AsyncApp over :class:`PatientSocketModeClient`."""

    app: AsyncApp
    client: PatientSocketModeClient

    def __init__(
        self,
        app: AsyncApp,
        *,
        app_token: str,
        web_client: AsyncWebClient,
        logger: logging.Logger,
        receiving: Callable[[], contextlib.AbstractContextManager[None]] = contextlib.nullcontext,
        ping_interval: float = 10,
    ) -> None:
        self.app = app
        self.receiving = receiving
        self.app_token = app_token
        self.client = PatientSocketModeClient(
            app_token=app_token, logger=logger, web_client=web_client, ping_interval=ping_interval
        )
        self.client.socket_mode_request_listeners.append(self.handle)
        self._connecting: asyncio.Task[None] | None = None

    async def handle(self, client: Any, req: SocketModeRequest) -> None:
        start = time.time()
        with self.receiving():
            response = await run_async_bolt_app(self.app, req)
            await send_async_response(client, req, response, start)

    async def start(self) -> None:
        """Connect in the background: a refused token must not stop the process starting."""
        self._connecting = asyncio.create_task(self.client.connect(), name="slack:socket")  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        self.client.closed = True
        if self._connecting is not None and not self._connecting.done():
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._connecting
        await self.client.close()  # type: ignore[no-untyped-call]
