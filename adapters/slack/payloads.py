"""The parts of Slack's payloads peerbot reads, as ``TypedDict``s (all fields optional:
a payload is validated field by field in :mod:`adapters.slack.translate`)."""

from __future__ import annotations

from typing import Any, TypedDict


class SlackFile(TypedDict, total=False):
    id: str
    name: str
    title: str
    mimetype: str
    size: int
    mode: str
    url_private: str
    url_private_download: str
    file_access: str


class MessageEvent(TypedDict, total=False):
    type: str  # "message" | "app_mention"
    subtype: str
    user: str
    bot_id: str
    channel: str
    channel_type: str  # "channel" | "group" | "im" | "mpim"
    text: str
    ts: str
    thread_ts: str
    hidden: bool
    files: list[SlackFile]


class EventCallback(TypedDict, total=False):
    type: str  # "event_callback"
    team_id: str
    api_app_id: str
    event_id: str
    event_time: int
    event: dict[str, Any]
    authorizations: list[dict[str, Any]]


class SlashCommand(TypedDict, total=False):
    command: str
    text: str
    user_id: str
    user_name: str
    channel_id: str
    channel_name: str
    team_id: str
    response_url: str
    trigger_id: str


class BlockAction(TypedDict, total=False):
    type: str  # "button", "static_select", ...
    action_id: str
    block_id: str
    value: str
    action_ts: str


class BlockActions(TypedDict, total=False):
    type: str  # "block_actions"
    user: dict[str, Any]
    container: dict[str, Any]
    channel: dict[str, Any]
    message: dict[str, Any]
    view: dict[str, Any]
    response_url: str
    trigger_id: str
    actions: list[BlockAction]


class ViewSubmission(TypedDict, total=False):
    type: str  # "view_submission"
    user: dict[str, Any]
    view: dict[str, Any]
    trigger_id: str
