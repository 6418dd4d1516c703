"""PDF extraction: a generated 100-page policy through pypdf (what peerbot uses) and,
when installed, pdfminer.six, timed on the same file.

    .venv/bin/python bench/knowledge/ingest_bench.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from knowledge.ingest import extract
from tests.support.kb import pdf_bytes


def main() -> None:
    data = pdf_bytes(100)
    start = time.perf_counter()
    doc = extract("policy.pdf", data)
    took = time.perf_counter() - start
    print(f"pypdf:       100 pages, {len(data) / 1024:.0f} KB -> {len(doc.text):,} characters in {took:.2f}s")
    try:
        import io

        from pdfminer.high_level import extract_text
    except ImportError:
        print("pdfminer.six: not installed (pip install pdfminer.six to compare)")
        return
    start = time.perf_counter()
    text = extract_text(io.BytesIO(data))
    print(f"pdfminer.six: 100 pages -> {len(text):,} characters in {time.perf_counter() - start:.2f}s")


if __name__ == "__main__":
    main()
