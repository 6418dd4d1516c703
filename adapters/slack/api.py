"""Calling the Slack Web API: one shared connection pool, Slack's rate tiers kept on our
side, HTTP 429 honoured, and every failure sorted into what to do about it.

- :class:`Throttle` keeps a token bucket per method (per channel for
  ``chat.postMessage``: about one message a second each) at Slack's published tier
  rates, and pauses a method for ``Retry-After`` when Slack answers 429.
- :class:`SlackApi` calls through the throttle. Immediate replies (``interactive``) wait
  their turn and retry 429s a few times; outbox deliveries never wait long — they raise
  :class:`SlackRateLimited` at once so the outbox row goes back to ``pending`` until then.
- Failures: :class:`SlackRateLimited`, :class:`SlackAuthFailure` (token revoked, app
  uninstalled, scope missing: nothing will work until the convenor fixes it),
  :class:`SlackRefused` (this call will never work: channel archived, user gone) and
  :class:`SlackUnavailable` (a timeout, a 5xx, the connection dropped).

Log lines name the method and Slack's error code, never arguments or message text.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

log = logging.getLogger("peerbot.slack")

# Requests per minute, per workspace (docs.slack.dev "Rate limits").
TIER_RATE = {1: 1, 2: 20, 3: 50, 4: 100}
METHOD_TIER = {
    "apps.connections.open": 1,
    "auth.test": 4,
    "chat.postEphemeral": 4,
    "chat.update": 3,
    "chat.delete": 3,
    "conversations.history": 3,
    "conversations.replies": 3,
    "conversations.info": 3,
    "conversations.open": 3,
    "files.getUploadURLExternal": 4,
    "files.completeUploadExternal": 4,
    "files.upload": 4,
    "users.info": 4,
    "users.list": 2,
    "views.open": 4,
    "views.publish": 4,
    "views.update": 4,
}
POST_MESSAGE_PER_SECOND = 1.0  # chat.postMessage: about one a second per channel, short bursts allowed
POST_MESSAGE_BURST = 3
OUTBOX_MAX_WAIT = 2.0  # longer than this and an outbox row is handed back to wait in the database
INTERACTIVE_MAX_WAIT = 30.0  # an immediate reply later than this is stale: give up (and log it)
INTERACTIVE_429_RETRIES = 3
MAX_RETRY_AFTER = 300.0

AUTH_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "missing_scope",
        "no_permission",
        "not_allowed_token_type",
        "team_access_not_granted",
        "org_login_required",
        "ekm_access_denied",
        "app_uninstalled",
    }
)
TRANSIENT_ERRORS = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "team_added_to_org", "accesslimited"}
)
REFUSED_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "channel_is_archived",
        "msg_too_long",
        "no_text",
        "too_many_attachments",
        "restricted_action",
        "restricted_action_read_only_channel",
        "restricted_action_thread_only_channel",
        "restricted_action_non_threadable_channel",
        "posting_to_general_channel_denied",
        "cannot_reply_to_message",
        "thread_not_found",
        "user_not_found",
        "users_not_found",
        "user_not_visible",
        "user_disabled",
        "cannot_dm_bot",
        "user_not_in_channel",
        "messages_tab_disabled",
        "message_not_found",
        "cant_update_message",
        "edit_window_closed",
        "invalid_blocks",
        "invalid_blocks_format",
        "invalid_arguments",
        "invalid_arg_name",
        "invalid_metadata_format",
        "invalid_metadata_schema",
        "metadata_too_large",
        "invalid_ts_latest",
        "invalid_ts_oldest",
        "file_not_found",
        "expired_trigger_id",
        "invalid_trigger_id",
        "exchanged_trigger_id",
        "view_too_large",
        "not_found",
        "no_such_subteam",
    }
)


class SlackFailure(Exception):
    def __init__(self, method: str, code: str, detail: str = "") -> None:
        self.method = method
        self.code = code
        super().__init__(f"{method}: {code}" + (f" ({detail})" if detail else ""))


class SlackRateLimited(SlackFailure):
    def __init__(self, method: str, retry_after: float) -> None:
        super().__init__(method, "ratelimited", f"retry after {retry_after:.1f}s")
        self.retry_after = retry_after


class SlackAuthFailure(SlackFailure):
    """The token was refused or lacks a scope: a convenor must reinstall or fix the app."""


class SlackRefused(SlackFailure):
    """This call will not work as it is (an archived channel, a deactivated user)."""


class SlackUnavailable(SlackFailure):
    """Slack could not be reached or failed on its side: worth trying again later."""


class ThrottleWait(Exception):
    def __init__(self, wait: float) -> None:
        super().__init__(f"wait {wait:.1f}s")
        self.wait = wait


@dataclass
class _Bucket:
    rate: float  # tokens per second
    capacity: float
    tokens: float
    updated: float
    paused_until: float = 0.0


class Throttle:
    """Token buckets per method (and per channel for chat.postMessage), shared by every
    caller in the process, plus pauses learnt from Slack's 429 answers."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._buckets: dict[str, _Bucket] = {}

    @staticmethod
    def key(method: str, channel: str | None = None) -> str:
        return f"{method}@{channel}" if method == "chat.postMessage" and channel else method

    def _bucket(self, key: str) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            method = key.split("@", 1)[0]
            if method == "chat.postMessage":
                rate, capacity = POST_MESSAGE_PER_SECOND, float(POST_MESSAGE_BURST)
            else:
                per_minute = TIER_RATE[METHOD_TIER.get(method, 3)]
                rate, capacity = per_minute / 60.0, max(1.0, per_minute / 10.0)
            bucket = _Bucket(rate=rate, capacity=capacity, tokens=capacity, updated=self._clock())
            self._buckets[key] = bucket
        return bucket

    def reserve(self, key: str, *, max_wait: float | None) -> float:
        """Take a turn; return how long to wait for it. Raise :class:`ThrottleWait`
        (taking nothing) when that is longer than ``max_wait``."""
        bucket = self._bucket(key)
        now = self._clock()
        bucket.tokens = min(bucket.capacity, bucket.tokens + (now - bucket.updated) * bucket.rate)
        bucket.updated = now
        wait = max(0.0, bucket.paused_until - now)
        after = bucket.tokens - 1
        if after < 0:
            wait = max(wait, -after / bucket.rate)
        if max_wait is not None and wait > max_wait:
            raise ThrottleWait(wait)
        bucket.tokens = after
        return wait

    async def acquire(self, key: str, *, max_wait: float | None = None) -> None:
        wait = self.reserve(key, max_wait=max_wait)
        if wait > 0:
            await self._sleep(wait)

    def pause(self, key: str, seconds: float) -> None:
        """Slack said 429: nobody calls this method (this channel) for ``seconds``."""
        bucket = self._bucket(key)
        bucket.paused_until = max(bucket.paused_until, self._clock() + seconds)
        bucket.tokens = min(bucket.tokens, 0.0)


def classify(method: str, error: SlackApiError) -> SlackFailure:
    response = error.response
    status = getattr(response, "status_code", 200) or 200
    code = ""
    try:
        code = str(response.get("error") or "")
    except (AttributeError, TypeError):
        code = ""
    if status == 429 or code == "ratelimited":
        headers = getattr(response, "headers", {}) or {}
        retry_after = _retry_after(headers)
        return SlackRateLimited(method, retry_after)
    code = code or f"http_{status}"
    if code in AUTH_ERRORS:
        return SlackAuthFailure(method, code)
    if code in REFUSED_ERRORS:
        return SlackRefused(method, code)
    if status >= 500 or code in TRANSIENT_ERRORS:
        return SlackUnavailable(method, code)
    if code.startswith("invalid_") or code.startswith("not_"):
        return SlackRefused(method, code)
    return SlackUnavailable(method, code)


def _form(params: dict[str, Any]) -> dict[str, str]:
    """Form fields as Slack reads them: booleans as ``true``/``false``, lists as JSON."""
    form: dict[str, str] = {}
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            form[name] = "true" if value else "false"
        elif isinstance(value, list | dict):
            form[name] = json.dumps(value, separators=(",", ":"))
        else:
            form[name] = str(value)
    return form


def _retry_after(headers: Any) -> float:
    raw: Any = None
    for name in ("Retry-After", "retry-after"):
        try:
            raw = headers.get(name)
        except AttributeError:
            raw = None
        if raw is not None:
            break
    if isinstance(raw, list | tuple):
        raw = raw[0] if raw else None
    try:
        return min(MAX_RETRY_AFTER, max(0.0, float(raw)))
    except (TypeError, ValueError):
        return 30.0


class SlackApi:
    """The Web API for one bot token, through one shared aiohttp session."""

    def __init__(
        self,
        *,
        token: str,
        base_url: str,
        throttle: Throttle | None = None,
        timeout: int = 15,
        logger: logging.Logger | None = None,
    ) -> None:
        self.token = token
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.throttle = throttle or Throttle()
        self.timeout = timeout
        self.logger = logger or logging.getLogger("peerbot.slack.sdk")
        self._session: aiohttp.ClientSession | None = None
        self._client: AsyncWebClient | None = None
        self.closed = False
        self.last_scopes: frozenset[str] | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                connector=aiohttp.TCPConnector(limit=32),
            )
            self._client = None
        return self._session

    @property
    def client(self) -> AsyncWebClient:
        """The client for our own calls (and, without a token, the template Bolt copies)."""
        if self._client is None or self._client.session is not self.session:
            self._client = self.make_client(self.token)
        return self._client

    def make_client(self, token: str | None) -> AsyncWebClient:
        return AsyncWebClient(
            token=token,
            base_url=self.base_url,
            session=self.session,
            timeout=self.timeout,
            logger=self.logger,
            retry_handlers=[AsyncConnectionErrorRetryHandler(max_retry_count=1)],
        )

    async def close(self) -> None:
        self.closed = True
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def call(
        self,
        method: str,
        *,
        interactive: bool,
        channel: str | None = None,
        params: dict[str, Any] | None = None,
        json_body: dict[str, Any] | None = None,
        token: str | None = None,
    ) -> dict[str, Any]:
        """Call ``method`` and return Slack's answer, or raise a :class:`SlackFailure`."""
        if self.closed:
            raise SlackUnavailable(method, "adapter_stopped")
        key = Throttle.key(method, channel)
        attempts = INTERACTIVE_429_RETRIES + 1 if interactive else 1
        for attempt in range(attempts):
            try:
                await self.throttle.acquire(key, max_wait=INTERACTIVE_MAX_WAIT if interactive else OUTBOX_MAX_WAIT)
            except ThrottleWait as wait:
                raise SlackRateLimited(method, wait.wait) from None
            try:
                client = self.client if token is None else self.make_client(token)
                if json_body is not None:
                    response = await client.api_call(method, json=json_body)
                else:
                    response = await client.api_call(method, data=_form(params or {}))
            except SlackApiError as exc:
                failure = classify(method, exc)
                if isinstance(failure, SlackRateLimited):
                    self.throttle.pause(key, failure.retry_after)
                    log.info("slack %s rate limited: waiting %.1fs", method, failure.retry_after)
                    if attempt + 1 < attempts:
                        continue
                raise failure from None
            except (aiohttp.ClientError, TimeoutError, SlackClientError, OSError) as exc:
                raise SlackUnavailable(method, type(exc).__name__) from None
            scopes = response.headers.get("x-oauth-scopes") if response.headers else None
            if isinstance(scopes, str) and token is None:
                self.last_scopes = frozenset(s.strip() for s in scopes.split(",") if s.strip())
            return dict(response.data) if isinstance(response.data, dict) else {}
        raise SlackUnavailable(method, "gave_up")  # the loop always returns or raises first

    async def respond(self, url: str, body: dict[str, Any]) -> None:
        """Post to an interaction's ``response_url`` (ephemeral answers to commands and buttons)."""
        if self.closed:
            raise SlackUnavailable("response_url", "adapter_stopped")
        webhook = AsyncWebhookClient(url=url, session=self.session, timeout=self.timeout, logger=self.logger)
        for attempt in range(INTERACTIVE_429_RETRIES + 1):
            try:
                response = await webhook.send_dict(body)
            except (aiohttp.ClientError, TimeoutError, SlackClientError, OSError) as exc:
                raise SlackUnavailable("response_url", type(exc).__name__) from None
            if response.status_code == 429 and attempt < INTERACTIVE_429_RETRIES:
                await asyncio.sleep(_retry_after(response.headers))
                continue
            if response.status_code == 404:
                raise SlackRefused("response_url", "expired")
            if response.status_code >= 500 or response.status_code == 429:
                raise SlackUnavailable("response_url", f"http_{response.status_code}")
            if response.status_code >= 400:
                raise SlackRefused("response_url", f"http_{response.status_code}")
            return
