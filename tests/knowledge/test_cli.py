"""``peerbot kb ...`` per formats.md: shapes, exit statuses, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from tests.support.kb import pdf_bytes

DATA = Path(__file__).resolve().parents[1] / "data" / "kb"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "peerbot.toml"
    path.write_text('[network]\nname = "KB Network"\n', encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_add_then_search_json(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "--config", str(config), "kb", "add", "--title", "Attendance policy", "--kind", "policy",
        "--tags", "attendance;PA", "--ref", "ext-1", "--text", "Parents ring the office by 9.15am.", "--json",
    )  # fmt: skip
    assert code == 0 and json.loads(out)["outcome"] == "added"
    code, out, _ = run(capsys, "--config", str(config), "kb", "search", "--json", "--limit", "5", "attendence")
    doc = json.loads(out)
    assert code == 0 and list(doc) == ["results"]
    result = doc["results"][0]
    assert set(result) == {"id", "title", "kind", "school", "score", "snippet", "ref"}
    assert result["ref"] == "ext-1" and result["kind"] == "policy" and 0 < result["score"] <= 1
    code, out, _ = run(capsys, "--config", str(config), "kb", "search", "zzzz")
    assert code == 0 and "Nothing found." in out


def test_import_folder_reports_bad_files_and_imports_the_rest(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "policies"
    (folder / "sub").mkdir(parents=True)
    (folder / "attendance.pdf").write_bytes(pdf_bytes(2))
    (folder / "sub" / "behaviour.md").write_text("# Behaviour policy\n\nReview date: 2025-09-01\n\n- Ready\n")
    (folder / "broken.pdf").write_bytes(b"junk")
    (folder / "empty.txt").write_bytes(b"")
    (folder / "logo.png").write_bytes(b"\x89PNG")
    code, out, _ = run(capsys, "--config", str(config), "kb", "import", str(folder), "--json")
    doc = json.loads(out)
    assert code == 0 and doc["added"] == 2
    assert sorted(doc["problems"]) == ["broken.pdf: is not a PDF (it does not start like one)", "empty.txt: is empty"]
    assert doc["skipped"] == ["logo.png"]
    code, out, _ = run(capsys, "--config", str(config), "kb", "import", str(folder))
    assert code == 0 and "0 added, 0 updated, 2 unchanged" in out
    code, out, _ = run(capsys, "--config", str(config), "kb", "due", "--json")
    assert [e["title"] for e in json.loads(out)["entries"]] == ["Behaviour policy"]
    code, out, _ = run(capsys, "--config", str(config), "kb", "stats", "--json")
    assert json.loads(out)["overdue"] == 1 and json.loads(out)["active"] == 2
    code, _, err = run(capsys, "--config", str(config), "kb", "import", str(tmp_path / "nope"))
    assert code == 2 and err.startswith("error: ") and "is not a folder" in err


def test_import_jsonl_is_all_or_nothing(config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"ref":"a","kind":"answer","title":"T","text":"x"}\n{"ref":"b","kind":"memo","title":"T","text":"x"}\n'
    )
    code, _, err = run(capsys, "--config", str(config), "kb", "import-jsonl", str(bad))
    assert code == 2 and "bad.jsonl:2: kind must be one of" in err
    code, out, _ = run(capsys, "--config", str(config), "kb", "search", "--json", "T")
    assert json.loads(out)["results"] == []
    code, out, _ = run(capsys, "--config", str(config), "kb", "import-jsonl", str(DATA / "entries.jsonl"), "--json")
    assert code == 0 and json.loads(out)["added"] == 93
    code, out, _ = run(capsys, "--config", str(config), "kb", "import-jsonl", str(DATA / "entries.jsonl"), "--json")
    assert json.loads(out) == {"added": 0, "updated": 0, "unchanged": 93}


def test_search_batch_prints_one_line_per_query(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "--config", str(config), "kb", "import-jsonl", str(DATA / "entries.jsonl"))
    batch = tmp_path / "q.jsonl"
    batch.write_text('{"query": "EBSA"}\nnot json\n{"query": "' + "x" * 10000 + '"}\n{"query": "!!!"}\n')
    code, out, _ = run(capsys, "--config", str(config), "kb", "search", "--batch", str(batch), "--limit", "3")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(lines) == 4
    assert lines[0]["results"][0]["ref"] == "att-ebsa-return" and len(lines[0]["results"]) == 3
    assert "error" in lines[1] and lines[2]["results"] == [] and lines[3]["results"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["kb", "search", "--limit", "0", "x"], "--limit must be between"),
        (["kb", "search"], "what should I search for"),
        (["kb", "add", "--kind", "policy", "--title", "T", "--file", "/no/such.pdf"], "such.pdf: does not exist"),
        (["kb", "add", "--kind", "answer", "--title", "T", "--text", "x", "--school", "Nowhere"], "no school"),
        (["kb", "search", "--as", "nobody@x.org", "x"], "nobody in the network"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    config: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, _, err = run(capsys, "--config", str(config), *args)
    assert code == 2 and err.startswith("error: ") and message in err and err.count("\n") == 1
