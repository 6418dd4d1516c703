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


def text_pdf(lines: list[str]) -> bytes:
    """A one-column PDF with these lines, in order (a blank string is a blank line)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_auto_page_break(True, 15)
    pdf.add_page()
    pdf.set_font("Helvetica", "", 11)
    for line in lines:
        pdf.multi_cell(0, 6, line or " ", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


# A realistic policy: the school's letterhead, adoption and review dates, named safeguarding
# staff, and prose about children. Nothing in it identifies a pupil.
POLICY_HEADER = [
    "Oakfield Primary School",
    "12 Church Lane, Oakfield, Romford RM13 7QT",
    "Tel: 01708 123456  Email: office@oakfield.sch.uk",
]
POLICY_FRONT = [
    "Adopted by governors: 14/03/2023",
    "Review date: 14/03/2024",
    "Version: 3.1",
    "Designated Safeguarding Lead: Jane Smith (Headteacher)",
    "Deputy DSLs: Tom Birch and Sarah Jones",
    "Safeguarding governor: Mr Paul Green",
]
POLICY_BODY = [
    "All children at Oakfield have the right to be safe. Staff tell the DSL of any concern about a pupil that day.",
    "Children missing education are reported to the local authority after 10 school days of unexplained absence.",
    "Pupils who were born in 2017 or 2018 take part in the Year 2 phonics check; parents are told the results.",
    "Visitors sign in at the office: Oakfield Primary School, 12 Church Lane, Romford RM13 7QT.",
    "Signed: Jane Smith, Headteacher. Date: 14/03/2023",
]
PUPIL_LINE = "Jayden Smith (DOB 03/04/2016), Y4 - on a reduced timetable since half term."
