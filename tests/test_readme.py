"""The README's two commands are the ones CI and people actually run."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```sh\n(python3 -m venv .*?)\n```", text)


def test_readme_gives_a_run_command_and_a_test_command() -> None:
    run, test = readme_commands()[:2]
    assert run.endswith("peerbot demo")
    assert test.endswith(".venv/bin/pytest -n 2")


def test_ci_runs_exactly_the_readme_test_command() -> None:
    test = readme_commands()[1]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test in ci.splitlines()
    assert "PEERBOT_TEST_DATABASE_URL" in ci
