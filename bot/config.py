"""The configuration file: read with :mod:`tomllib`, validated in full at start-up.

A file holding only ``[network] name = "..."`` is valid; every other setting has a
default. Secrets never sit in the file: it names the environment variables that hold
them (``bot_token_env = "SLACK_BOT_TOKEN"``), and environment variables never override a
setting silently (``database.url_env`` is the one, explicit, way to read a URL from one).
"""

from __future__ import annotations

import difflib
import itertools
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, time, timedelta
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.errors import ConfigError
from bot.numbers import SNOWFLAKE_MAX, whole_number
from bot.roles import DEFAULT_GROUPS, normalise_role

CONFIG_ENV = "PEERBOT_CONFIG"
DEFAULT_SQLITE_NAME = "peerbot.sqlite3"
PLATFORMS = ("console", "slack", "discord")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

_DURATION = re.compile(r"^\s*(\d+)\s*(m|min|mins|minutes?|h|hours?|d|days?|w|weeks?)\s*$", re.I)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_duration(value: object) -> timedelta:
    """``"14d"``, ``"2d"``, ``"1h"``, ``"90m"``, ``"2w"`` → :class:`timedelta`."""
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a duration such as '14d', '2h' or '30m'")
    m = _DURATION.match(value)
    if not m:
        raise ValueError(f"'{value}' is not a duration such as '14d', '2h' or '30m'")
    n, unit = int(m.group(1)), m.group(2).lower()[0]
    return {"m": timedelta(minutes=n), "h": timedelta(hours=n), "d": timedelta(days=n), "w": timedelta(weeks=n)}[unit]


def _parse_time(value: object) -> time:
    if isinstance(value, time):
        return value
    if not isinstance(value, str) or not re.match(r"^\d{1,2}:\d{2}$", value.strip()):
        raise ValueError("expected a time of day such as '16:00'")
    h, m = (int(x) for x in value.strip().split(":"))
    if not (0 <= h < 24 and 0 <= m < 60):
        raise ValueError(f"'{value}' is not a time of day")
    return time(h, m)


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"'{value}' is not an IANA time zone such as 'Europe/London'") from None
    return value


def _check_env_name(value: str) -> str:
    if not _ENV_NAME.match(value):
        raise ValueError(f"'{value}' is not an environment variable name (it should be like SLACK_BOT_TOKEN)")
    return value


def _check_weekday(value: str) -> str:
    v = value.strip().lower()
    for day in WEEKDAYS:
        if day.startswith(v) and len(v) >= 3:
            return day
    raise ValueError(f"'{value}' is not a weekday")


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
TimeOfDay = Annotated[time, BeforeValidator(_parse_time)]
EnvName = Annotated[str, AfterValidator(_check_env_name)]
Weekday = Annotated[str, AfterValidator(_check_weekday)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class NetworkSettings(_Section):
    name: str = Field(min_length=1, max_length=200)
    timezone: Annotated[str, AfterValidator(_check_zone)] = "Europe/London"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class DatabaseSettings(_Section):
    url: str | None = None
    url_env: EnvName | None = None

    @model_validator(mode="after")
    def _one_source(self) -> DatabaseSettings:
        if self.url and self.url_env:
            raise ValueError("give either url or url_env, not both")
        return self


PlatformName = Literal["console", "slack", "discord"]


def _console_only() -> list[PlatformName]:
    return ["console"]


class PlatformSettings(_Section):
    run: list[PlatformName] = Field(default_factory=_console_only)

    @field_validator("run")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("lists a platform twice")
        return v


ChannelMap = dict[str, str]


class SlackSettings(_Section):
    mode: Literal["socket", "http"] = "socket"
    bot_token_env: EnvName = "SLACK_BOT_TOKEN"  # noqa: S105 - names a variable, holds no secret
    app_token_env: EnvName = "SLACK_APP_TOKEN"  # noqa: S105
    signing_secret_env: EnvName = "SLACK_SIGNING_SECRET"  # noqa: S105
    http_host: str = "0.0.0.0"  # noqa: S104 - HTTP mode serves Slack from outside
    http_port: int = Field(default=3000, ge=1, le=65535)
    http_path: str = Field(default="/slack/events", pattern=r"^/[A-Za-z0-9/_.-]*$")
    channels: ChannelMap = Field(default_factory=dict)
    # Groups whose channels must be private: peerbot will not post in them while anyone
    # in the workspace can read them.
    private_groups: list[str] = Field(default_factory=lambda: ["dsl", "senco"])
    # Where the Slack Web API is: change only for a proxy (or a local test double).
    api_url: str = Field(default="https://slack.com/api/", pattern=r"^https?://")
    # Each event is written to the inbox (the database) before Slack is acknowledged, and
    # handled behind by this many workers; past queue_limit events waiting in the inbox,
    # Slack is told to retry later (503).
    workers: int = Field(default=8, ge=1, le=64)
    queue_limit: int = Field(default=10_000, ge=1, le=1_000_000)
    # On shutdown, how many seconds to finish events already acknowledged.
    drain_seconds: int = Field(default=20, ge=0, le=600)


class DiscordSettings(_Section):
    token_env: EnvName = "DISCORD_TOKEN"  # noqa: S105
    guild_id: str | None = None
    channels: ChannelMap = Field(default_factory=dict)
    # Groups whose channels must be private: peerbot will not post in them while
    # everyone in the server can read them.
    private_groups: list[str] = Field(default_factory=lambda: ["dsl", "senco"])
    # On reconnect, messages missed in the groups' channels up to this old are handled.
    catch_up: Duration = timedelta(hours=24)
    # Meetings also become guild scheduled events (visible to the whole server).
    scheduled_events: bool = True

    @field_validator("guild_id")
    @classmethod
    def _snowflake(cls, v: str | None) -> str | None:
        if v is not None and whole_number(v, most=SNOWFLAKE_MAX) is None:
            raise ValueError("a Discord id is all digits")
        return v


class MeetingSettings(_Section):
    cadence: Literal["half-termly", "termly", "none"] = "none"
    weekday: Weekday = "wednesday"
    time: TimeOfDay = time(9, 30)
    duration: Duration = timedelta(hours=2)
    location: str = ""
    join_url: str = ""
    # The availability poll: how many dates it offers, when it opens and when it closes
    # (both measured back from the earliest date offered).
    candidates: int = Field(default=3, ge=1, le=10)
    poll_opens_before: Duration = timedelta(days=28)
    poll_closes_before: Duration = timedelta(days=15)

    @model_validator(mode="after")
    def _poll_order(self) -> MeetingSettings:
        if self.poll_closes_before >= self.poll_opens_before:
            raise ValueError("poll_closes_before must be shorter than poll_opens_before")
        if self.duration <= timedelta(0) or self.duration > timedelta(hours=12):
            raise ValueError("duration must be between a minute and 12 hours")
        return self


class GroupSettings(_Section):
    roles: list[str] = Field(min_length=1)
    enabled: bool = True
    meetings: MeetingSettings = Field(default_factory=MeetingSettings)

    @field_validator("roles")
    @classmethod
    def _roles(cls, v: list[str]) -> list[str]:
        return [normalise_role(r) for r in v]


def _default_groups() -> dict[str, GroupSettings]:
    groups = {name: GroupSettings(roles=list(roles)) for name, roles in DEFAULT_GROUPS.items()}
    groups["heads"] = GroupSettings(
        roles=list(DEFAULT_GROUPS["heads"]), meetings=MeetingSettings(cadence="half-termly")
    )
    return groups


class RoutingSettings(_Section):
    peers_per_question: int = Field(default=3, ge=1, le=10)
    escalate_after: Duration = timedelta(hours=4)
    max_new_requests_per_day: int = Field(default=1, ge=1)
    max_open_requests: int = Field(default=3, ge=1)
    notify_convenor: bool = True
    index_check_seconds: float = Field(default=1.0, ge=0.0, le=3600.0)


class SchoolHoursSettings(_Section):
    start: TimeOfDay = time(8, 0)
    end: TimeOfDay = time(17, 0)
    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS[:5]))

    @model_validator(mode="after")
    def _order(self) -> SchoolHoursSettings:
        if self.start >= self.end:
            raise ValueError("start must be before end")
        return self


class NudgeSettings(_Section):
    meeting_offsets: list[Duration] = Field(
        default_factory=lambda: [timedelta(days=14), timedelta(days=2), timedelta(hours=1)]
    )
    action_review_before: Duration = timedelta(days=7)
    kb_review_before: Duration = timedelta(days=30)
    earliest: TimeOfDay = time(7, 30)
    latest: TimeOfDay = time(18, 30)
    weekends: bool = False
    holidays: bool = False


class TermSettings(_Section):
    """A half-term entered in the config file instead of (or as well as) terms.csv."""

    name: str = Field(min_length=1, max_length=100)
    start: date
    end: date
    inset: list[date] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> TermSettings:
        if self.end < self.start:
            raise ValueError(f"{self.name} ends ({self.end}) before it starts ({self.start})")
        if (self.end - self.start).days > 120:
            raise ValueError(f"{self.name} runs {(self.end - self.start).days} days: a half-term is a few weeks")
        for day in self.inset:
            if not (self.start <= day <= self.end):
                raise ValueError(f"inset day {day} is outside {self.name} ({self.start} to {self.end})")
            if day.weekday() >= 5:
                raise ValueError(f"inset day {day} is a {day.strftime('%A')}")
        return self


class KnowledgeSettings(_Section):
    answer_review_interval: Duration = timedelta(days=365)
    resource_review_interval: Duration = timedelta(days=365)
    policy_review_interval: Duration = timedelta(days=365)  # a policy given no review date
    max_file_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    refresh_seconds: float = Field(default=2.0, ge=0, le=300)  # how soon another worker's entries are found
    suggest_min_score: float = Field(default=0.55, gt=0, le=1)  # how close an entry must be to be suggested


class PrivacySettings(_Section):
    keep_answers_after_erasure: bool = True
    closed_question_retention: Duration = timedelta(days=365)
    dsl_question_retention: Duration = timedelta(days=90)
    delivered_message_retention: Duration = timedelta(days=30)
    log_message_text: bool = False


class Settings(_Section):
    network: NetworkSettings
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    platforms: PlatformSettings = Field(default_factory=PlatformSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)
    discord: DiscordSettings = Field(default_factory=DiscordSettings)
    groups: dict[str, GroupSettings] = Field(default_factory=_default_groups)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    school_hours: SchoolHoursSettings = Field(default_factory=SchoolHoursSettings)
    nudges: NudgeSettings = Field(default_factory=NudgeSettings)
    knowledge: KnowledgeSettings = Field(default_factory=KnowledgeSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    terms: list[TermSettings] = Field(default_factory=list)

    @field_validator("groups", mode="before")
    @classmethod
    def _merge_default_groups(cls, v: Any) -> Any:
        # Groups in the file add to (or replace) the defaults; `enabled = false` drops one.
        if not isinstance(v, Mapping):
            return v
        merged: dict[str, Any] = {k: g for k, g in _default_groups().items()}
        for name, group in v.items():
            if not re.match(r"^[a-z][a-z0-9-]*$", str(name)):
                raise ValueError(f"group name '{name}' should be lower-case letters, digits and '-'")
            merged[name] = group
        return merged

    @model_validator(mode="after")
    def _terms_do_not_overlap(self) -> Settings:
        ordered = sorted(self.terms, key=lambda t: t.start)
        for a, b in itertools.pairwise(ordered):
            if b.start <= a.end:
                raise ValueError(f"terms: {b.name} ({b.start} to {b.end}) overlaps {a.name} ({a.start} to {a.end})")
        return self

    @model_validator(mode="after")
    def _channels_name_groups(self) -> Settings:
        for platform, channels in (("slack", self.slack.channels), ("discord", self.discord.channels)):
            for group in channels:
                if group not in self.groups:
                    raise ValueError(
                        f"{platform}.channels.{group}: there is no group '{group}' "
                        f"(groups: {', '.join(sorted(self.groups))})"
                    )
            if platform == "discord":
                for group, cid in channels.items():
                    if whole_number(cid, most=SNOWFLAKE_MAX) is None:
                        raise ValueError(f"discord.channels.{group}: a Discord channel id is all digits")
        for platform, private in (("slack", self.slack.private_groups), ("discord", self.discord.private_groups)):
            for group in private:
                if group not in self.groups:
                    raise ValueError(
                        f"{platform}.private_groups: there is no group '{group}' "
                        f"(groups: {', '.join(sorted(self.groups))})"
                    )
        return self


_NO_CHANNELS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class Config:
    """Validated settings plus where they came from."""

    settings: Settings
    path: Path | None

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    @property
    def network_name(self) -> str:
        return self.settings.network.name

    @property
    def zone(self) -> ZoneInfo:
        return self.settings.network.zone

    def enabled_groups(self) -> dict[str, GroupSettings]:
        return {name: g for name, g in self.settings.groups.items() if g.enabled}

    def database_url(self) -> str:
        """The database URL: from the file, the named environment variable, or the default.

        A relative SQLite path is relative to the config file's folder.
        """
        db = self.settings.database
        if db.url_env:
            url = os.environ.get(db.url_env, "").strip()
            if not url:
                raise ConfigError(
                    f"{self._where()}database.url_env names {db.url_env}, which is not set in the environment"
                )
        else:
            url = db.url or f"sqlite:///{DEFAULT_SQLITE_NAME}"
        return _anchor_sqlite(url, self.base_dir)

    def secret(self, key: str, env_name: str) -> str:
        """Read a secret from the environment variable a setting names."""
        value = os.environ.get(env_name, "").strip()
        if not value:
            raise ConfigError(f"{self._where()}{key} names {env_name}, which is not set in the environment")
        return value

    def channel_groups(self, platform: str) -> Mapping[str, str]:
        """channel id → group name, for one platform. The console uses group names as ids.
        Looked up for every event, so worked out once (the settings are frozen)."""
        return self._channel_maps.get(platform, _NO_CHANNELS)

    @cached_property
    def _channel_maps(self) -> dict[str, Mapping[str, str]]:
        enabled = self.enabled_groups()
        maps: dict[str, Mapping[str, str]] = {"console": MappingProxyType({name: name for name in enabled})}
        platforms = {"slack": self.settings.slack.channels, "discord": self.settings.discord.channels}
        for platform, channels in platforms.items():
            maps[platform] = MappingProxyType({cid: group for group, cid in channels.items() if group in enabled})
        return maps

    def group_channel(self, platform: str, group: str) -> str | None:
        for cid, name in self.channel_groups(platform).items():
            if name == group:
                return cid
        return None

    def _where(self) -> str:
        return f"{self.path.name}: " if self.path else ""


def _anchor_sqlite(url: str, base: Path) -> str:
    for prefix in ("sqlite:///", "sqlite+aiosqlite:///"):
        if url.startswith(prefix):
            rest = url[len(prefix) :]
            if rest and rest != ":memory:" and not rest.startswith("/"):
                return prefix + str((base / rest).resolve())
    return url


def _describe(error: Mapping[str, Any], section_keys: Mapping[str, Any]) -> str:
    loc = [str(p) for p in error.get("loc", ()) if not str(p).startswith("function-")]
    key = ".".join(loc)
    kind = error.get("type", "")
    if not key:
        # A check across sections: its message starts with the key it is about.
        return str(error.get("msg", "is not valid")).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        parent: Any = section_keys
        for part in loc[:-1]:
            parent = parent.get(part, {}) if isinstance(parent, Mapping) else {}
        known = _known_keys(loc[:-1])
        hint = difflib.get_close_matches(loc[-1], known, n=1) if known else []
        suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
        return f"{key}: unknown setting{suggestion}"
    if kind == "missing":
        return f"{key}: is required"
    msg = str(error.get("msg", "is not valid"))
    msg = msg.removeprefix("Value error, ")
    got = error.get("input")
    if kind in {
        "int_parsing",
        "int_type",
        "bool_parsing",
        "bool_type",
        "string_type",
        "list_type",
        "dict_type",
        "float_parsing",
        "literal_error",
        "greater_than_equal",
        "less_than_equal",
        "too_short",
        "string_too_short",
        "string_too_long",
    } and not isinstance(got, (dict, list)):
        return f"{key}: {msg[0].lower() + msg[1:]} (got {got!r})"
    return f"{key}: {msg}"


def _known_keys(path: list[str]) -> list[str]:
    model: Any = Settings
    for part in path:
        if model is dict:  # a group's name, under [groups]
            model = GroupSettings
            continue
        fields = getattr(model, "model_fields", None)
        if fields is None:
            return []
        if part in fields:
            ann = fields[part].annotation
            model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
            if model is None and part == "groups":
                model = dict
        else:
            return []
        if model is None:
            return []
    fields = getattr(model, "model_fields", None)
    return list(fields) if fields else []


def parse_settings(data: Mapping[str, Any], *, where: str = "") -> Settings:
    """Validate everything; a :class:`ConfigError` carries every problem, unknown keys first
    (a misspelt key is usually also the reason a required one is "missing")."""
    try:
        return Settings.model_validate(dict(data))
    except ValidationError as exc:
        errors = sorted(exc.errors(), key=lambda e: e.get("type") != "extra_forbidden")
        lines = [f"{where}{_describe(e, data)}" for e in errors]
        more = len(lines) - 1
        suffix = f" (and {more} more: `peerbot config check` lists them all)" if more else ""
        raise ConfigError(lines[0] + suffix, lines) from None


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Load and validate a config file named by ``path`` or ``$PEERBOT_CONFIG``."""
    if path is None:
        env = os.environ.get(CONFIG_ENV, "").strip()
        if not env:
            raise ConfigError(f"no config file: pass --config FILE or set {CONFIG_ENV}")
        path = env
    p = Path(path).expanduser()
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config file {p} does not exist (copy config.example.toml to start)") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {p}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{p.name}: is not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p.name}: is not valid TOML: {exc}") from None
    settings = parse_settings(data, where=f"{p.name}: ")
    return Config(settings=settings, path=p.resolve())


def config_from_dict(data: Mapping[str, Any], *, path: Path | None = None) -> Config:
    """Build a config from a mapping (tests, the demo)."""
    return Config(settings=parse_settings(data), path=path)
