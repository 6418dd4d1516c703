"""The [discord] settings."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.config import config_from_dict
from bot.errors import ConfigError


def test_defaults_keep_dsl_and_senco_private_and_catch_up_a_day() -> None:
    settings = config_from_dict({"network": {"name": "N"}}).settings.discord
    assert settings.private_groups == ["dsl", "senco"]
    assert settings.catch_up == timedelta(hours=24) and settings.scheduled_events is True


def test_settings_are_read_and_checked() -> None:
    config = config_from_dict(
        {
            "network": {"name": "N"},
            "discord": {"guild_id": "42", "catch_up": "6h", "private_groups": ["dsl"], "scheduled_events": False},
        }
    )
    assert config.settings.discord.catch_up == timedelta(hours=6)
    with pytest.raises(ConfigError, match=r"discord\.private_groups: there is no group 'DSL'"):
        config_from_dict({"network": {"name": "N"}, "discord": {"private_groups": ["DSL"]}})
    with pytest.raises(ConfigError, match=r"discord\.catch_up: 'soon' is not a duration"):
        config_from_dict({"network": {"name": "N"}, "discord": {"catch_up": "soon"}})
    with pytest.raises(ConfigError, match=r"discord\.guild_id: a Discord id is all digits"):
        config_from_dict({"network": {"name": "N"}, "discord": {"guild_id": "my server"}})
