"""Files for knowledge-base tests, made in memory: Word documents and PDFs."""

from __future__ import annotations

import io


def docx_bytes(title: str, paragraphs: list[str], bullets: list[str], table: list[tuple[str, ...]]) -> bytes:
    import docx

    d = docx.Document()
    d.add_heading(title, 1)
    for p in paragraphs:
        d.add_paragraph(p)
    for b in bullets:
        d.add_paragraph(b, style="List Bullet")
    if table:
        t = d.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                t.cell(r, c).text = value
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


def pdf_bytes(pages: int, *, title: str = "Attendance policy", table: bool = True) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_auto_page_break(True, 15)
    for n in range(pages):
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 16)
        pdf.cell(0, 10, title if n == 0 else f"Section {n + 1}: Persistent absence", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 11)
        for i in range(12):
            pdf.multi_cell(
                0,
                6,
                f"- Step {i + 1}: parents telephone the school office by 9.15am on each day of absence.",
                new_x="LMARGIN",
                new_y="NEXT",
            )
        if table:
            with pdf.table() as t:
                for cells in (("Band", "Action"), ("95-100%", "Praise letter"), ("Below 90%", "Meeting with EWO")):
                    row = t.row()
                    for cell in cells:
                        row.cell(cell)
    return bytes(pdf.output())
