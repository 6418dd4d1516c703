"""The command line: exact shapes, exit statuses and one-line errors (formats.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.demo import demo_file

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "peerbot.toml"
    path.write_text('[network]\nname = "CLI Network"\n', encoding="utf-8")
    return path


@pytest.fixture
def demo_files(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for kind, name in (
        ("schools", "schools.csv"),
        ("people", "people.csv"),
        ("audit", "audit.csv"),
        ("terms", "terms.csv"),
    ):
        p = tmp_path / name
        p.write_bytes(demo_file(name).data)
        out[kind] = p
    return out


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def import_args(config: Path, files: dict[str, Path]) -> list[str]:
    return [
        "--config",
        str(config),
        "network",
        "import",
        "--schools",
        str(files["schools"]),
        "--people",
        str(files["people"]),
        "--audit",
        str(files["audit"]),
        "--terms",
        str(files["terms"]),
    ]


def test_import_show_json_and_idempotence(
    capsys: pytest.CaptureFixture[str], config: Path, demo_files: dict[str, Path]
) -> None:
    code, out, err = run_cli(capsys, *import_args(config, demo_files))
    assert (code, err) == (0, "")
    assert out.startswith("Imported.")
    code, out, _ = run_cli(capsys, *import_args(config, demo_files))
    assert code == 0 and out.startswith("Nothing changed")
    code, out, _ = run_cli(capsys, "--config", str(config), "network", "show", "--json")
    doc = json.loads(out)
    assert code == 0 and len(doc["schools"]) == 12 and len(doc["people"]) == 36
    assert {"name", "phase"} <= set(doc["schools"][0])
    assert {"name", "email", "school", "roles"} <= set(doc["people"][0])
    # --config may also follow the command words.
    code, out2, _ = run_cli(capsys, "network", "show", "--json", "--config", str(config))
    assert json.loads(out2) == doc


def test_bad_file_is_one_line_exit_2_and_changes_nothing(
    capsys: pytest.CaptureFixture[str], config: Path, demo_files: dict[str, Path], tmp_path: Path
) -> None:
    run_cli(capsys, *import_args(config, demo_files))
    _, before, _ = run_cli(capsys, "--config", str(config), "network", "show", "--json")
    bad = tmp_path / "people-bad.csv"
    bad.write_bytes(demo_files["people"].read_bytes() + b"Kim,kim@x.uk,Nowhere School,head,,\n")
    code, out, err = run_cli(capsys, "--config", str(config), "network", "import", "--people", str(bad))
    assert code == 2 and out == ""
    assert err == "error: people-bad.csv:38: school 'Nowhere School' is not in the network's schools\n"
    _, after, _ = run_cli(capsys, "--config", str(config), "network", "show", "--json")
    assert after == before


def test_missing_file_and_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    code, _, err = run_cli(capsys, "--config", str(config), "network", "import", "--people", "/nope.csv")
    assert code == 2 and err == "error: people file /nope.csv does not exist\n"
    with pytest.raises(SystemExit) as exit_:
        main(["--config", str(config), "network", "explode"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_config_errors_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[network]\nname = "X"\n[routing]\npeers = 3\n', encoding="utf-8")
    code, _, err = run_cli(capsys, "--config", str(bad), "network", "show")
    assert code == 2 and err == "error: bad.toml: routing.peers: unknown setting\n"


def test_config_check_lists_every_problem(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[network]\nname = "X"\n[groups.dsl]\nrole = ["dsl"]\n', encoding="utf-8")
    code, out, err = run_cli(capsys, "--config", str(bad), "config", "check")
    assert code == 2
    assert out.splitlines() == [
        "  problem: bad.toml: groups.dsl.role: unknown setting (did you mean 'roles'?)",
        "  problem: bad.toml: groups.dsl.roles: is required",
        "2 problem(s)",
    ]
    assert err == (
        "error: bad.toml: groups.dsl.role: unknown setting (did you mean 'roles'?) "
        "(and 1 more: `peerbot config check` lists them all)\n"
    )
    code, out, _ = run_cli(capsys, "--config", str(bad), "config", "check", "--json")
    assert code == 2 and len(json.loads(out)["problems"]) == 2


def test_db_upgrade_and_status(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    code, out, _ = run_cli(capsys, "--config", str(config), "db", "upgrade")
    assert code == 0 and out.startswith("Upgraded the database from empty")
    code, out, _ = run_cli(capsys, "--config", str(config), "db", "upgrade")
    assert code == 0 and out.startswith("The database is up to date")
    code, out, _ = run_cli(capsys, "--config", str(config), "db", "status", "--json")
    status = json.loads(out)
    assert status["up_to_date"] is True and status["current"] == status["head"]


def test_config_check(capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[network]\nname = "X"\n[platforms]\nrun = ["slack"]\n', encoding="utf-8")
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    code, out, err = run_cli(capsys, "--config", str(path), "config", "check")
    assert code == 2 and "slack.bot_token_env names SLACK_BOT_TOKEN, which is not set" in err
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1")
    code, out, _ = run_cli(capsys, "--config", str(path), "config", "check")
    assert code == 0 and out.rstrip().endswith("OK")


def test_a_closed_pipe_is_quiet(tmp_path: Path, demo_files: dict[str, Path], config: Path) -> None:
    """`peerbot network show | head`: the reader goes away; no "unexpected failure", no traceback."""
    assert main(import_args(config, demo_files)) == 0
    read, write = os.pipe()
    os.close(read)  # the reader has gone before anything is written
    try:
        result = subprocess.run(
            [sys.executable, "-m", "bot", "--config", str(config), "network", "show", "--json"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write)
    assert (result.returncode, result.stderr) == (1, "")


def test_errors_on_the_command_line_carry_no_chat_markup(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, demo_files: dict[str, Path], config: Path
) -> None:
    run_cli(capsys, *import_args(config, demo_files))
    add = ["--config", str(config), "actions", "add", "--owner", "p.shah@oakfield.sch.uk", "--review", "2027-02-12"]
    code, _, err = run_cli(capsys, *add, "--action", "  ")
    assert code == 2 and err.startswith("error: what is the action?") and "**" not in err


def test_python_dash_m_bot_is_peerbot(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "bot", "--version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout.startswith("peerbot ")


def test_demo_answers_help_strengths_and_needs(tmp_path: Path) -> None:
    """The README's "run it" command, driven like a person would, through a pipe."""
    script = "help\nstrengths\nneeds greensbury\n/in heads\n@peerbot strengths oakfield\n/quit\n"
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--as", "d.okafor@fairsmead.sch.uk"],
        input=script,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "You are now Daniel Okafor (Fairsmead Primary Academy)." in out
    assert "strengths [school or topic] — Show what schools offer" in out
    assert "Greensbury Special School: Autism-specific provision and training for TAs" in out
    assert "Curriculum for post-16 pathways — David Lowe" in out
    assert "peerbot (only you can see this): Oakfield Primary School — strengths" in out
    assert (tmp_path / "peerbot" / "demo" / "peerbot.sqlite3").exists()
    # A second run reuses the network rather than loading it again.
    again = subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--as", "d.okafor@fairsmead.sch.uk"],
        input="whoami\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert again.returncode == 0 and "Loaded the demo network" not in again.stderr
    assert "You are **Daniel Okafor**" not in again.stdout and "You are Daniel Okafor" in again.stdout
