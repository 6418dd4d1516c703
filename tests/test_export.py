"""Exports hold data, never formulas: text typed into an audit or an action stays text in
the XLSX and CSV files a convenor opens (OWASP: CSV/formula injection)."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import load_workbook

from bot.app import PeerBot
from bot.audit.analysis import analyse
from bot.audit.export import FORMULA_STARTS, Sheet, write_csv, write_xlsx
from bot.cli import main
from tests.support.chat import Chat
from tests.support.cli import demo_config

EVIL = '=HYPERLINK("http://evil.example","Phonics help")'
CONVENOR = "p.shah@oakfield.sch.uk"


def sheet(*rows: list[str | int | float | None]) -> Sheet:
    return Sheet(title="T", headers=["a", "b", "c"], widths=[10, 10, 10], rows=[list(r) for r in rows])


def read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


def test_xlsx_cells_are_text_never_formulas(tmp_path: Path) -> None:
    path = tmp_path / "t.xlsx"
    write_xlsx([sheet([EVIL, "+44 1234", -3], ["@SUM(A1)", "plain", 2.5])], path)
    ws = load_workbook(path)["T"]
    assert [(c.value, c.data_type) for c in ws[2]] == [(EVIL, "s"), ("+44 1234", "s"), (-3, "n")]
    assert [(c.value, c.data_type) for c in ws[3]] == [("@SUM(A1)", "s"), ("plain", "s"), (2.5, "n")]


def test_csv_cells_that_look_like_formulas_are_quoted(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    write_csv(sheet([EVIL, "-1 pupil", -3], ["\tx", "plain", None]), path)
    assert read_csv(path)[1:] == [["'" + EVIL, "'-1 pupil", "-3"], ["'\tx", "plain", ""]]


@given(st.text(max_size=40))
def test_no_csv_cell_reads_back_as_a_formula(value: str) -> None:
    import io

    from bot.audit.export import csv_cell

    buffer = io.StringIO()
    csv.writer(buffer).writerow([csv_cell(value)])
    [back] = list(csv.reader(io.StringIO(buffer.getvalue(), newline="")))
    cell = back[0] if back else ""
    assert not cell.startswith(FORMULA_STARTS)
    assert cell.removeprefix("'") == value or cell == value


async def test_an_audit_item_typed_as_a_formula_stays_text_in_the_analysis(
    chat: Chat, demo_bot: PeerBot, tmp_path: Path
) -> None:
    [reply] = await chat.say(CONVENOR, f"audit marygreen: add need {EVIL}")
    assert reply.text.startswith("Done")
    async with demo_bot.db.session() as session:
        result = await analyse(session, demo_bot.network_id)
    xlsx, csv_path = tmp_path / "a.xlsx", tmp_path / "a.csv"
    write_xlsx(result.sheets(), xlsx)
    write_csv(result.sheets()[0], csv_path)
    wb = load_workbook(xlsx)
    cells = [c for ws in wb for row in ws.iter_rows() for c in row if c.value == EVIL]
    assert cells and all(c.data_type == "s" for c in cells)
    assert all(c.data_type != "f" for ws in wb for row in ws.iter_rows() for c in row)
    assert any(row[1] == "'" + EVIL for row in read_csv(csv_path))


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_the_action_plan_exports_hold_no_formulas(capsys: pytest.CaptureFixture[str], tmp_path: Path, fmt: str) -> None:
    config = demo_config(tmp_path, name="Exports")
    review = (date.today() + timedelta(days=70)).isoformat()  # the command line runs on the real clock
    args = ["--config", str(config), "actions", "add", "--owner", CONVENOR, "--review", review]
    assert main([*args, "--action", EVIL, "--notes", "+1 more"]) == 0
    out = tmp_path / f"plan.{fmt}"
    assert main(["--config", str(config), "actions", "list", f"--{fmt}", str(out)]) == 0
    if fmt == "xlsx":
        ws = load_workbook(out)["Partnership Action Plan"]
        assert (ws["B2"].value, ws["B2"].data_type) == (EVIL, "s")
        assert (ws["E2"].value, ws["E2"].data_type) == ("+1 more", "s")
    else:
        row = read_csv(out)[1]
        assert row[1] == "'" + EVIL and row[4] == "'+1 more"
