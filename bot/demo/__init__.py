"""The demo network: a fictional local cluster shipped with the package.

``peerbot demo`` writes a small config into a data folder, imports these files into the
SQLite database beside it (importing is idempotent, so the second run reuses it) and
opens the console chat.
"""

from __future__ import annotations

import csv
import io
import os
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import TypedDict

from bot.network.parse import SourceFile

DEMO_NETWORK = "Riverside Learning Partnership (demo)"

DEMO_CONFIG = f"""\
# Written by `peerbot demo`. A real network starts from config.example.toml instead.
[network]
name = "{DEMO_NETWORK}"
timezone = "Europe/London"

[platforms]
run = ["console"]
"""


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "peerbot" / "demo"


def write_demo_config(data_dir: Path) -> Path:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "peerbot.toml"
    if not path.exists():
        path.write_text(DEMO_CONFIG, encoding="utf-8")
    return path


def demo_file(name: str) -> SourceFile:
    data = resources.files("bot.demo").joinpath("data", name).read_bytes()
    return SourceFile(name=name, data=data)


class NetworkFiles(TypedDict):
    schools: SourceFile
    people: SourceFile
    audit: SourceFile
    terms: SourceFile


def demo_sources(today: date | None = None) -> NetworkFiles:
    """The shipped files. Given ``today``, the term dates are moved on by whole years of
    52 weeks (weekdays kept) until the last half-term has not yet ended, so the demo
    always has a school year to plan meetings in."""
    terms = demo_file("terms.csv")
    if today is not None:
        terms = SourceFile(name=terms.name, data=_terms_reaching(terms.data, today))
    return {
        "schools": demo_file("schools.csv"),
        "people": demo_file("people.csv"),
        "audit": demo_file("audit.csv"),
        "terms": terms,
    }


def _terms_reaching(data: bytes, today: date) -> bytes:
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    last_end = max(date.fromisoformat(row["end"]) for row in rows)
    year = timedelta(weeks=52)
    shift = timedelta(0)
    while last_end + shift < today:
        shift += year
    if not shift:
        return data

    def moved(day: str) -> str:
        return (date.fromisoformat(day) + shift).isoformat()

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        inset = ";".join(moved(d) for d in row["inset"].split(";") if d.strip())
        writer.writerow({**row, "start": moved(row["start"]), "end": moved(row["end"]), "inset": inset})
    return out.getvalue().encode("utf-8")
