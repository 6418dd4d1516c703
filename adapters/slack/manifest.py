"""The Slack app manifest: one source for ``manifest.json`` (pasted into "Create an app
→ From a manifest") and for ``peerbot slack manifest --http-url URL``. Every scope says
why peerbot needs it; ``peerbot slack check`` compares the installed app against it."""

from __future__ import annotations

from typing import Any

COMMAND = "/peerbot"

BOT_SCOPES: dict[str, str] = {
    "channels:history": "read questions in the groups' public channels; look before resending a message",
    "channels:read": "check the channels in the config; see people join them",
    "chat:write": "answer, and message peers",
    "commands": "the /peerbot command",
    "files:read": "fetch a file someone shares with peerbot (a policy for the knowledge base)",
    "files:write": "share meeting invites and exports",
    "groups:history": "read questions in private group channels (DSL, SENCO)",
    "groups:read": "check the private channels in the config; see people join them",
    "im:history": "read direct messages to peerbot",
    "im:read": "know a direct message from a channel message",
    "im:write": "open a direct message to a peer",
    "users:read": "`peerbot slack check`: confirm people's Slack ids",
    "users:read.email": "`peerbot slack check`: suggest Slack ids from people's emails",
}

BOT_EVENTS: tuple[str, ...] = (
    "app_home_opened",
    "app_uninstalled",
    "member_joined_channel",
    "message.channels",
    "message.groups",
    "message.im",
    "tokens_revoked",
)


def manifest(*, http_url: str | None = None, name: str = "peerbot") -> dict[str, Any]:
    """The app's manifest: Socket Mode, or HTTP mode with ``http_url`` as every Request URL."""
    slash: dict[str, Any] = {
        "command": COMMAND,
        "description": "Ask the network, search what it knows, strengths, needs, agenda, actions",
        "usage_hint": "ask | kb | strengths | needs | agenda | actions | home | help",
        "should_escape": False,
    }
    settings: dict[str, Any] = {
        "event_subscriptions": {"bot_events": list(BOT_EVENTS)},
        "interactivity": {"is_enabled": True},
        "org_deploy_enabled": False,
        "socket_mode_enabled": http_url is None,
        "token_rotation_enabled": False,
    }
    if http_url is not None:
        slash["url"] = http_url
        settings["event_subscriptions"]["request_url"] = http_url
        settings["interactivity"]["request_url"] = http_url
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": name,
            "description": "Peer support for a network of schools: the right peer, shared answers, the meetings.",
            "background_color": "#1d4f3a",
            "long_description": (
                "peerbot puts a head's quick question in front of the two or three peers whose schools are "
                "genuinely strong at it (from the network's Partnership Audit), keeps the answers and policies "
                "where everyone can find them, and books the half-termly meetings with reminders that arrive "
                "at sensible times. It keeps no pupil data."
            ),
        },
        "features": {
            "app_home": {
                "home_tab_enabled": True,
                "messages_tab_enabled": True,
                "messages_tab_read_only_enabled": False,
            },
            "bot_user": {"display_name": name, "always_online": True},
            "slash_commands": [slash],
        },
        "oauth_config": {"scopes": {"bot": sorted(BOT_SCOPES)}},
        "settings": settings,
    }
