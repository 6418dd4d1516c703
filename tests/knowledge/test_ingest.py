"""Reading files: every format keeps headings, lists and tables; bad files are named and explained."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from knowledge.ingest import UnreadableFile, extract, parse_date, policy_details, read_path, title_from_filename
from tests.support.kb import docx_bytes, pdf_bytes


def test_markdown_keeps_headings_lists_and_tables_as_text() -> None:
    doc = extract(
        "behaviour.md",
        b"# Behaviour policy\n\nVersion: 6\nReview date: 31 August 2027\n\n## Rules\n\n* **Ready**\n* _Respectful_\n"
        b"1. [Safe](https://example.org)\n\n| Stage | Sanction |\n|---|---|\n| 1 | Reminder |\n",
    )
    assert doc.title == "Behaviour policy"
    assert doc.version == "6" and doc.review_on == date(2027, 8, 31)
    lines = doc.text.splitlines()
    assert "Rules" in lines and "- Ready" in lines and "- Respectful" in lines
    assert "- Safe (https://example.org)" in lines
    assert "Stage | Sanction" in lines and "1 | Reminder" in lines
    assert "**" not in doc.text and "|---" not in doc.text


def test_plain_text_accepts_a_bom_and_windows_ansi() -> None:
    assert extract("a.txt", "\ufeffCafé rota".encode()).text == "Café rota"
    assert extract("b.txt", "Café rota – week 1".encode("cp1252")).text == "Café rota – week 1"


def test_word_documents_keep_headings_bullets_and_tables_in_order() -> None:
    data = docx_bytes(
        "Safer recruitment policy",
        ["Review date: 1 January 2027", "Every panel has one trained member."],
        ["Enhanced DBS", "Two references"],
        [("Check", "Who"), ("DBS", "SBM")],
    )
    doc = extract("recruitment.docx", data)
    assert doc.title == "Safer recruitment policy"
    assert doc.review_on == date(2027, 1, 1)
    lines = [ln for ln in doc.text.splitlines() if ln]
    assert lines.index("- Enhanced DBS") < lines.index("Check | Who") < lines.index("DBS | SBM")


def test_pdf_text_keeps_lines_and_table_rows() -> None:
    doc = extract("attendance.pdf", pdf_bytes(3))
    assert doc.title == "Attendance policy"
    assert "- Step 1: parents telephone the school office by 9.15am on each day of absence." in doc.text
    assert "Below 90% Meeting with EWO" in doc.text
    assert doc.text.count("Section") == 2


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.md", b"", "is empty"),
        ("blank.txt", b"  \n\n ", "is empty"),
        ("junk.pdf", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "is not a PDF"),
        ("broken.pdf", b"%PDF-1.7\n" + b"\x00garbage" * 50, "is not a readable PDF"),
        ("old.docx", b"\xd0\xcf\x11\xe0 an old binary .doc", "not a readable Word document"),
        ("binary.txt", b"\x00\x01\x02\x03" * 100, "does not look like text"),
        ("photo.jpg", b"\xff\xd8\xff", "not a file type I can read"),
    ],
)
def test_unreadable_files_are_named_with_the_reason(name: str, data: bytes, reason: str) -> None:
    with pytest.raises(UnreadableFile) as err:
        extract(name, data)
    assert str(err.value).startswith(f"{name}: ") and reason in str(err.value)


def test_a_file_over_the_size_limit_is_refused_before_reading(tmp_path) -> None:  # type: ignore[no-untyped-def]
    big = tmp_path / "huge.txt"
    big.write_bytes(b"a" * 5000)
    with pytest.raises(UnreadableFile, match=r"over the 0\.0 MB limit"):
        read_path(big, max_bytes=2048)
    with pytest.raises(UnreadableFile, match="does not exist"):
        read_path(tmp_path / "missing.pdf")


def test_a_pdf_without_text_says_so() -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    with pytest.raises(UnreadableFile, match="no text I can read"):
        extract("scan.pdf", bytes(pdf.output()))


def test_titles_from_file_names() -> None:
    assert title_from_filename("attendance-policy_2025.pdf") == "Attendance policy 2025"
    assert title_from_filename("___.md") == "Untitled"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2027-09-01", date(2027, 9, 1)),
        ("01/09/2027", date(2027, 9, 1)),
        ("1.9.27", date(2027, 9, 1)),
        ("1st September 2027", date(2027, 9, 1)),
        ("Sept 2027", date(2027, 9, 1)),
        ("when governors next meet", None),
        ("31/02/2027", None),
    ],
)
def test_dates_in_policies(text: str, expected: date | None) -> None:
    assert parse_date(text) == expected


def test_policy_front_matter() -> None:
    d = policy_details(
        "Child protection policy\nApproved by governors: 12/10/2026\nNext review: October 2027\nVersion 3.1"
    )
    assert (d.adopted_on, d.review_on, d.version) == (date(2026, 10, 12), date(2027, 10, 1), "3.1")


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2099, 12, 31)))
def test_dates_round_trip_in_every_written_form(d: date) -> None:
    for text in (d.isoformat(), f"{d:%d/%m/%Y}", f"{d.day} {d:%B %Y}", f"Review date: {d.day}th {d:%b %Y}"):
        assert parse_date(text) == d


@settings(max_examples=200)
@given(st.text(max_size=400))
def test_any_text_parses_or_returns_nothing(text: str) -> None:
    parse_date(text)
    policy_details(text)


@settings(max_examples=150)
@given(st.binary(max_size=600), st.sampled_from(["a.md", "a.txt", "a.pdf", "a.docx", "a.xyz"]))
def test_any_bytes_either_read_or_are_refused_politely(data: bytes, name: str) -> None:
    try:
        doc = extract(name, data)
    except UnreadableFile as exc:
        assert str(exc).startswith(f"{name}: ")
    else:
        assert doc.text and "\x00" not in doc.text


@settings(max_examples=150)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=500))
def test_any_markdown_reads(text: str) -> None:
    try:
        doc = extract("notes.md", text.encode("utf-8"))
    except UnreadableFile as exc:
        assert "is empty" in str(exc) or "no text" in str(exc) or "not" in str(exc)
    else:
        assert doc.text == doc.text.strip()


def test_a_damaged_pdf_is_reported_once_by_name_and_pypdf_stays_quiet(tmp_path: Path) -> None:
    """Run as a convenor runs it, with no logging set up: pypdf's own warnings ("EOF marker
    not found") would go straight to stderr beside the import's report."""
    import subprocess
    import sys

    config = tmp_path / "peerbot.toml"
    config.write_text('[network]\nname = "KB Network"\n', encoding="utf-8")
    folder = tmp_path / "minutes"
    folder.mkdir()
    (folder / "minutes.pdf").write_bytes(pdf_bytes(1)[:-200])  # cut short: no EOF marker
    (folder / "agenda.md").write_text("# Agenda\n\n- Attendance\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(config), "kb", "import", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "minutes.pdf: is not a readable PDF (it may be damaged)" in done.stdout
    assert "EOF" not in done.stdout + done.stderr and done.stderr.strip() == ""
