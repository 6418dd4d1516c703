"""``peerbot slack check``: is the Slack app set up, and if not, exactly what is missing.

It checks the tokens (``auth.test``; ``apps.connections.open`` for Socket Mode's app
token), the granted scopes against the manifest's, each group's channel (exists, peerbot
is in it, not archived, the ``slack.private_groups`` channels private: a public one is a
problem, since peerbot posts nothing there while it is), and — when the database is
reachable — that people's Slack ids exist in the workspace (suggesting ids from emails
for people without one) and whether Slack messages are waiting in the outbox.

``peerbot slack manifest [--http-url URL]`` prints the app manifest to paste into Slack.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from adapters.slack.api import SlackApi, SlackAuthFailure, SlackFailure, SlackRefused
from adapters.slack.manifest import BOT_SCOPES, manifest
from bot.cli.common import add_config_arg, command, config_of, print_json
from bot.config import Config
from bot.db.engine import Database
from bot.errors import ConfigError, PeerbotError
from bot.models.messaging import OutboxMessage
from bot.models.network import Network, Person

SHOW = 5


@dataclass
class Report:
    mode: str
    team: str | None = None
    bot_user: str | None = None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    ok: list[str] = field(default_factory=list)
    scopes_missing: list[str] = field(default_factory=list)
    channels: list[dict[str, Any]] = field(default_factory=list)
    people: dict[str, Any] = field(default_factory=dict)
    outbox: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "team": self.team,
            "bot_user": self.bot_user,
            "ok": not self.problems,
            "problems": self.problems,
            "warnings": self.warnings,
            "checked": self.ok,
            "scopes_missing": self.scopes_missing,
            "channels": self.channels,
            "people": self.people,
            "outbox": self.outbox,
        }


def _secret(config: Config, key: str, env: str, report: Report, what: str) -> str | None:
    try:
        return config.secret(key, env)
    except ConfigError:
        report.problems.append(f"{env} is not set: {what}")
        return None


async def run_check(config: Config, *, check_database: bool = True) -> Report:
    s = config.settings.slack
    report = Report(mode=s.mode)
    token = _secret(
        config,
        "slack.bot_token_env",
        s.bot_token_env,
        report,
        "put the app's Bot User OAuth Token (xoxb-...) from OAuth & Permissions in it",
    )
    if s.mode == "socket":
        app_token = _secret(
            config,
            "slack.app_token_env",
            s.app_token_env,
            report,
            "create an app-level token with connections:write under Basic Information > App-Level Tokens "
            "and put it (xapp-...) in it",
        )
        if app_token and not app_token.startswith("xapp-"):
            report.problems.append(f"{s.app_token_env} does not hold an app-level token (those start xapp-)")
            app_token = None
    else:
        app_token = None
        _secret(
            config,
            "slack.signing_secret_env",
            s.signing_secret_env,
            report,
            "put the app's Signing Secret from Basic Information > App Credentials in it",
        )
    if token and not token.startswith(("xoxb-", "xoxe.xoxb-")):
        report.problems.append(f"{s.bot_token_env} does not hold a bot token (those start xoxb-)")
        token = None
    if token is None:
        return report
    api = SlackApi(token=token, base_url=s.api_url)
    try:
        if not await _check_token(api, report):
            return report
        _check_scopes(api, report)
        if app_token:
            await _check_app_token(api, app_token, report)
        await _check_channels(api, config, report)
        if check_database:
            await _check_people_and_outbox(api, config, report)
    finally:
        await api.close()
    return report


async def _check_token(api: SlackApi, report: Report) -> bool:
    try:
        found = await api.call("auth.test", interactive=True)
    except SlackAuthFailure as exc:
        report.problems.append(
            f"Slack refused the bot token ({exc.code}): reinstall the app (Settings > Install App) and put "
            "the new Bot User OAuth Token in the environment"
        )
        return False
    except SlackFailure as exc:
        report.problems.append(f"could not reach Slack at {api.base_url} ({exc.code})")
        return False
    report.team = str(found.get("team") or found.get("team_id") or "") or None
    report.bot_user = str(found.get("user_id") or "") or None
    report.ok.append(f"bot token accepted: {found.get('user', 'the bot')} in {report.team or 'the workspace'}")
    return True


def _check_scopes(api: SlackApi, report: Report) -> None:
    granted = api.last_scopes
    if granted is None:
        report.warnings.append("Slack did not say which scopes the app has; they were not checked")
        return
    missing = sorted(set(BOT_SCOPES) - granted)
    report.scopes_missing = missing
    if missing:
        report.problems.append(
            f"the app lacks the scope{'s' if len(missing) > 1 else ''} {', '.join(missing)}: add "
            f"{'them' if len(missing) > 1 else 'it'} under OAuth & Permissions (or paste the manifest again) "
            "and reinstall the app"
        )
    else:
        report.ok.append("every scope peerbot needs is granted")


async def _check_app_token(api: SlackApi, app_token: str, report: Report) -> None:
    try:
        await api.call("apps.connections.open", interactive=True, token=app_token)
    except SlackFailure as exc:
        report.problems.append(
            f"Slack refused the app-level token ({exc.code}): check Socket Mode is on and the token has "
            "connections:write (Basic Information > App-Level Tokens)"
        )
        return
    report.ok.append("app-level token accepted: Socket Mode can connect")


async def _check_channels(api: SlackApi, config: Config, report: Report) -> None:
    channels = config.settings.slack.channels
    for group in sorted(config.enabled_groups()):
        channel = channels.get(group)
        entry: dict[str, Any] = {"group": group, "id": channel, "ok": False}
        report.channels.append(entry)
        if channel is None:
            report.warnings.append(
                f"no Slack channel for the {group} group (slack.channels.{group}): its announcements and "
                "questions cannot go to a channel"
            )
            continue
        try:
            found = await api.call("conversations.info", interactive=True, params={"channel": channel})
        except SlackRefused as exc:
            entry["problem"] = exc.code
            report.problems.append(
                f"slack.channels.{group}: Slack has no channel {channel} that peerbot can see ({exc.code}); "
                "for a private channel, first type /invite @peerbot in it"
            )
            continue
        except SlackFailure as exc:
            entry["problem"] = exc.code
            report.problems.append(f"slack.channels.{group}: could not check {channel} ({exc.code})")
            continue
        info = found.get("channel") if isinstance(found.get("channel"), Mapping) else {}
        assert isinstance(info, Mapping)
        name = f"#{info.get('name', channel)}"
        entry.update(name=name, private=bool(info.get("is_private")), member=bool(info.get("is_member")))
        if info.get("is_archived"):
            entry["problem"] = "archived"
            report.problems.append(f"slack.channels.{group}: {name} is archived")
            continue
        if not info.get("is_member"):
            entry["problem"] = "not_in_channel"
            report.problems.append(f"peerbot is not in {name} (the {group} channel): type /invite @peerbot there")
            continue
        if group in config.settings.slack.private_groups and not info.get("is_private"):
            entry["problem"] = "public"
            report.problems.append(
                f"{name} (the {group} channel) is public: anyone in the workspace can read it, so peerbot posts "
                "nothing there (its messages wait); make it private in Slack (channel details > Settings > "
                "Change to a private channel)"
            )
            continue
        entry["ok"] = True
        report.ok.append(f"{group}: {name}, peerbot is in it")


async def _workspace_users(api: SlackApi) -> dict[str, Mapping[str, Any]] | None:
    users: dict[str, Mapping[str, Any]] = {}
    cursor = ""
    for _ in range(100):
        params: dict[str, Any] = {"limit": 200}
        if cursor:
            params["cursor"] = cursor
        found = await api.call("users.list", interactive=True, params=params)
        for member in found.get("members") or []:
            if isinstance(member, Mapping) and isinstance(member.get("id"), str):
                users[member["id"]] = member
        meta = found.get("response_metadata")
        cursor = str(meta.get("next_cursor") or "") if isinstance(meta, Mapping) else ""
        if not cursor:
            return users
    return users


async def _check_people_and_outbox(api: SlackApi, config: Config, report: Report) -> None:
    try:
        db = Database(config.database_url())
    except PeerbotError as exc:
        report.warnings.append(f"people not checked: {exc}")
        return
    try:
        current, head = await db.revision()
        if current is None or current != head:
            report.warnings.append("people not checked: the database is not set up yet (run `peerbot db upgrade`)")
            return
        async with db.session() as session:
            network = (
                await session.execute(select(Network).where(Network.name == config.network_name))
            ).scalar_one_or_none()
            if network is None:
                report.warnings.append("people not checked: the network has not been imported yet")
                return
            people = list(
                (await session.execute(select(Person).where(Person.network_id == network.id, Person.active.is_(True))))
                .unique()
                .scalars()
            )
            waiting = (
                await session.execute(
                    select(func.count(), func.max(OutboxMessage.last_error)).where(
                        OutboxMessage.network_id == network.id,
                        OutboxMessage.platform == "slack",
                        OutboxMessage.status.in_(["pending", "sending"]),
                        OutboxMessage.last_error.is_not(None),
                    )
                )
            ).one()
            failed = (
                await session.execute(
                    select(func.count()).where(
                        OutboxMessage.network_id == network.id,
                        OutboxMessage.platform == "slack",
                        OutboxMessage.status == "failed",
                    )
                )
            ).scalar_one()
            people_rows = [(p.email, p.slack_id) for p in people]
    finally:
        await db.dispose()
    report.outbox = {"waiting_after_an_error": int(waiting[0] or 0), "failed": int(failed or 0)}
    if waiting[0]:
        report.warnings.append(f"{waiting[0]} Slack message(s) are waiting to be retried (last error: {waiting[1]})")
    if failed:
        report.warnings.append(f"{failed} Slack message(s) could not be delivered (see the outbox's last_error)")
    try:
        users = await _workspace_users(api)
    except SlackFailure as exc:
        report.warnings.append(f"people's Slack ids not checked: users.list failed ({exc.code})")
        users = None
    without = [email for email, sid in people_rows if not sid]
    unknown: list[str] = []
    suggestions: dict[str, str] = {}
    if users is not None:
        by_email = {
            str(u.get("profile", {}).get("email", "")).lower(): uid
            for uid, u in users.items()
            if isinstance(u.get("profile"), Mapping) and not u.get("deleted")
        }
        for email, sid in people_rows:
            if sid and (sid not in users or users[sid].get("deleted")):
                unknown.append(f"{email} ({sid})")
            if not sid and email.lower() in by_email:
                suggestions[email] = by_email[email.lower()]
    report.people = {
        "total": len(people_rows),
        "without_slack_id": len(without),
        "unknown_in_workspace": unknown,
        "suggested_slack_ids": suggestions,
    }
    if unknown:
        report.problems.append(
            f"{len(unknown)} people's slack_id is not an active member of this workspace: "
            f"{', '.join(unknown[:SHOW])}{' …' if len(unknown) > SHOW else ''} (fix people.csv and import it again)"
        )
    if without:
        hint = ""
        if suggestions:
            pairs = [f"{e} → {u}" for e, u in list(suggestions.items())[:SHOW]]
            hint = f"; from their emails: {', '.join(pairs)}{' …' if len(suggestions) > SHOW else ''}"
        report.warnings.append(
            f"{len(without)} of {len(people_rows)} people have no slack_id, so peerbot cannot reach them "
            f"on Slack (add the slack_id column to people.csv){hint}"
        )
    elif people_rows:
        report.ok.append(f"all {len(people_rows)} people have a Slack id")


def print_report(report: Report) -> None:
    team = f" in {report.team}" if report.team else ""
    print(f"Slack ({report.mode} mode){team}:")
    for line in report.ok:
        print(f"  ok: {line}")
    for line in report.warnings:
        print(f"  warning: {line}")
    for line in report.problems:
        print(f"  problem: {line}")
    print("OK" if not report.problems else f"{len(report.problems)} problem(s) to fix")


def register(sub: argparse._SubParsersAction[Any]) -> None:
    slack = sub.add_parser("slack", help="the Slack app: check its set-up, print its manifest")
    ssub = slack.add_subparsers(dest="slack_command", metavar="ACTION")
    ssub.required = True
    check = ssub.add_parser("check", help="check the tokens, scopes, channels and people's Slack ids")
    add_config_arg(check)
    check.add_argument("--json", action="store_true")
    check.add_argument("--no-database", action="store_true", help="skip the checks that read the database")
    check.set_defaults(func=check_)
    man = ssub.add_parser("manifest", help="print the Slack app manifest (paste it into api.slack.com/apps)")
    man.add_argument("--http-url", metavar="URL", help="HTTP mode: the public URL of peerbot's Slack endpoint")
    man.add_argument("--name", default="peerbot", help="the app's name in Slack")
    man.set_defaults(func=manifest_)


@command
async def check_(args: argparse.Namespace) -> int:
    config = config_of(args)
    report = await run_check(config, check_database=not args.no_database)
    if args.json:
        print_json(report.to_json())
    else:
        print_report(report)
    if report.problems:
        raise ConfigError(report.problems[0])
    return 0


def manifest_(args: argparse.Namespace) -> int:
    url = args.http_url
    if url is not None and not url.startswith("https://"):
        raise ConfigError(
            "--http-url must be the public https:// URL Slack will call, e.g. https://bot.example.org/slack/events"
        )
    sys.stdout.write(json.dumps(manifest(http_url=url, name=args.name), indent=2) + "\n")
    return 0
