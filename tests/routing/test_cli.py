"""``peerbot ask``: the scripting interface of formats.md."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from tests.support.routing import DATA


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / "peerbot.toml"
    path.write_text(f'[network]\nname = "Thamesmead"\n[database]\nurl = "sqlite:///{tmp_path / "db.sqlite3"}"\n')
    assert (
        main(
            [
                "--config",
                str(path),
                "network",
                "import",
                "--schools",
                str(DATA / "schools.csv"),
                "--people",
                str(DATA / "people.csv"),
                "--audit",
                str(DATA / "audit.csv"),
            ]
        )
        == 0
    )
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_ask_json_has_the_formats_md_shape(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    code, out, _ = run(
        capsys,
        "--config",
        config,
        "ask",
        "--as",
        "g.hart@ivybridge.sch.uk",
        "--channel",
        "heads",
        "--json",
        "--dry-run",
        "Our phonics screening results dipped, anyone turned it round?",
    )
    assert code == 0
    doc = json.loads(out)
    assert doc["question_id"] is None and doc["topics"] == ["reading"] and doc["flags"] == []
    assert doc["kb_suggestions"] == []
    [peer] = doc["peers"]
    assert set(peer) >= {"email", "name", "school", "role", "strength", "audited", "score", "why"}
    assert peer["school"] == "Ashgrove Primary School" and peer["audited"] is True
    assert "Systematic synthetic phonics" in peer["strength"] and peer["why"]


def test_a_real_ask_records_the_question_and_dry_runs_record_nothing(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    args = ("--config", config, "ask", "--as", "e.evans@beacon.sch.uk", "--json")
    _, out, _ = run(capsys, *args, "--dry-run", "how are people getting persistent absence down?")
    first = json.loads(out)
    _, out, _ = run(capsys, *args, "--dry-run", "how are people getting persistent absence down?")
    assert json.loads(out)["peers"] == first["peers"]  # nothing was counted
    _, out, _ = run(capsys, *args, "how are people getting persistent absence down?")
    real = json.loads(out)
    assert real["question_id"] == 1 and real["status"] == "routed" and real["peers"] == first["peers"]
    # The load it counted is visible to the next question the same day.
    _, out, _ = run(capsys, *args, "--dry-run", "how are people getting persistent absence down?")
    assert json.loads(out)["peers"] == [] and json.loads(out)["busy"] >= 1


def test_pupil_data_is_flagged_without_quoting_it(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    code, out, _ = run(
        capsys,
        "--config",
        config,
        "ask",
        "--as",
        "g.hart@ivybridge.sch.uk",
        "--json",
        "--dry-run",
        "Jayden Smith (DOB 01/02/2017) keeps absconding, advice?",
    )
    doc = json.loads(out)
    assert code == 0 and doc["status"] == "held" and doc["peers"] == []
    assert doc["flags"] == [{"kind": "pupil-data", "detail": "looks like a pupil's full name and a date of birth"}]
    assert "Jayden" not in out


def test_batch_prints_one_result_per_line_in_order(
    config: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    lines = [json.loads(x) for x in (DATA / "questions.jsonl").read_text().splitlines()[:5]]
    batch = tmp_path / "b.jsonl"
    batch.write_text("\n".join(json.dumps({k: q[k] for k in ("asker", "channel", "text")}) for q in lines) + "\n")
    capsys.readouterr()
    code, out, _ = run(capsys, "--config", config, "ask", "--batch", str(batch), "--json")
    results = [json.loads(x) for x in out.splitlines()]
    assert code == 0 and len(results) == 5 and all(r["question_id"] is None for r in results)
    assert results[0]["peers"][0]["school"] == "Ashgrove Primary School"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ask", "--as", "nobody@x.uk", "a question about EHCPs"], "there is nobody with the email nobody@x.uk"),
        (["ask", "--as", "g.hart@ivybridge.sch.uk", "--channel", "governors", "a question"], "there is no group"),
        (["ask", "--as", "g.hart@ivybridge.sch.uk"], "give the question"),
        (["ask", "question without asker"], "say who is asking"),
        (["ask", "--as", "g.hart@ivybridge.sch.uk", "x" * 5000], "too long"),
        (["ask", "--batch", "/nonexistent.jsonl"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    config: str, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    capsys.readouterr()
    code, out, err = run(capsys, "--config", config, *argv)
    assert code == 2 and out == "" and err.startswith("error: ") and message in err and err.count("\n") == 1


def test_a_malformed_batch_line_is_named(config: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    batch = tmp_path / "b.jsonl"
    batch.write_text('{"asker": "g.hart@ivybridge.sch.uk", "text": "ok question here"}\nnot json\n')
    capsys.readouterr()
    code, out, err = run(capsys, "--config", config, "ask", "--batch", str(batch), "--json")
    assert code == 2 and out == "" and "b.jsonl:2: is not JSON" in err


def test_peers_who_are_only_busy_are_not_called_nobody(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    again = "persistent absence - what's your graduated response?"
    args = ["--config", config, "ask", "--as", "e.evans@beacon.sch.uk"]
    assert main([*args, "how are people getting persistent absence down?"]) == 0
    capsys.readouterr()
    code, out, _ = run(capsys, "--config", config, "ask", "--as", "c.doyle@hazelwood.sch.uk", "--dry-run", again)
    assert code == 0 and "Nobody in the network fits" not in out
    assert "The 2 peers who fit already have enough requests waiting, so nobody is asked now." in out
    code, out, _ = run(capsys, "--config", config, "ask", "--as", "c.doyle@hazelwood.sch.uk", "--json", again)
    doc = json.loads(out)
    assert doc["status"] == "open" and doc["peers"] == [] and doc["busy"] == 2 and doc["retry_at"]
    code, out, _ = run(capsys, "--config", config, "ask", "--as", "k.lowe@juniper.sch.uk", again)
    assert "Nobody in the network fits" not in out and "so nobody is asked now; they will be asked on " in out


def test_batch_text_never_prints_pupil_details(config: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    batch = tmp_path / "b.jsonl"
    lines = [
        {
            "asker": "g.hart@ivybridge.sch.uk",
            "channel": "heads",
            "text": "Jayden Smith (DOB 01/02/2017) keeps absconding, advice?",
        },
        {
            "asker": "g.hart@ivybridge.sch.uk",
            "channel": "heads",
            "text": "how are people getting persistent absence down?",
        },
    ]
    batch.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    capsys.readouterr()
    code, out, _ = run(capsys, "--config", config, "ask", "--batch", str(batch))
    assert code == 0 and "Jayden" not in out and "2017" not in out
    assert "# [removed]" in out and "Held: it looks like a pupil's full name and a date of birth" in out
    assert "# how are people getting persistent absence down?" in out


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (
            {"asker": "nobody@x.uk", "text": "a question about EHCPs"},
            "b.jsonl:3: there is nobody with the email nobody@x.uk",
        ),
        (
            {"asker": "g.hart@ivybridge.sch.uk", "channel": "governors", "text": "a question"},
            "b.jsonl:3: there is no group",
        ),
    ],
)
@pytest.mark.parametrize("as_json", [True, False])
def test_a_bad_batch_line_stops_it_before_any_output(
    config: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, bad: dict[str, str], message: str, as_json: bool
) -> None:
    good = {
        "asker": "g.hart@ivybridge.sch.uk",
        "channel": "heads",
        "text": "how are people getting persistent absence down?",
    }
    batch = tmp_path / "b.jsonl"
    batch.write_text("\n".join(json.dumps(x) for x in (good, good, bad, good)) + "\n")
    capsys.readouterr()
    code, out, err = run(capsys, "--config", config, "ask", "--batch", str(batch), *(["--json"] if as_json else []))
    assert code == 2 and out == "" and err.startswith("error: ") and message in err and err.count("\n") == 1
