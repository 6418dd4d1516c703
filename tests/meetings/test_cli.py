"""``peerbot terms|meetings|actions|outbox``: shapes, JSON, exit statuses, config terms.

The CLI runs on the real clock, so these tests use term dates in 2040."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.demo import demo_file
from tests.meetings.test_ics import ics_calendar

YEAR_2040 = [
    ("Autumn 1", date(2040, 9, 4), date(2040, 10, 19)),
    ("INSET", date(2040, 9, 4), date(2040, 9, 4)),
    ("Autumn 2", date(2040, 10, 29), date(2040, 12, 19)),
    ("Spring 1", date(2041, 1, 3), date(2041, 2, 15)),
    ("Spring 2", date(2041, 2, 25), date(2041, 3, 28)),
    ("Summer 1", date(2041, 4, 15), date(2041, 5, 24)),
    ("Summer 2", date(2041, 6, 3), date(2041, 7, 19)),
]
ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "peerbot.toml"
    path.write_text('[network]\nname = "CLI Network"\n', encoding="utf-8")
    return path


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def network(config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    files = []
    for name in ("schools.csv", "people.csv"):
        (tmp_path / name).write_bytes(demo_file(name).data)
        files.append(tmp_path / name)
    (tmp_path / "terms.ics").write_bytes(ics_calendar(YEAR_2040))
    code, _, err = cli(
        capsys,
        "--config",
        str(config),
        "network",
        "import",
        "--schools",
        str(files[0]),
        "--people",
        str(files[1]),
        "--terms",
        str(tmp_path / "terms.ics"),
    )
    assert code == 0, err
    return config


def test_terms_show_says_plainly_when_none_are_loaded(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "--config", str(config), "terms", "show")
    assert code == 0 and "No term dates are loaded for" in out and "peerbot network import --terms" in out
    code, out, _ = cli(capsys, "--config", str(config), "terms", "show", "--json")
    doc = json.loads(out)
    assert doc["half_terms"] == [] and "No term dates" in doc["message"]
    code, out, _ = cli(capsys, "--config", str(config), "meetings", "plan", "--json")
    assert json.loads(out)["meetings"] == [] and "No term dates" in json.loads(out)["problem"]


def test_terms_show_lists_the_six_half_terms(network: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "--config", str(network), "terms", "show", "--year", "2040", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["academic_year"] == "2040-41"
    assert [t["name"] for t in doc["half_terms"]] == [
        "Autumn 1",
        "Autumn 2",
        "Spring 1",
        "Spring 2",
        "Summer 1",
        "Summer 2",
    ]
    assert doc["half_terms"][0]["inset"] == ["2040-09-04"]
    code, out, _ = cli(capsys, "--config", str(network), "terms", "show", "--year", "2040")
    assert "Autumn 1: 2040-09-04 to 2040-10-19" in out and "INSET 2040-09-04" in out


def test_meetings_plan_json_is_exactly_the_contract(network: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "--config", str(network), "meetings", "plan", "--json")
    assert code == 0 and err == ""
    doc = json.loads(out)
    plans = [m for m in doc["meetings"] if m["half_term"] in {n for n, *_ in YEAR_2040}]
    assert [m["half_term"] for m in plans] == ["Autumn 1", "Autumn 2", "Spring 1", "Spring 2", "Summer 1", "Summer 2"]
    for m in plans:
        assert {"group", "half_term", "start", "end", "candidates"} <= set(m)
        assert m["group"] == "heads" and m["candidates"] and m["start"] == m["candidates"][0]
        for value in (m["start"], m["end"], *m["candidates"]):
            assert ISO_WITH_OFFSET.match(value), value
    # Autumn 1 is in BST, Autumn 2 after the October switch in GMT: 09:30 London both.
    assert plans[0]["start"].endswith("T09:30:00+01:00") and plans[1]["start"].endswith("T09:30:00+00:00")
    code, out, _ = cli(capsys, "--config", str(network), "meetings", "plan")
    assert "heads — Autumn 1 (4 Sep to 19 Oct 2040): planned" in out and "  1. Wed " in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["meetings", "plan", "--group", "nope"], "there is no group 'nope'"),
        (["meetings", "plan", "--group", "dsl"], "the dsl group has no meetings"),
        (["meetings", "book", "999", "--option", "1"], "there is no meeting number 999"),
        (["meetings", "cancel", "999"], "there is no meeting number 999"),
        (
            ["actions", "add", "--owner", "nobody@x.uk", "--review", "2040-10-01", "--action", "x"],
            "nobody in the network",
        ),
        (["actions", "add", "--owner", "p.shah@oakfield.sch.uk", "--review", "2001-10-01", "--action", "x"], "passed"),
        (["actions", "add", "--owner", "p.shah@oakfield.sch.uk", "--review", "soon", "--action", "x"], "as a date"),
        (["outbox", "retry", "12345"], "there is no message number 12345"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    network: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = cli(capsys, "--config", str(network), *argv)
    assert code == 2 and out == "" and err.count("\n") == 1 and err.startswith("error: ") and message in err, err


def test_a_calendar_without_term_dates_is_bad_input(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.ics"
    empty.write_bytes(b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n")
    code, out, err = cli(capsys, "--config", str(config), "network", "import", "--terms", str(empty))
    assert code == 2 and out == "" and err.startswith("error: empty.ics: no term dates found in empty.ics")
    assert err.count("\n") == 1


def test_sweep_book_and_cancel_from_the_command_line(network: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "--config", str(network), "meetings", "sweep", "--json")
    assert code == 0 and json.loads(out)["created"] >= 6
    code, out, _ = cli(capsys, "--config", str(network), "meetings", "plan", "--json")
    autumn = next(m for m in json.loads(out)["meetings"] if m["half_term"] == "Autumn 1")
    assert autumn["id"] and autumn["status"] == "planned"
    code, out, err = cli(capsys, "--config", str(network), "meetings", "book", str(autumn["id"]), "--option", "2")
    assert code == 0, err
    code, out, _ = cli(capsys, "--config", str(network), "meetings", "plan", "--json")
    booked = next(m for m in json.loads(out)["meetings"] if m["half_term"] == "Autumn 1")
    assert booked["status"] == "booked" and booked["start"] == autumn["candidates"][1]
    code, out, err = cli(
        capsys, "--config", str(network), "meetings", "book", str(autumn["id"]), "--at", "2040-10-02 16:00"
    )
    assert code == 0 and "16:00" in out, err
    christmas = ("meetings", "book", str(autumn["id"]), "--at", "2040-12-25 23:00")
    code, out, err = cli(capsys, "--config", str(network), *christmas)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(
        "error: Tue 25 Dec, 23:00 is on a bank holiday and outside Autumn 1 (Tue 4 Sep to Fri 19 Oct)"
    )
    assert err.endswith("outside the school day (07:30–18:30): choose another time, or add --force\n")
    code, out, err = cli(capsys, "--config", str(network), *christmas, "--force")
    assert code == 0 and "Tue 25 Dec, 23:00" in out, err
    code, _, err = cli(capsys, "--config", str(network), "meetings", "cancel", str(autumn["id"]))
    assert code == 0
    code, _, err = cli(capsys, "--config", str(network), "meetings", "cancel", str(autumn["id"]))
    assert code == 2 and "already cancelled" in err


def test_corrected_terms_keep_a_booked_meeting_in_its_half_term(
    network: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(capsys, "--config", str(network), "meetings", "sweep")
    code, out, _ = cli(capsys, "--config", str(network), "meetings", "plan", "--json")
    autumn = next(m for m in json.loads(out)["meetings"] if m["half_term"] == "Autumn 1")
    code, _, err = cli(capsys, "--config", str(network), "meetings", "book", str(autumn["id"]), "--option", "2")
    assert code == 0, err
    corrected = [(n, date(2040, 9, 3) if n == "Autumn 1" else s, e) for n, s, e in YEAR_2040]
    (tmp_path / "terms.ics").write_bytes(ics_calendar(corrected))
    code, out, err = cli(capsys, "--config", str(network), "network", "import", "--terms", str(tmp_path / "terms.ics"))
    assert code == 0 and "terms: 1 updated, 5 unchanged" in out, (out, err)
    code, out, _ = cli(capsys, "--config", str(network), "meetings", "plan", "--json")
    [moved] = [m for m in json.loads(out)["meetings"] if m["half_term"] == "Autumn 1"]
    assert moved["id"] == autumn["id"] and moved["status"] == "booked"


def test_terms_remove_a_year_loaded_by_mistake(network: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "--config", str(network), "terms", "remove", "--year", "2040")
    assert code == 0 and out.startswith("Removed the 6 half-terms of 2040-41."), err
    code, out, _ = cli(capsys, "--config", str(network), "terms", "show", "--year", "2040", "--json")
    assert json.loads(out)["half_terms"] == []
    code, out, err = cli(capsys, "--config", str(network), "terms", "remove", "--year", "2040")
    assert code == 2 and err == "error: no half-terms of 2040-41 are loaded\n"


def test_actions_from_the_command_line(network: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(
        capsys,
        "--config",
        str(network),
        "actions",
        "add",
        "--owner",
        "k.lloyd@hollybrook.sch.uk",
        "--review",
        (date.today() + timedelta(days=30)).isoformat(),
        "--action",
        "Share the attendance toolkit",
        "--aim",
        "Improve attendance",
        "--json",
    )
    assert code == 0, err
    action_id = json.loads(out)["id"]
    code, out, _ = cli(capsys, "--config", str(network), "actions", "list", "--json")
    [row] = json.loads(out)["actions"]
    assert (
        row["owner"] == "k.lloyd@hollybrook.sch.uk" and row["aim"] == "Improve attendance" and row["status"] == "open"
    )
    code, out, _ = cli(capsys, "--config", str(network), "actions", "done", str(action_id))
    assert code == 0
    code, out, _ = cli(capsys, "--config", str(network), "actions", "list", "--json")
    assert json.loads(out)["actions"] == []


def test_terms_in_the_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "peerbot.toml"
    path.write_text(
        '[network]\nname = "Config Terms"\n\n'
        '[[terms]]\nname = "Autumn 1"\nstart = 2040-09-04\nend = 2040-10-19\ninset = [2040-09-04]\n\n'
        '[[terms]]\nname = "Autumn 2"\nstart = 2040-10-29\nend = 2040-12-19\n',
        encoding="utf-8",
    )
    code, out, err = cli(capsys, "--config", str(path), "terms", "show", "--year", "2040", "--json")
    assert code == 0, err
    assert [t["name"] for t in json.loads(out)["half_terms"]] == ["Autumn 1", "Autumn 2"]
    # A start date corrected in the config replaces the one loaded (it is not an "overlap").
    path.write_text(path.read_text().replace("start = 2040-10-29", "start = 2040-10-30"), encoding="utf-8")
    code, out, err = cli(capsys, "--config", str(path), "terms", "show", "--year", "2040", "--json")
    assert code == 0 and err == "", err
    assert [t["start"] for t in json.loads(out)["half_terms"]] == ["2040-09-04", "2040-10-30"]
    code, _, err = cli(capsys, "--config", str(path), "terms", "remove", "--year", "2040")
    assert code == 2 and "come from the config's [[terms]]: remove them there" in err
    path.write_text(
        path.read_text().replace("start = 2040-10-30", "start = 2040-10-10"),
        encoding="utf-8",
    )
    code, out, err = cli(capsys, "--config", str(path), "terms", "show")
    assert code == 2 and "overlaps Autumn 1" in err and err.count("\n") == 1


def test_outbox_failures_are_listed_and_can_be_retried(network: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    from bot.app import PeerBot
    from bot.config import load_config
    from bot.models import OutboxMessage
    from bot.replies import Message, ToGroup

    async def fail_one() -> int:
        bot = await PeerBot.open(load_config(network))
        try:
            async with bot.db.session() as session:
                await bot.queue(session, ToGroup("heads"), Message(text="hello"), key="meeting:1:poll")
                row = (await session.execute(OutboxMessage.__table__.select())).first()
                assert row is not None
                obj = await session.get(OutboxMessage, row.id)
                assert obj is not None
                obj.status, obj.last_error = "failed", "channel_archived"
                return obj.id
        finally:
            await bot.close()

    row_id = asyncio.run(fail_one())
    code, out, _ = cli(capsys, "--config", str(network), "outbox", "failed", "--json")
    [failed] = json.loads(out)["failed"]
    assert failed["id"] == row_id and failed["error"] == "channel_archived" and "hello" not in out
    code, out, _ = cli(capsys, "--config", str(network), "outbox", "retry", str(row_id))
    assert code == 0
    code, out, _ = cli(capsys, "--config", str(network), "outbox", "failed", "--json")
    assert json.loads(out)["failed"] == []
    code, _, err = cli(capsys, "--config", str(network), "outbox", "retry", str(row_id))
    assert code == 2 and "not failed" in err
