"""The config file: the smallest one is valid, and every mistake names its key."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path

import pytest

from bot.config import load_config, parse_duration
from bot.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "peerbot.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_smallest_config_is_valid_with_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[network]\nname = "Example Cluster"\n'))
    s = config.settings
    assert s.network.timezone == "Europe/London"
    assert s.platforms.run == ["console"]
    assert config.database_url() == f"sqlite:///{tmp_path.resolve() / 'peerbot.sqlite3'}"
    assert set(config.enabled_groups()) == {"heads", "dsl", "senco", "sbm"}
    assert s.groups["heads"].meetings.cadence == "half-termly"
    assert s.groups["dsl"].meetings.cadence == "none"
    assert s.routing.peers_per_question == 3
    assert s.nudges.meeting_offsets == [timedelta(days=14), timedelta(days=2), timedelta(hours=1)]
    assert s.school_hours.start == time(8, 0)


def test_example_config_is_valid() -> None:
    config = load_config(ROOT / "config.example.toml")
    assert config.settings.network.name
    assert "heads" in config.enabled_groups()


def test_unknown_key_names_the_key_and_suggests(tmp_path: Path) -> None:
    path = write(tmp_path, '[network]\nname = "X"\n[slack]\nbot_tokn_env = "A"\n')
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "slack.bot_tokn_env: unknown setting (did you mean 'bot_token_env'?)" in str(err.value)
    assert str(err.value).startswith("peerbot.toml: ")


def test_wrong_type_names_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, '[network]\nname = "X"\n[routing]\npeers_per_question = "three"\n')
    with pytest.raises(ConfigError, match=r"routing\.peers_per_question: .*three"):
        load_config(path)


def test_missing_network_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"network: is required"):
        load_config(write(tmp_path, "[routing]\npeers_per_question = 2\n"))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('[network]\nname = "X"\ntimezone = "Mars/Olympus"\n', "network.timezone: 'Mars/Olympus' is not an IANA"),
        ('[network]\nname = "X"\n[platforms]\nrun = ["teams"]\n', "platforms.run.0"),
        ('[network]\nname = "X"\n[nudges]\nmeeting_offsets = ["soon"]\n', "'soon' is not a duration"),
        ('[network]\nname = "X"\n[school_hours]\nstart = "17:00"\nend = "08:00"\n', "start must be before end"),
        ('[network]\nname = "X"\n[slack.channels]\nmaths = "C1"\n', "there is no group 'maths'"),
        ('[network]\nname = "X"\n[discord.channels]\nheads = "general"\n', "all digits"),
        ('[network]\nname = "X"\n[groups.maths]\nroles = ["subject:"]\n', "needs a subject"),
        ('[network]\nname = "X"\n[slack]\nbot_token_env = "xoxb-123"\n', "not an environment variable name"),
        ('[network]\nname = "X"\n[database]\nurl = "sqlite:///a"\nurl_env = "DATABASE_URL"\n', "either url or url_env"),
        ('[network]\nname = "X"\n[slack]\nqueue_limit = 0\n', r"slack\.queue_limit: .*greater than or equal to 1"),
    ],
)
def test_bad_values_are_named(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_config(write(tmp_path, text))


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(write(tmp_path, "[network\nname=1"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_config_from_environment_variable_only_when_not_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, '[network]\nname = "From Env"\n')
    monkeypatch.setenv("PEERBOT_CONFIG", str(path))
    assert load_config().network_name == "From Env"
    monkeypatch.delenv("PEERBOT_CONFIG")
    with pytest.raises(ConfigError, match="PEERBOT_CONFIG"):
        load_config()


def test_secrets_come_from_named_environment_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(write(tmp_path, '[network]\nname = "X"\n[slack]\nbot_token_env = "MY_SLACK_TOKEN"\n'))
    monkeypatch.delenv("MY_SLACK_TOKEN", raising=False)
    with pytest.raises(ConfigError, match=r"slack\.bot_token_env names MY_SLACK_TOKEN, which is not set"):
        config.secret("slack.bot_token_env", config.settings.slack.bot_token_env)
    monkeypatch.setenv("MY_SLACK_TOKEN", "xoxb-1")
    assert config.secret("slack.bot_token_env", "MY_SLACK_TOKEN") == "xoxb-1"


def test_database_url_env_is_explicit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = load_config(write(tmp_path, '[network]\nname = "X"\n'))
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/db")
    assert "sqlite" in plain.database_url()  # an environment variable never overrides silently
    explicit = load_config(write(tmp_path, '[network]\nname = "X"\n[database]\nurl_env = "DATABASE_URL"\n'))
    assert explicit.database_url() == "postgresql://u@h/db"
    monkeypatch.delenv("DATABASE_URL")
    with pytest.raises(ConfigError, match=r"database\.url_env names DATABASE_URL"):
        explicit.database_url()


def test_relative_sqlite_path_is_beside_the_config(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[network]\nname = "X"\n[database]\nurl = "sqlite:///data/pb.sqlite3"\n'))
    assert config.database_url() == f"sqlite:///{tmp_path.resolve() / 'data' / 'pb.sqlite3'}"


def test_groups_add_to_defaults_and_can_be_disabled(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            '[network]\nname = "X"\n[groups.maths]\nroles = ["subject:Maths"]\n'
            '[groups.sbm]\nroles = ["sbm"]\nenabled = false\n',
        )
    )
    assert config.enabled_groups()["maths"].roles == ["subject:maths"]
    assert "sbm" not in config.enabled_groups()
    assert "heads" in config.enabled_groups()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("14d", timedelta(days=14)),
        ("2 h", timedelta(hours=2)),
        ("90m", timedelta(minutes=90)),
        ("1w", timedelta(weeks=1)),
    ],
)
def test_durations(raw: str, expected: timedelta) -> None:
    assert parse_duration(raw) == expected


def test_a_misspelt_key_is_reported_first_with_its_hint_and_every_problem_is_kept(tmp_path: Path) -> None:
    path = write(tmp_path, '[network]\nname = "X"\n[groups.dsl]\nrole = ["dsl"]\n[routing]\nescalate_after = "soon"\n')
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == (
        "peerbot.toml: groups.dsl.role: unknown setting (did you mean 'roles'?) "
        "(and 2 more: `peerbot config check` lists them all)"
    )
    assert err.value.problems == [
        "peerbot.toml: groups.dsl.role: unknown setting (did you mean 'roles'?)",
        "peerbot.toml: groups.dsl.roles: is required",
        "peerbot.toml: routing.escalate_after: 'soon' is not a duration such as '14d', '2h' or '30m'",
    ]


def test_a_check_across_sections_names_its_own_key(tmp_path: Path) -> None:
    path = write(tmp_path, '[network]\nname = "X"\n[slack.channels]\nhead = "C1"\n')
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert (
        str(err.value) == "peerbot.toml: slack.channels.head: there is no group 'head' (groups: dsl, heads, sbm, senco)"
    )


def test_slack_keeps_ten_thousand_waiting_events_by_default(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[network]\nname = "X"\n'))
    assert config.settings.slack.queue_limit == 10_000  # events waiting in the inbox before Slack gets 503
