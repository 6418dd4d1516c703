"""Tables a convenor can open, print and share: CSV (UTF-8 with a BOM, as Excel likes)
and XLSX with bold headers, sensible column widths, wrapped text, a frozen header row and
landscape, fit-to-width printing.

Every cell is data, never a formula: the text comes from people (an audit item, an
action), and a spreadsheet would run ``=HYPERLINK(...)`` typed into one. XLSX cells holding
text are written as text; CSV cells that a spreadsheet would read as a formula get a
leading ``'`` (OWASP's advice on CSV injection)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill

from bot.errors import BadInput

Cell = str | int | float | None

# What makes a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Cell) -> str | int | float:
    """A cell as CSV writes it: text a spreadsheet would take for a formula is quoted with ``'``."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


@dataclass
class Sheet:
    title: str
    headers: list[str]
    widths: list[int]
    rows: list[list[Cell]] = field(default_factory=list)


def _check_writable(path: Path) -> None:
    if path.is_dir() or not path.parent.exists():
        raise BadInput(f"cannot write {path}: no such folder, or it is a folder")


def write_csv(sheet: Sheet, path: Path) -> None:
    _check_writable(path)
    try:
        with path.open("w", encoding="utf-8-sig", newline="") as f:
            w = csv.writer(f)
            w.writerow([csv_cell(h) for h in sheet.headers])
            w.writerows([csv_cell(c) for c in row] for row in sheet.rows)
    except OSError as exc:
        raise BadInput(f"cannot write {path}: {exc.strerror}") from None


def write_xlsx(sheets: Sequence[Sheet], path: Path) -> None:
    _check_writable(path)
    wb = Workbook()
    first = True
    for sheet in sheets:
        ws = wb.active if first else wb.create_sheet()
        assert ws is not None
        first = False
        ws.title = sheet.title[:31]
        ws.append(sheet.headers)
        for row in sheet.rows:
            ws.append(row)
        for cells in ws.iter_rows():
            for cell in cells:
                if isinstance(cell.value, str):
                    cell.data_type = "s"  # text, even when it starts with "=": never a formula
        header_fill = PatternFill("solid", fgColor="DDEBF7")
        for cell in ws[1]:
            cell.font = Font(bold=True)
            cell.fill = header_fill
            cell.alignment = Alignment(vertical="top", wrap_text=True)
        for row in ws.iter_rows(min_row=2):
            for cell in row:
                cell.alignment = Alignment(vertical="top", wrap_text=True)
        for i, width in enumerate(sheet.widths, start=1):
            ws.column_dimensions[ws.cell(row=1, column=i).column_letter].width = width
        ws.freeze_panes = "A2"
        ws.page_setup.orientation = "landscape"
        ws.page_setup.fitToWidth = 1
        ws.page_setup.fitToHeight = 0
        ws.sheet_properties.pageSetUpPr.fitToPage = True
        ws.print_title_rows = "1:1"
    try:
        wb.save(path)
    except OSError as exc:
        raise BadInput(f"cannot write {path}: {exc.strerror}") from None
