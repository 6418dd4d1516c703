"""Sending: the outbox's :class:`~bot.delivery.Transport` for Slack, and the immediate
replies to the event being handled.

Targets in Slack's idiom:

- a group → ``chat.postMessage`` in its channel; a thread → with ``thread_ts``;
- a person → ``conversations.open`` (cached) then ``chat.postMessage`` in the DM; when
  Slack will not deliver it and the core gave a fallback thread, a mention there instead;
- an edit → ``chat.update`` (or, for an ephemeral message whose button was just pressed,
  its ``response_url`` with ``replace_original``);
- files → the v2 upload flow, shared in the same conversation after the text.

Nothing twice: every outbox message carries its key in Slack message ``metadata``
(``event_type`` ``peerbot_outbox``). A row retried after a crash (``attempt > 1``) is
first looked for in the conversation's recent history (the last
:data:`HISTORY_LOOKBACK` messages, or the thread), and not resent when found. Remaining
risk: a message pushed out of that window by a very busy channel between the crash and
the retry (about five minutes) would be sent twice.

Failures become the deliverer's kinds: a 429 or our own tier limit → ``RateLimited``
(the row waits, nothing is dropped); a refused token or missing scope → ``RateLimited``
with a growing wait, so messages wait for the convenor to reinstall the app instead of
failing; an archived channel or a deactivated user → ``PermanentError`` with a sentence
for the convenor; anything else → ``TransientError``.
"""

from __future__ import annotations

import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from adapters.slack import files as slack_files
from adapters.slack.api import (
    SlackApi,
    SlackAuthFailure,
    SlackFailure,
    SlackRateLimited,
    SlackRefused,
    SlackUnavailable,
)
from adapters.slack.blocks import message_payload
from adapters.slack.translate import PLATFORM, Incoming, is_dm_channel
from bot.delivery import Address, PermanentError, RateLimited, TransientError
from bot.events import AnyEvent, ButtonPressed, CommandInvoked, MessagePosted, MessageRef
from bot.replies import Message, Outgoing, OutgoingFile, Respond

log = logging.getLogger("peerbot.slack")

OUTBOX_EVENT_TYPE = "peerbot_outbox"
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")  # the only thing the adapter ever mentions
HISTORY_LOOKBACK = 100
RESPONSE_URL_TTL = 25 * 60  # Slack keeps a response_url for 30 minutes
RESPONSE_URL_CACHE = 2000
AUTH_WAIT_FIRST = 60.0
AUTH_WAIT_MAX = 30 * 60.0
SCOPE_WAIT = 15 * 60.0
HELD_MESSAGE_NOTE = "Slack refused the bot token"  # how a held message's last_error begins
EXPOSED_NOTE = "held back"  # how the last_error of a message for a public private-group channel begins
PRIVACY_WAIT = 5 * 60.0  # such a message is looked at again after this long (or when released)
# The token itself is refused: nothing will work, so every sender waits.
TOKEN_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "app_uninstalled",
        "team_access_not_granted",
        "org_login_required",
    }
)

REFUSALS = {
    "channel_not_found": "the Slack channel was not found (deleted, or a private channel peerbot was never invited to)",
    "not_in_channel": "peerbot is not in that Slack channel: invite it with /invite @peerbot",
    "is_archived": "the Slack channel is archived",
    "channel_is_archived": "the Slack channel is archived",
    "user_not_found": "that person is not in the Slack workspace (check their slack_id in the people file)",
    "users_not_found": "that person is not in the Slack workspace (check their slack_id in the people file)",
    "user_disabled": "that person's Slack account has been deactivated",
    "user_not_visible": "that person's Slack account cannot be reached by the bot",
    "cannot_dm_bot": "that slack_id belongs to a bot, not a person",
    "messages_tab_disabled": "the app's Messages tab is turned off: turn it on under App Home in the app's settings",
    "message_not_found": "the message to update no longer exists",
    "cant_update_message": "the message to update was not sent by peerbot",
    "edit_window_closed": "the message is too old to update",
    "msg_too_long": "the message is too long for Slack",
    "restricted_action": "the workspace does not let peerbot post there",
}


class PartlySent(SlackFailure):
    """The text went but its files did not: the retry must look before it resends."""

    def __init__(self, cause: SlackFailure) -> None:
        super().__init__(cause.method, cause.code, "the text was posted, the files were not")
        self.cause = cause


def describe(failure: SlackFailure) -> str:
    return REFUSALS.get(failure.code, f"Slack refused it ({failure.method}: {failure.code})")


@dataclass
class Identity:
    """Who the bot is in the workspace (from ``auth.test``)."""

    team_id: str = ""
    bot_user_id: str = ""
    bot_id: str = ""
    app_id: str = ""


@dataclass
class Access:
    """Whether Slack currently accepts the bot token; shared by everything that sends."""

    problem: str | None = None
    retry_at: float = 0.0
    wait: float = AUTH_WAIT_FIRST
    since: float = field(default_factory=time.monotonic)
    # The adapter's hooks: watch for a fix once refused; release waiting messages once fixed.
    on_refused: Callable[[], None] | None = None
    on_recovered: Callable[[], None] | None = None

    def refused(self, code: str) -> float:
        now = time.monotonic()
        if self.problem is None:
            log.error(
                "slack: Slack refused the bot token (%s); messages will wait until the app is fixed "
                "(run `peerbot slack check`)",
                code,
            )
            self.wait = AUTH_WAIT_FIRST
            self.since = now
            self.retry_at = now + self.wait
        elif now >= self.retry_at:
            # A try after the pause failed too: pause longer (calls refused in the same
            # moment, such as several messages sent at once, do not count again).
            self.wait = min(AUTH_WAIT_MAX, self.wait * 2)
            self.retry_at = now + self.wait
        self.problem = code
        if self.on_refused is not None:
            self.on_refused()
        return self.wait

    def ok(self) -> None:
        recovered = self.problem is not None
        self.problem = None
        self.wait = AUTH_WAIT_FIRST
        if recovered:
            log.warning("slack: Slack accepts the bot token again; waiting messages will go out")
            if self.on_recovered is not None:
                self.on_recovered()

    def blocked_for(self) -> float:
        """Seconds to wait before trying Slack again (0 when it may be tried now)."""
        if self.problem is None:
            return 0.0
        return max(0.0, self.retry_at - time.monotonic())


@dataclass
class Exposure:
    """The private groups' channels (``slack.private_groups``) and which of them anyone in
    the workspace can read just now, as Slack last said (``conversations.info``). Nothing
    is posted in a channel while it is public: queued messages wait, replies go privately."""

    channels: dict[str, str] = field(default_factory=dict)  # channel id → private group
    public: dict[str, str] = field(default_factory=dict)  # of those, the ones now public

    def group_of(self, channel_id: str | None) -> str | None:
        """The private group whose channel ``channel_id`` is, if that channel is public now."""
        return self.public.get(channel_id) if channel_id else None


class ExposedChannel(SlackFailure):
    """Not sent: the channel belongs to a private group and is public just now."""

    def __init__(self, method: str, group: str) -> None:
        super().__init__(method, "channel_is_public", f"the {group} channel can be read by anyone")
        self.group = group


class SlackSender:
    """The calls every send is made of, shared by the transport and the responder."""

    def __init__(self, api: SlackApi, identity: Identity, access: Access, exposure: Exposure | None = None) -> None:
        self.api = api
        self.identity = identity
        self.access = access
        self.exposure = exposure or Exposure()
        self._dm: dict[str, str] = {}
        self._response_urls: OrderedDict[tuple[str, str], tuple[str, float]] = OrderedDict()

    async def call(self, method: str, *, interactive: bool, **kwargs: Any) -> dict[str, Any]:
        blocked = self.access.blocked_for()
        if blocked > 0:
            raise SlackAuthFailure(method, self.access.problem or "invalid_auth", "waiting for the app to be fixed")
        try:
            result = await self.api.call(method, interactive=interactive, **kwargs)
        except SlackAuthFailure as exc:
            if exc.code in TOKEN_ERRORS:
                self.access.refused(exc.code)
            raise
        if self.access.problem is not None:
            self.access.ok()
        return result

    async def dm_channel(self, user_id: str, *, interactive: bool) -> str:
        channel = self._dm.get(user_id)
        if channel is None:
            opened = await self.call("conversations.open", interactive=interactive, params={"users": user_id})
            found = opened.get("channel")
            channel = found.get("id") if isinstance(found, dict) else None
            if not isinstance(channel, str) or not channel:
                raise SlackUnavailable("conversations.open", "no_channel")
            self._dm[user_id] = channel
        return channel

    async def post(
        self,
        channel: str,
        message: Message,
        *,
        thread_ts: str | None,
        key: str | None,
        interactive: bool,
        mention: str | None = None,
    ) -> MessageRef:
        self.refuse_if_exposed(channel, "chat.postMessage")
        body: dict[str, Any] = {
            "channel": channel,
            **message_payload(message, lead=f"<@{mention}> " if mention and USER_ID.match(mention) else ""),
            # Never unfurl: a link to a DSL thread must not show its content anywhere else.
            "unfurl_links": False,
            "unfurl_media": False,
        }
        if thread_ts:
            body["thread_ts"] = thread_ts
        if key:
            body["metadata"] = {"event_type": OUTBOX_EVENT_TYPE, "event_payload": {"key": key}}
        posted = await self.call("chat.postMessage", interactive=interactive, channel=channel, json_body=body)
        ts = posted.get("ts")
        where = posted.get("channel") or channel
        if not isinstance(ts, str) or not isinstance(where, str):
            raise SlackUnavailable("chat.postMessage", "no_ts")
        ref = MessageRef(platform=PLATFORM, channel_id=where, message_id=ts, thread_id=thread_ts)
        if message.files:
            try:
                await self.upload(where, message.files, thread_ts=thread_ts, interactive=interactive)
            except SlackFailure as exc:
                raise PartlySent(exc) from None
        return ref

    def refuse_if_exposed(self, channel: str, method: str) -> None:
        """The last check before anything is posted, edited or shared in a channel."""
        group = self.exposure.group_of(channel)
        if group is not None:
            raise ExposedChannel(method, group)

    async def upload(
        self, channel: str, files: Sequence[OutgoingFile], *, thread_ts: str | None, interactive: bool
    ) -> list[str]:
        self.refuse_if_exposed(channel, "files.completeUploadExternal")
        blocked = self.access.blocked_for()
        if blocked > 0:
            raise SlackAuthFailure("files.upload", self.access.problem or "invalid_auth")
        try:
            return await slack_files.upload(
                self.api, files, channel=channel, thread_ts=thread_ts, interactive=interactive
            )
        except SlackAuthFailure as exc:
            if exc.code in TOKEN_ERRORS:
                self.access.refused(exc.code)
            raise

    async def ephemeral(self, channel: str, user: str, message: Message, *, thread_ts: str | None) -> None:
        body: dict[str, Any] = {"channel": channel, "user": user, **message_payload(message)}
        if thread_ts:
            body["thread_ts"] = thread_ts
        await self.call("chat.postEphemeral", interactive=True, json_body=body)

    async def update(self, channel: str, ts: str, message: Message, *, interactive: bool) -> None:
        cached = self._response_urls.get((channel, ts))
        if cached is not None and cached[1] > time.monotonic():
            # An ephemeral message: only its reader sees the edit, wherever it is.
            await self.api.respond(cached[0], {**message_payload(message), "replace_original": True})
            return
        self.refuse_if_exposed(channel, "chat.update")
        body = {"channel": channel, "ts": ts, **message_payload(message)}
        await self.call("chat.update", interactive=interactive, json_body=body)

    def remember_response_url(self, channel: str, ts: str, url: str) -> None:
        """An ephemeral message's buttons were pressed: keep its ``response_url`` so that an
        edit of it in the next minutes replaces it (``chat.update`` cannot)."""
        self._response_urls[(channel, ts)] = (url, time.monotonic() + RESPONSE_URL_TTL)
        self._response_urls.move_to_end((channel, ts))
        while len(self._response_urls) > RESPONSE_URL_CACHE:
            self._response_urls.popitem(last=False)

    async def history(self, channel: str, thread_ts: str | None, *, oldest: str | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"channel": channel, "limit": HISTORY_LOOKBACK, "include_all_metadata": True}
        if oldest:
            params["oldest"] = oldest
        if thread_ts:
            params["ts"] = thread_ts
            found = await self.call("conversations.replies", interactive=False, params=params)
        else:
            found = await self.call("conversations.history", interactive=False, params=params)
        messages = found.get("messages")
        return [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []

    def _ours(self, m: dict[str, Any]) -> bool:
        ident = self.identity
        return bool(
            (ident.bot_id and m.get("bot_id") == ident.bot_id)
            or (ident.bot_user_id and m.get("user") == ident.bot_user_id)
            or (ident.app_id and m.get("app_id") == ident.app_id)
        )

    async def find_posted(self, channel: str, thread_ts: str | None, key: str) -> MessageRef | None:
        """The message already posted under ``key`` in this conversation, if any. When the
        history cannot be read, ``None``: better a possible duplicate than a message that
        never goes."""
        try:
            history = await self.history(channel, thread_ts)
        except (SlackRefused, SlackUnavailable) as exc:
            log.warning("slack: could not look for %s in the history (%s); sending it", key, exc.code)
            return None
        for m in history:
            metadata = m.get("metadata")
            if not isinstance(metadata, dict) or metadata.get("event_type") != OUTBOX_EVENT_TYPE:
                continue
            payload = metadata.get("event_payload")
            if isinstance(payload, dict) and payload.get("key") == key and isinstance(m.get("ts"), str):
                return MessageRef(platform=PLATFORM, channel_id=channel, message_id=m["ts"], thread_id=thread_ts)
        return None

    async def shared_file_names(self, channel: str, thread_ts: str | None, after_ts: str) -> set[str]:
        names: set[str] = set()
        for m in await self.history(channel, thread_ts, oldest=after_ts):
            if not self._ours(m):
                continue
            for f in m.get("files") or []:
                if isinstance(f, dict) and isinstance(f.get("name"), str):
                    names.add(f["name"])
        return names


class SlackTransport:
    """What the outbox delivers through (:class:`bot.delivery.Transport`)."""

    platform = PLATFORM

    def __init__(self, sender: SlackSender) -> None:
        self.sender = sender

    async def send(self, address: Address, message: Message, *, key: str | None, attempt: int) -> MessageRef:
        try:
            return await self._send(address, message, key=key, attempt=attempt)
        except ExposedChannel as exc:
            # Not a failure: it waits (without counting attempts) until the channel is
            # private again, when the adapter releases it at once.
            raise RateLimited(
                PRIVACY_WAIT,
                f"{EXPOSED_NOTE}: the {exc.group} channel can be read by anyone in "
                "the workspace; it goes once the channel is private",
            ) from None
        except PartlySent as exc:
            # Whatever stopped the files (a 429, a missing scope), retry as a new attempt so
            # that the text, already posted, is found in the history and not sent again.
            raise TransientError(str(exc)) from None
        except SlackRateLimited as exc:
            raise RateLimited(exc.retry_after, f"Slack rate limit on {exc.method}") from None
        except SlackAuthFailure as exc:
            if exc.code in TOKEN_ERRORS:
                wait = max(self.sender.access.blocked_for(), AUTH_WAIT_FIRST)
                detail = f"{HELD_MESSAGE_NOTE} ({exc.code}); waiting for the app to be reinstalled"
            else:
                wait = SCOPE_WAIT
                detail = (
                    f"the Slack app lacks a permission ({exc.code} on {exc.method}); waiting for it to be reinstalled"
                )
            raise RateLimited(wait, detail) from None
        except SlackRefused as exc:
            raise PermanentError(describe(exc)) from None
        except SlackUnavailable as exc:
            raise TransientError(str(exc)) from None

    async def _send(self, address: Address, message: Message, *, key: str | None, attempt: int) -> MessageRef:
        if address.kind == "edit":
            if not address.channel_id or not address.message_id:
                raise SlackRefused("chat.update", "message_not_found")
            if message.files:
                log.info("slack: an edit cannot carry files; the text was updated without them")
            await self.sender.update(address.channel_id, address.message_id, message, interactive=False)
            return MessageRef(
                platform=PLATFORM,
                channel_id=address.channel_id,
                message_id=address.message_id,
                thread_id=address.thread_id,
            )
        if address.kind == "dm":
            if not address.user_id:
                raise SlackRefused("conversations.open", "user_not_found")
            try:
                channel = await self.sender.dm_channel(address.user_id, interactive=False)
                return await self._post(channel, None, message, key=key, attempt=attempt)
            except SlackRefused:
                if address.fallback is None:
                    raise
                fallback = address.fallback
                return await self._post(
                    fallback.channel_id,
                    fallback.thread_root,
                    message,
                    key=f"{key}:fallback" if key else None,
                    attempt=attempt,
                    mention=address.user_id,
                )
        if not address.channel_id:
            raise SlackRefused("chat.postMessage", "channel_not_found")
        thread = address.thread_id if address.kind == "thread" else None
        return await self._post(address.channel_id, thread, message, key=key, attempt=attempt)

    async def _post(
        self,
        channel: str,
        thread_ts: str | None,
        message: Message,
        *,
        key: str | None,
        attempt: int,
        mention: str | None = None,
    ) -> MessageRef:
        if attempt > 1 and key:
            found = await self.sender.find_posted(channel, thread_ts, key)
            if found is not None:
                log.info("slack: outbox %s was already posted before a restart; not sending it twice", key)
                if message.files:
                    names = await self.sender.shared_file_names(channel, thread_ts, found.message_id)
                    missing = [f for f in message.files if f.name not in names]
                    if missing:
                        await self.sender.upload(channel, missing, thread_ts=thread_ts, interactive=False)
                return found
        return await self.sender.post(
            channel, message, thread_ts=thread_ts, key=key, interactive=False, mention=mention
        )


def reply_key(event: AnyEvent, n: int) -> str | None:
    """The key of the ``n``-th immediate reply to ``event`` (in its message metadata, and in
    the outbox when it goes later); ``None`` for an event without an id."""
    return f"slack:reply:{event.event_id}:{n}" if event.event_id else None


# An immediate reply that cannot go now (the ``Undelivered`` hook): it is handed to the
# outbox, to go later; returns whether it was queued.
Undelivered = Callable[[Incoming, int, Respond, Message], Awaitable[bool]]
# Those of these reply keys that were handed to the outbox (:meth:`bot.app.PeerBot.queued`).
Queued = Callable[[Sequence[str]], Awaitable[set[str]]]


def worth_queueing(failure: SlackFailure) -> bool:
    """Whether a reply that failed this way should be delivered later through the outbox:
    a rate limit, Slack unreachable, the token or a scope refused (the outbox holds it until
    the app is fixed), or a ``response_url`` that has expired. Not a reply whose text went
    and whose files did not (the text would go twice), nor one Slack refuses for good."""
    if isinstance(failure, PartlySent):
        return False
    if isinstance(failure, SlackRateLimited | SlackUnavailable | SlackAuthFailure):
        return True
    return failure.method == "response_url"


class Responder:
    """Immediate replies to the event being handled (``Respond`` targets).

    A reply Slack will not take now (a rate limit past what a reply may wait, an outage, a
    refused token, an expired ``response_url``) is not dropped: the ``undelivered`` hook
    hands it to the outbox, which delivers it as soon as Slack allows.

    A reply posted as a message carries its key (:func:`reply_key`) in its metadata, as an
    outbox message does. Replies sent ``again`` (kept by a handling that committed before a
    restart, perhaps sent, perhaps not) are first looked for by that key and not posted
    twice; an ephemeral note or a command's response cannot be looked for afterwards, and
    is sent again. One that was handed to the outbox then (the ``queued`` hook finds its
    key there) is left to the outbox.
    """

    def __init__(
        self, sender: SlackSender, *, undelivered: Undelivered | None = None, queued: Queued | None = None
    ) -> None:
        self.sender = sender
        self.undelivered = undelivered
        self.queued = queued

    async def deliver(self, incoming: Incoming, replies: Sequence[Outgoing], *, again: bool = False) -> None:
        keys = [reply_key(incoming.event, i) for i in range(len(replies))]
        handed_over = await self.queued([k for k in keys if k]) if again and self.queued else set()
        for i, out in enumerate(replies):
            target = out.target
            if not isinstance(target, Respond) or keys[i] in handed_over:
                continue
            try:
                await self.one(incoming, target, out.message, key=keys[i], again=again)
            except SlackFailure as exc:
                kind = type(incoming.event).__name__
                if self.undelivered is not None and worth_queueing(exc):
                    try:
                        if await self.undelivered(incoming, i, target, out.message):
                            log.info("slack: a reply to a %s could not go now (%s); it will go later", kind, exc)
                            continue
                    except Exception as queue_exc:  # the database: say so, and carry on with the rest
                        log.error("slack: could not keep a reply for later (%s)", type(queue_exc).__name__)
                log.warning("slack: a reply to a %s could not be delivered (%s)", kind, exc)

    async def one(
        self, incoming: Incoming, target: Respond, message: Message, *, key: str | None = None, again: bool = False
    ) -> None:
        event = incoming.event
        place = event.place
        user = event.sender.user_id
        exposed = None if place.is_direct else self.sender.exposure.group_of(place.channel_id)
        if exposed is not None and not target.private:
            log.warning("slack: the %s channel can be read by anyone: replying privately instead", exposed)
            target = Respond(private=True, in_thread=target.in_thread)
        if message.files and (target.private or place.is_direct):
            # Ephemeral messages cannot carry files: the whole answer goes to the person's DM.
            channel = await self._dm(place.channel_id, user)
            await self._post(channel, message, thread_ts=None, key=key, again=again)
            return
        url = incoming.response_url
        if url and (
            isinstance(event, CommandInvoked)
            or (isinstance(event, ButtonPressed) and (target.private or incoming.ephemeral))
        ):
            private = target.private or place.is_direct
            await self.sender.api.respond(
                url,
                {
                    **message_payload(message),
                    "response_type": "ephemeral" if private else "in_channel",
                    "replace_original": False,
                },
            )
            if message.files:
                await self.sender.upload(place.channel_id, message.files, thread_ts=place.thread_id, interactive=True)
            return
        thread = self._thread(event, in_thread=target.in_thread)
        if place.is_direct:
            channel = await self._dm(place.channel_id, user)
            await self._post(channel, message, thread_ts=place.thread_id, key=key, again=again)
            return
        if target.private:
            try:
                await self.sender.ephemeral(place.channel_id, user, message, thread_ts=place.thread_id)
            except SlackRefused:
                # The bot (or the person) is not in that channel any more: tell them directly.
                channel = await self.sender.dm_channel(user, interactive=True)
                await self._post(channel, message, thread_ts=None, key=key, again=again)
            return
        await self._post(place.channel_id, message, thread_ts=thread, key=key, again=again)

    async def _post(
        self, channel: str, message: Message, *, thread_ts: str | None, key: str | None, again: bool
    ) -> None:
        if again and key and await self.sender.find_posted(channel, thread_ts, key):
            log.info("slack: a kept reply had gone before the restart; not sent again")
            return
        await self.sender.post(channel, message, thread_ts=thread_ts, key=key, interactive=True)

    async def _dm(self, channel_id: str, user: str) -> str:
        if is_dm_channel(channel_id):
            return channel_id
        return await self.sender.dm_channel(user, interactive=True)

    @staticmethod
    def _thread(event: AnyEvent, *, in_thread: bool) -> str | None:
        if isinstance(event, MessagePosted):
            return (event.place.thread_id or event.message_id) if in_thread else event.place.thread_id
        if isinstance(event, ButtonPressed):
            if in_thread and event.message is not None:
                return event.message.thread_root
            return event.place.thread_id
        return event.place.thread_id
