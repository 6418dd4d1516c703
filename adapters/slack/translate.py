"""Slack payloads → the core's events (:mod:`bot.events`), plus what the adapter needs
to answer them (a ``response_url``, a ``trigger_id``, files still to fetch).

Pure functions: no I/O, no clock. Anything malformed raises :class:`Malformed` (the
listener acknowledges it, logs the kind and drops it, so Slack does not retry garbage).

Event ids, which the core uses to drop a repeat:

- a message is ``msg:CHANNEL:TS``, the same in every retry of its event *and* in the
  ``app_mention`` event Slack sends beside the ``message`` event for one mention, so a
  mention is handled once however it arrives;
- other events carry Slack's own ``event_id``;
- slash commands, button presses and modal submissions carry their ``trigger_id``, unique
  per interaction (a Socket Mode redelivery or a replayed request repeats it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from adapters.slack.blocks import ADAPTER_ACTION, MODAL_CALLBACK, Shortcut, action_of, shortcut_named
from adapters.slack.mrkdwn import from_slack
from bot.dispatch.dispatcher import split_command
from bot.events import (
    AnyEvent,
    ButtonPressed,
    CommandInvoked,
    MemberJoined,
    MessagePosted,
    MessageRef,
    Place,
    Sender,
)

PLATFORM = "slack"
MESSAGE_SUBTYPES = frozenset({"file_share", "thread_broadcast", "me_message"})  # people talking; others are noise
MAX_FILES = 10


class Malformed(ValueError):
    """A payload without something every payload of its kind has."""


@dataclass(frozen=True, slots=True)
class FileRef:
    """A file Slack holds, to download (with the bot token) before dispatching."""

    id: str
    name: str
    size: int
    mimetype: str | None
    url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Incoming:
    """A core event and how to answer it on Slack."""

    event: AnyEvent
    response_url: str | None = None
    trigger_id: str | None = None
    files: tuple[FileRef, ...] = ()
    ephemeral: bool = False  # the pressed button was on an ephemeral message
    from_home: bool = False  # pressed on the App Home tab


@dataclass(frozen=True, slots=True)
class HomeOpened:
    user_id: str


@dataclass(frozen=True, slots=True)
class AccessLost:
    """``tokens_revoked`` or ``app_uninstalled``."""

    reason: str


@dataclass(frozen=True, slots=True)
class OpenShortcut:
    """A home-tab button (or a bare ``/peerbot ask``) that opens a modal."""

    shortcut: Shortcut
    trigger_id: str
    user_id: str
    channel_id: str | None
    is_direct: bool


Translated = Incoming | HomeOpened | AccessLost | OpenShortcut | None


def _str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise Malformed(f"no {key}")
    return value


def _opt_str(data: Mapping[str, Any] | None, key: str) -> str | None:
    if not isinstance(data, Mapping):
        return None
    value = data.get(key)
    return value if isinstance(value, str) and value else None


def _map(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    if not isinstance(value, Mapping):
        raise Malformed(f"no {key}")
    return value


def _sender(user_id: str, name: str | None = None) -> Sender:
    return Sender(platform=PLATFORM, user_id=user_id, display_name=name)


def is_dm_channel(channel_id: str) -> bool:
    return channel_id.startswith("D")


def file_refs(files: Any) -> tuple[FileRef, ...]:
    """The downloadable files of a message or a file input (external links, deleted and
    Slack Connect files that need another call are skipped)."""
    if not isinstance(files, list):
        return ()
    found: list[FileRef] = []
    for f in files[:MAX_FILES]:
        if not isinstance(f, Mapping) or f.get("mode") in ("external", "tombstone", "hidden_by_limit"):
            continue
        if f.get("file_access") == "check_file_info":
            continue
        url = _opt_str(f, "url_private_download") or _opt_str(f, "url_private")
        file_id = _opt_str(f, "id")
        if not url or not file_id:
            continue
        size = f.get("size")
        found.append(
            FileRef(
                id=file_id,
                name=_opt_str(f, "name") or _opt_str(f, "title") or file_id,
                size=size if isinstance(size, int) and size >= 0 else 0,
                mimetype=_opt_str(f, "mimetype"),
                url=url,
            )
        )
    return tuple(found)


# -- Events API -------------------------------------------------------------------------
def event(body: Mapping[str, Any], *, bot_user_id: str | None, bot_id: str | None = None) -> Translated:
    """An ``event_callback`` body → what to do with it (``None``: acknowledge, nothing more)."""
    ev = _map(body, "event")
    kind = ev.get("type")
    if kind in ("message", "app_mention"):
        return _message(body, ev, bot_user_id=bot_user_id)
    if kind == "member_joined_channel":
        user = _str(ev, "user")
        if user == bot_user_id:
            return None  # the bot itself was added to a channel
        channel = _str(ev, "channel")
        return Incoming(
            event=MemberJoined(
                sender=_sender(user),
                place=Place(platform=PLATFORM, channel_id=channel),
                event_id=_opt_str(body, "event_id"),
                raw=body,
            )
        )
    if kind == "app_home_opened":
        if ev.get("tab", "home") != "home":
            return None
        return HomeOpened(_str(ev, "user"))
    if kind == "app_uninstalled":
        return AccessLost("app_uninstalled")
    if kind == "tokens_revoked":
        return AccessLost("tokens_revoked") if _ours_revoked(ev, bot_user_id=bot_user_id, bot_id=bot_id) else None
    return None


def _ours_revoked(ev: Mapping[str, Any], *, bot_user_id: str | None, bot_id: str | None) -> bool:
    """Whether ``tokens_revoked`` names our own bot. peerbot holds no user tokens, so only
    the ``bot`` list counts, and only when it lists our bot (its user id, or its bot id);
    another app's or another bot user's revocation changes nothing here. Before the bot
    knows who it is (``auth.test`` has not answered), any bot revocation counts: the token
    is then checked again, and a working one clears it."""
    tokens = ev.get("tokens")
    bots = tokens.get("bot") if isinstance(tokens, Mapping) else None
    if not isinstance(bots, list) or not bots:
        return False
    ours = {i for i in (bot_user_id, bot_id) if i}
    return not ours or any(isinstance(b, str) and b in ours for b in bots)


def _message(body: Mapping[str, Any], ev: Mapping[str, Any], *, bot_user_id: str | None) -> Translated:
    subtype = ev.get("subtype")
    if subtype is not None and subtype not in MESSAGE_SUBTYPES:
        return None  # edits, deletions, joins, topic changes, bot messages: nothing to do
    if ev.get("bot_id") or ev.get("hidden"):
        return None  # other bots (and our own echoes) are not people asking
    user = _str(ev, "user")
    channel = _str(ev, "channel")
    ts = _str(ev, "ts")
    raw_text = ev.get("text")
    text, mentioned = from_slack(raw_text if isinstance(raw_text, str) else "", bot_user_id=bot_user_id)
    if ev.get("type") == "app_mention":
        mentioned = True
    is_direct = ev.get("channel_type") == "im" or is_dm_channel(channel)
    thread = _opt_str(ev, "thread_ts")
    if thread == ts:
        thread = None
    place = Place(platform=PLATFORM, channel_id=channel, is_direct=is_direct, thread_id=thread)
    # Files are fetched only when they are given to the bot: in a DM, or with a mention.
    files = file_refs(ev.get("files")) if (is_direct or mentioned) else ()
    return Incoming(
        event=MessagePosted(
            sender=_sender(user),
            place=place,
            event_id=f"msg:{channel}:{ts}",
            text=text,
            message_id=ts,
            mentions_bot=mentioned,
            raw=body,
        ),
        files=files,
    )


# -- slash commands ---------------------------------------------------------------------
def command(body: Mapping[str, Any], *, bot_user_id: str | None) -> Incoming:
    """``/peerbot NAME TEXT`` → :class:`CommandInvoked` (a bare ``/peerbot`` is ``help``)."""
    user = _str(body, "user_id")
    channel = _opt_str(body, "channel_id") or ""
    raw_text = body.get("text")
    text, _ = from_slack(raw_text if isinstance(raw_text, str) else "", bot_user_id=bot_user_id)
    name, rest = split_command(text)
    is_direct = body.get("channel_name") == "directmessage" or is_dm_channel(channel)
    trigger = _opt_str(body, "trigger_id")
    return Incoming(
        event=CommandInvoked(
            sender=_sender(user, _opt_str(body, "user_name")),
            place=Place(platform=PLATFORM, channel_id=channel or user, is_direct=is_direct or not channel),
            event_id=f"cmd:{trigger}" if trigger else None,
            name=name or "help",
            text=rest,
            raw=body,
        ),
        response_url=_opt_str(body, "response_url"),
        trigger_id=trigger,
    )


# -- interactivity ----------------------------------------------------------------------
def block_action(body: Mapping[str, Any]) -> Translated:
    """A button press → :class:`ButtonPressed` (or, for the adapter's own home buttons, a
    modal to open). Other block elements (menus, date pickers) are not used by peerbot."""
    actions = body.get("actions")
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], Mapping):
        raise Malformed("no actions")
    first = actions[0]
    if first.get("type") != "button":
        return None
    action_id = _str(first, "action_id")
    value = first.get("value") if isinstance(first.get("value"), str) else ""
    user = _str(_map(body, "user"), "id")
    trigger = _opt_str(body, "trigger_id")
    container = body.get("container") if isinstance(body.get("container"), Mapping) else {}
    assert isinstance(container, Mapping)
    channel = _opt_str(container, "channel_id") or _opt_str(body.get("channel"), "id")
    if action_id.startswith(ADAPTER_ACTION):
        shortcut = shortcut_named(str(value))
        if shortcut is None or trigger is None:
            return None
        return OpenShortcut(
            shortcut=shortcut,
            trigger_id=trigger,
            user_id=user,
            channel_id=channel,
            is_direct=channel is None or is_dm_channel(channel),
        )
    ref: MessageRef | None = None
    from_home = False
    if container.get("type") == "message" and channel:
        ts = _str(container, "message_ts")
        message = body.get("message")
        thread = _opt_str(container, "thread_ts") or _opt_str(message, "thread_ts")
        if thread == ts:
            thread = None
        is_direct = is_dm_channel(channel) or _opt_str(body.get("channel"), "name") == "directmessage"
        place = Place(platform=PLATFORM, channel_id=channel, is_direct=is_direct, thread_id=thread)
        ref = MessageRef(platform=PLATFORM, channel_id=channel, message_id=ts, thread_id=thread)
    else:
        # The App Home tab (or a modal): no channel; answers go to the person's DM.
        place = Place(platform=PLATFORM, channel_id=user, is_direct=True)
        from_home = container.get("type") == "view"
    action_ts = _opt_str(first, "action_ts")
    event_id = f"act:{trigger}" if trigger else (f"act:{user}:{action_ts}" if action_ts else None)
    return Incoming(
        event=ButtonPressed(
            sender=_sender(user, _opt_str(body.get("user"), "name")),
            place=place,
            event_id=event_id,
            action=action_of(action_id),
            value=str(value),
            message=ref,
            raw=body,
        ),
        response_url=_opt_str(body, "response_url"),
        trigger_id=trigger,
        ephemeral=bool(container.get("is_ephemeral")),
        from_home=from_home,
    )


@dataclass(frozen=True, slots=True)
class Submission:
    """A modal submitted: the command to run, or what to tell the person instead."""

    incoming: Incoming | None
    errors: dict[str, str]


def view_submission(body: Mapping[str, Any], *, max_file_bytes: int) -> Submission | None:
    """A submitted peerbot modal → :class:`CommandInvoked` with its text and files.

    Returns ``None`` for a view that is not peerbot's; ``errors`` (shown under the inputs
    by Slack) for a file that is too big.
    """
    view = _map(body, "view")
    if view.get("callback_id") != MODAL_CALLBACK:
        return None
    user = _str(_map(body, "user"), "id")
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except (TypeError, ValueError):
        raise Malformed("private_metadata is not JSON") from None
    if not isinstance(meta, Mapping):
        raise Malformed("private_metadata is not an object")
    shortcut = shortcut_named(str(meta.get("s", "")))
    if shortcut is None:
        raise Malformed("unknown modal")
    state = view.get("state")
    values = state.get("values") if isinstance(state, Mapping) else None
    values = values if isinstance(values, Mapping) else {}
    text_value = _nested(values, "text", "text").get("value")
    text = text_value.strip() if isinstance(text_value, str) else ""
    files = file_refs(_nested(values, "file", "file").get("files"))
    if shortcut.with_file:
        too_big = [f for f in files if f.size > max_file_bytes]
        if too_big:
            f = too_big[0]
            return Submission(
                None,
                {"file": f"{f.name} is {_mb(f.size)}: the limit is {_mb(max_file_bytes)}. Nothing was shared."},
            )
        if not files:
            return Submission(None, {"file": "Choose a file to share."})
    channel = meta.get("c") if isinstance(meta.get("c"), str) and meta.get("c") else None
    is_direct = bool(meta.get("d")) or channel is None
    trigger = _opt_str(body, "trigger_id")
    chosen = _nested(values, "option", "option").get("selected_options")
    ticked = (
        shortcut.option is not None
        and isinstance(chosen, list)
        and any(isinstance(o, Mapping) and o.get("value") == shortcut.option[1] for o in chosen)
    )
    words = [w for w in (shortcut.prefix, shortcut.option[1] if ticked and shortcut.option else "", text) if w]
    full_text = " ".join(words)
    return Submission(
        Incoming(
            event=CommandInvoked(
                sender=_sender(user, _opt_str(body.get("user"), "name")),
                place=Place(platform=PLATFORM, channel_id=channel or user, is_direct=is_direct),
                event_id=f"view:{trigger}" if trigger else None,
                name=shortcut.command,
                text=full_text,
                raw=body,
            ),
            trigger_id=trigger,
            files=files,
        ),
        {},
    )


def _nested(values: Mapping[str, Any], block_id: str, action_id: str) -> Mapping[str, Any]:
    block = values.get(block_id)
    element = block.get(action_id) if isinstance(block, Mapping) else None
    return element if isinstance(element, Mapping) else {}


def _mb(size: int) -> str:
    mb = size / (1024 * 1024)
    return f"{mb:.0f} MB" if mb >= 10 else f"{mb:.1f} MB"


# -- kept in the inbox ------------------------------------------------------------------
def context_of(incoming: Incoming) -> dict[str, Any]:
    """What the adapter needs, beside the core event, to answer ``incoming`` after a
    restart (JSON-ready; :func:`incoming_from` reads it back)."""
    data: dict[str, Any] = {}
    if incoming.response_url:
        data["response_url"] = incoming.response_url
    if incoming.trigger_id:
        data["trigger_id"] = incoming.trigger_id
    if incoming.files:
        data["files"] = [
            {"id": f.id, "name": f.name, "size": f.size, "mimetype": f.mimetype, "url": f.url} for f in incoming.files
        ]
    if incoming.ephemeral:
        data["ephemeral"] = True
    if incoming.from_home:
        data["from_home"] = True
    return data


def incoming_from(event: AnyEvent, context: Mapping[str, Any]) -> Incoming:
    files = context.get("files")
    return Incoming(
        event=event,
        response_url=_opt_str(context, "response_url"),
        trigger_id=_opt_str(context, "trigger_id"),
        files=tuple(
            FileRef(
                id=str(f["id"]),
                name=str(f["name"]),
                size=int(f.get("size") or 0),
                mimetype=str(f["mimetype"]) if f.get("mimetype") else None,
                url=str(f["url"]),
            )
            for f in (files if isinstance(files, list) else [])
            if isinstance(f, Mapping)
        ),
        ephemeral=bool(context.get("ephemeral")),
        from_home=bool(context.get("from_home")),
    )
