"""Reading files into entries: Markdown, plain text, Word (.docx) and PDF.

Text is extracted faithfully enough to search and to read in chat: headings stay as their
own lines, list items start ``- ``, table rows become ``cell | cell | cell`` lines. A file
that cannot be read raises :class:`UnreadableFile` naming the file and the reason; the
caller reports it and goes on with the rest.

PDF text comes from pypdf: on a generated 100-page policy it extracts the same lines and
table rows as pdfminer.six about eight times faster (``bench/knowledge/ingest_bench.py``).
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import zipfile
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from bot.errors import BadInput

TEXT_SUFFIXES = (".txt", ".text")
MARKDOWN_SUFFIXES = (".md", ".markdown")
WORD_SUFFIXES = (".docx",)
PDF_SUFFIXES = (".pdf",)
SUPPORTED = (*MARKDOWN_SUFFIXES, *TEXT_SUFFIXES, *WORD_SUFFIXES, *PDF_SUFFIXES)
FILES_AT_ONCE = 10  # files read from one message (a button's value carries their ids)
MAX_TITLE = 200
MAX_TEXT_CHARS = 2_000_000  # about 600 pages: beyond this a file is not one entry

log = logging.getLogger(__name__)


class UnreadableFile(BadInput):
    """A file that cannot become an entry; ``str()`` is ``"NAME: why"``."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"{name}: {reason}")


@dataclass(frozen=True)
class Document:
    """What a file says: its own title (if it has one), its text, and policy details."""

    name: str
    text: str
    title: str | None = None
    version: str | None = None
    adopted_on: date | None = None
    review_on: date | None = None

    @property
    def best_title(self) -> str:
        return self.title or title_from_filename(self.name)


def supported(name: str) -> bool:
    return Path(name).suffix.lower() in SUPPORTED


def read_path(path: Path, *, max_bytes: int | None = None) -> Document:
    """Read one file from disk (see :func:`extract`)."""
    try:
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise UnreadableFile(path.name, f"is {_mb(size)}, over the {_mb(max_bytes)} limit")
        data = path.read_bytes()
    except FileNotFoundError:
        raise UnreadableFile(path.name, "does not exist") from None
    except IsADirectoryError:
        raise UnreadableFile(path.name, "is a folder, not a file") from None
    except OSError as exc:
        raise UnreadableFile(path.name, f"cannot be read ({exc.strerror})") from None
    return extract(path.name, data, max_bytes=max_bytes)


def extract(name: str, data: bytes, *, max_bytes: int | None = None) -> Document:
    """The document in ``data``, read according to the suffix of ``name``."""
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED:
        raise UnreadableFile(name, "is not a file type I can read (Markdown, text, Word .docx or PDF)")
    if max_bytes is not None and len(data) > max_bytes:
        raise UnreadableFile(name, f"is {_mb(len(data))}, over the {_mb(max_bytes)} limit")
    if not data.strip():
        raise UnreadableFile(name, "is empty")
    if suffix in PDF_SUFFIXES:
        title, text = _pdf(name, data)
    elif suffix in WORD_SUFFIXES:
        title, text = _docx(name, data)
    elif suffix in MARKDOWN_SUFFIXES:
        title, text = _markdown(_decode(name, data))
    else:
        text = _decode(name, data)
        title = None
    text = tidy(text)
    if not text:
        raise UnreadableFile(name, "has no text in it")
    if len(text) > MAX_TEXT_CHARS:
        raise UnreadableFile(name, f"is too long for one entry ({len(text):,} characters); split it up")
    details = policy_details(text)
    return Document(
        name=name,
        text=text,
        title=clean_title(title) if title else None,
        version=details.version,
        adopted_on=details.adopted_on,
        review_on=details.review_on,
    )


# -- read ahead: before the handling's transaction, off the event loop --------------------------
# What was read of each file (by the identity of its bytes), while one event is handled.
_read_ahead: ContextVar[dict[int, tuple[bytes, str, int | None, Document | UnreadableFile]] | None] = ContextVar(
    "peerbot_files_read_ahead", default=None
)


@asynccontextmanager
async def files_read_ahead(files: Sequence[tuple[str, bytes]], *, max_bytes: int | None) -> AsyncIterator[None]:
    """Read the first :data:`FILES_AT_ONCE` of ``files`` (name, bytes) in a worker thread now,
    and let :func:`extract_read` take what was read while the block runs.

    A large PDF takes seconds to read: read inside a handler, it would hold up the event loop
    (every other request, acknowledgement and heartbeat) and the handling's transaction (on
    SQLite, the write lock everyone else waits for). The dispatcher reads an event's files
    here, before it opens the transaction."""
    if not files:
        yield
        return
    read = await asyncio.to_thread(_read_all, files[:FILES_AT_ONCE], max_bytes)
    token = _read_ahead.set(read)
    try:
        yield
    finally:
        _read_ahead.reset(token)


def _read_all(
    files: Sequence[tuple[str, bytes]], max_bytes: int | None
) -> dict[int, tuple[bytes, str, int | None, Document | UnreadableFile]]:
    read: dict[int, tuple[bytes, str, int | None, Document | UnreadableFile]] = {}
    for name, data in files:
        try:
            found: Document | UnreadableFile = extract(name, data, max_bytes=max_bytes)
        except UnreadableFile as exc:
            found = exc
        except Exception as exc:  # a reader's own failure: met again (and reported) when the handler reads it
            log.debug("reading ahead: a reader failed (%s)", type(exc).__name__)
            continue
        read[id(data)] = (data, name, max_bytes, found)
    return read


def extract_read(name: str, data: bytes, *, max_bytes: int | None = None) -> Document:
    """:func:`extract`, taking what :func:`files_read_ahead` read of this very file."""
    kept = (_read_ahead.get() or {}).get(id(data))
    if kept is None or kept[0] is not data or kept[1:3] != (name, max_bytes):
        return extract(name, data, max_bytes=max_bytes)
    if isinstance(kept[3], UnreadableFile):
        raise kept[3]
    return kept[3]


# -- plain text and Markdown -----------------------------------------------------------------


def _decode(name: str, data: bytes) -> str:
    if b"\x00" in data[:4096]:
        raise UnreadableFile(name, "does not look like text (it holds binary data)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    text = data.decode("cp1252", errors="replace")  # Windows Notepad's "ANSI"
    if text.count("\ufffd") > max(8, len(text) // 100):
        raise UnreadableFile(name, "is not readable text (save it as UTF-8)")
    return text


_MD_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_MD_SETEXT = re.compile(r"^\s{0,3}(=+|-+)\s*$")
_MD_LIST = re.compile(r"^(\s*)(?:[*+-]|\d+[.)])\s+(.*)$")
_MD_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\(([^)\s]*)(?:\s+\"[^\"]*\")?\)")
_MD_EMPHASIS = re.compile(r"(\*\*|__|\*|_|`)(?=\S)(.+?)(?<=\S)\1")


def _markdown(text: str) -> tuple[str | None, str]:
    """Markdown as readable text: headings as lines, lists as ``- ``, tables as ``a | b``."""
    lines = text.splitlines()
    out: list[str] = []
    title: str | None = None
    in_code = False
    for i, raw in enumerate(lines):
        line = raw.rstrip()
        if line.lstrip().startswith(("```", "~~~")):
            in_code = not in_code
            continue
        if in_code:
            out.append(line)
            continue
        m = _MD_HEADING.match(line)
        if m:
            heading = _md_inline(m.group(2))
            if title is None and len(m.group(1)) <= 2:
                title = heading
            out.extend(["", heading])
            continue
        if _MD_SETEXT.match(line) and out and out[-1].strip() and i > 0 and not _MD_LIST.match(lines[i - 1]):
            if title is None and line.strip().startswith("="):
                title = out[-1].strip()
            continue
        if _MD_TABLE_RULE.match(line) and "-" in line and "|" in line:
            continue
        if "|" in line and line.strip().startswith("|"):
            cells = [_md_inline(c.strip()) for c in line.strip().strip("|").split("|")]
            out.append(" | ".join(c for c in cells))
            continue
        lm = _MD_LIST.match(line)
        if lm:
            depth = len(lm.group(1).expandtabs(4)) // 2
            out.append("  " * depth + "- " + _md_inline(lm.group(2)))
            continue
        if line.lstrip().startswith(">"):
            line = line.lstrip()[1:].lstrip()
        out.append(_md_inline(line))
    return title, "\n".join(out)


def _md_inline(text: str) -> str:
    text = _MD_LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})" if m.group(2) else m.group(1), text)
    previous = None
    while previous != text:
        previous = text
        text = _MD_EMPHASIS.sub(r"\2", text)
    return text


# -- Word ------------------------------------------------------------------------------------


def _docx(name: str, data: bytes) -> tuple[str | None, str]:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError):
        raise UnreadableFile(name, "is not a readable Word document (.docx); is it damaged, or an old .doc?") from None
    except Exception as exc:  # lxml and zip errors come in many shapes
        log.info("unreadable docx: %s", type(exc).__name__)
        raise UnreadableFile(name, "is not a readable Word document (.docx)") from None
    title = (document.core_properties.title or "").strip() or None
    out: list[str] = []
    for block in _docx_blocks(document):
        if isinstance(block, str):
            out.append(block)
        else:
            _, line = block
            if title is None:
                title = line
            out.extend(["", line])
    return title, "\n".join(out)


def _docx_blocks(document: object) -> Iterator[str | tuple[bool, str]]:
    """Paragraphs and tables in document order; headings as ``(True, text)``."""
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    for item in document.iter_inner_content():  # type: ignore[attr-defined]
        if isinstance(item, Paragraph):
            text = item.text.strip()
            if not text:
                yield ""
                continue
            style = (item.style.name if item.style is not None else "") or ""
            if style == "Title" or style.startswith("Heading"):
                yield (True, text)
            elif style.startswith("List") or (item._p.pPr is not None and item._p.pPr.numPr is not None):
                yield f"- {text}"
            else:
                yield text
        elif isinstance(item, Table):
            for row in item.rows:
                cells: list[str] = []
                for cell in row.cells:
                    value = " ".join(cell.text.split())
                    if not cells or cells[-1] != value:  # merged cells repeat
                        cells.append(value)
                yield " | ".join(cells)
            yield ""


# -- PDF -------------------------------------------------------------------------------------


class _PdfNotes(logging.Handler):
    """pypdf logs what it repairs in a damaged file ("EOF marker not found") as warnings,
    which would reach stderr beside our own report of the file. Keep them at debug level
    (their wording only, never values from the file): a file that cannot be read is
    reported once, by name, as :class:`UnreadableFile`."""

    def emit(self, record: logging.LogRecord) -> None:
        log.debug("pypdf: %s", record.msg)


def _quiet_pypdf() -> None:
    pypdf_log = logging.getLogger("pypdf")
    if not any(isinstance(h, _PdfNotes) for h in pypdf_log.handlers):
        pypdf_log.addHandler(_PdfNotes())
        pypdf_log.propagate = False


def _pdf(name: str, data: bytes) -> tuple[str | None, str]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    _quiet_pypdf()
    if not data.lstrip()[:1024].startswith(b"%PDF") and b"%PDF-" not in data[:1024]:
        raise UnreadableFile(name, "is not a PDF (it does not start like one)")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnreadableFile(name, "is password-protected; share an unprotected copy")
        pages = [page.extract_text() or "" for page in reader.pages]
        meta_title = None
        try:
            meta = reader.metadata
            meta_title = (meta.title or "").strip() if meta else None
        except (PdfReadError, ValueError, KeyError, TypeError):
            meta_title = None
    except UnreadableFile:
        raise
    except Exception as exc:  # pypdf raises many kinds on damaged files
        log.info("unreadable pdf: %s", type(exc).__name__)
        raise UnreadableFile(name, "is not a readable PDF (it may be damaged)") from None
    text = "\n\n".join(p.strip() for p in pages)
    if not text.strip():
        raise UnreadableFile(name, "has no text I can read (is it a scan? share the original document)")
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), None)
    return meta_title or first, text


# -- shared ----------------------------------------------------------------------------------

_BLANKS = re.compile(r"\n{3,}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def tidy(text: str) -> str:
    """Unix newlines, no control characters, no trailing spaces, at most one blank line."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return _BLANKS.sub("\n\n", text).strip()


def clean_title(title: str) -> str:
    title = " ".join(_CONTROL.sub(" ", title).split())
    return title if len(title) <= MAX_TITLE else title[: MAX_TITLE - 1].rstrip() + "…"


def title_from_filename(name: str) -> str:
    """``attendance-policy_2025.pdf`` → ``Attendance policy 2025``."""
    stem = Path(name).stem
    words = re.sub(r"[_\-.]+", " ", stem).split()
    if not words:
        return "Untitled"
    text = " ".join(words)
    return clean_title(text[0].upper() + text[1:])


# -- policy details ("Review date: September 2027") -----------------------------------------

_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ]
    )
    for m in names
}
_DATE_ISO = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_DATE_UK = re.compile(r"\b(\d{1,2})[/.](\d{1,2})[/.](\d{2}|\d{4})\b")
_DATE_WORDS = re.compile(r"\b(?:(\d{1,2})(?:st|nd|rd|th)?\s+)?([A-Za-z]{3,9})\.?,?\s+(\d{4})\b")
_LABELS = {
    "review_on": re.compile(
        r"^\W*(?:next\s+)?review(?:\s+(?:date|due|by|on))?\s*[:\-–]\s*(.+)$|^\W*date\s+of\s+next\s+review\s*[:\-–]\s*(.+)$",
        re.I,
    ),
    "adopted_on": re.compile(
        r"^\W*(?:date\s+)?(?:adopted|approved|ratified)(?:\s+(?:on|by\s+governors))?\s*[:\-–]\s*(.+)$", re.I
    ),
    "version": re.compile(r"^\W*version\s*(?:no\.?|number)?\s*[:\-–]?\s*(v?\d+(?:\.\d+){0,2}[a-z]?)\b", re.I),
}


@dataclass(frozen=True)
class PolicyDetails:
    version: str | None = None
    adopted_on: date | None = None
    review_on: date | None = None


def parse_date(text: str) -> date | None:
    """The first date in ``text``: ``2027-09-01``, ``01/09/2027``, ``1st September 2027``,
    ``September 2027`` (the 1st). UK order for slashes. ``None`` when there is none."""
    for pattern in (_DATE_ISO, _DATE_UK, _DATE_WORDS):
        for m in pattern.finditer(text):
            try:
                if pattern is _DATE_ISO:
                    return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
                if pattern is _DATE_UK:
                    year = int(m.group(3))
                    year = year + 2000 if year < 100 else year
                    return date(year, int(m.group(2)), int(m.group(1)))
                month = _MONTHS.get(m.group(2).lower())
                if month is None:
                    continue
                return date(int(m.group(3)), month, int(m.group(1) or 1))
            except ValueError:
                continue
    return None


def policy_details(text: str, *, lines: int = 60) -> PolicyDetails:
    """Version, adopted and review dates from a policy's front matter (its first lines)."""
    found: dict[str, object] = {}
    for line in text.splitlines()[:lines]:
        line = line.replace("|", ":", 1) if line.count("|") == 1 else line
        for key, pattern in _LABELS.items():
            if key in found:
                continue
            m = pattern.match(line.strip())
            if not m:
                continue
            value = next(g for g in m.groups() if g is not None)
            if key == "version":
                found[key] = value.lstrip("vV")
            else:
                parsed = parse_date(value)
                if parsed is not None:
                    found[key] = parsed
    return PolicyDetails(
        version=found.get("version"),  # type: ignore[arg-type]
        adopted_on=found.get("adopted_on"),  # type: ignore[arg-type]
        review_on=found.get("review_on"),  # type: ignore[arg-type]
    )


def _mb(n: int) -> str:
    return f"{n / 1_048_576:.1f} MB"
