"""Reading the convenor's CSV files exactly as ``formats.md`` says.

UTF-8 with or without a BOM, a header row whose names are case-insensitive and in any
order, unknown columns kept as notes (even two of the same name), ``;`` between list
items, ISO dates, and every problem reported as ``FILE:LINE: what is wrong``.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_CELL_CHARS = 10_000


class Problems:
    """Collects ``FILE:LINE: problem`` lines for one import."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, filename: str, line: int | None, problem: str) -> None:
        where = f"{filename}:{line}" if line is not None else filename
        self.lines.append(f"{where}: {problem}")

    def __bool__(self) -> bool:
        return bool(self.lines)


@dataclass(frozen=True)
class CsvRow:
    """One data row: ``line`` is where the row starts in the file (the header is line 1)."""

    filename: str
    line: int
    cells: dict[str, str]
    extra: dict[str, str] = field(default_factory=dict)

    def get(self, column: str) -> str:
        return self.cells.get(column, "")


def read_csv(
    data: bytes,
    *,
    filename: str,
    required: Iterable[str],
    optional: Iterable[str],
    problems: Problems,
) -> list[CsvRow]:
    """Parse a CSV file into rows; problems are added to ``problems``, never raised."""
    required = list(required)
    known = set(required) | set(optional)
    if len(data) > MAX_FILE_BYTES:
        problems.add(filename, None, f"is too large ({len(data):,} bytes; the limit is {MAX_FILE_BYTES:,})")
        return []
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        problems.add(filename, line, "is not UTF-8 text (save it as 'CSV UTF-8' from your spreadsheet)")
        return []
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        problems.add(filename, line, "contains binary data, not CSV text")
        return []
    if not text.strip():
        problems.add(filename, None, f"is empty (expected a header row: {', '.join(required)})")
        return []

    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except csv.Error as exc:
        problems.add(filename, 1, f"cannot be read as CSV ({exc})")
        return []
    columns = [" ".join(h.split()).lower() for h in header]
    originals = [h.strip() for h in header]
    seen: dict[str, int] = {}
    for i, col in enumerate(columns):
        if not col:
            continue
        if col in seen and col in known:
            problems.add(filename, 1, f"column '{originals[i]}' appears twice")
            return []
        seen.setdefault(col, i)
    # Unknown columns are notes, named by their header; a repeated one by its place too.
    note_names: list[str] = []
    for i, col in enumerate(columns):
        name = originals[i] or f"column {i + 1}"
        if col and seen.get(col) != i:
            name = f"{originals[i]} (column {i + 1})"
        note_names.append(name)
    missing = [c for c in required if c not in seen]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        problems.add(
            filename,
            1,
            f"missing column{plural} {', '.join(repr(m) for m in missing)} "
            f"(the header row needs: {', '.join(required)})",
        )
        return []

    rows: list[CsvRow] = []
    last_line = reader.line_num
    while True:
        start = last_line + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.add(filename, start, f"cannot be read as CSV ({exc})")
            return rows
        last_line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(columns) and any(c.strip() for c in cells[len(columns) :]):
            problems.add(filename, start, f"has {len(cells)} cells but the header has {len(columns)} columns")
            continue
        values: dict[str, str] = {}
        extra: dict[str, str] = {}
        too_long = False
        for i, col in enumerate(columns):
            value = cells[i].strip() if i < len(cells) else ""
            if len(value) > MAX_CELL_CHARS:
                problems.add(filename, start, f"the '{originals[i]}' cell is too long ({len(value):,} characters)")
                too_long = True
                break
            if col in known:
                values[col] = value
            elif value:
                extra[note_names[i]] = value
        if not too_long:
            rows.append(CsvRow(filename=filename, line=start, cells=values, extra=extra))
    return rows


def split_list(cell: str) -> list[str]:
    """``a; b ;; c`` → ``["a", "b", "c"]``."""
    return [" ".join(part.split()) for part in cell.split(";") if part.strip()]


_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_date(value: str) -> date:
    """An ISO ``YYYY-MM-DD`` date, or ``ValueError`` with a message fit for a convenor."""
    v = value.strip()
    if not _ISO.match(v):
        raise ValueError(f"'{v}' is not a date in the form YYYY-MM-DD (e.g. 2026-09-03)")
    try:
        return date.fromisoformat(v)
    except ValueError:
        raise ValueError(f"'{v}' is not a real date") from None
