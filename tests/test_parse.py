"""The CSV formats of formats.md, row by row, including hostile input."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.demo import demo_sources
from bot.errors import ImportProblems
from bot.network.csvfile import Problems
from bot.network.parse import (
    SourceFile,
    parse_audits,
    parse_bundle,
    parse_item,
    parse_people,
    parse_schools,
    parse_terms,
)

SCHOOLS = b"name,phase\nOak Primary,primary\nElm High,secondary\n"


def problems_of(fn, data: bytes, name: str = "f.csv") -> list[str]:  # type: ignore[no-untyped-def]
    p = Problems()
    fn(data, name, p)
    return p.lines


def test_bom_case_insensitive_headers_any_order_unknown_columns_kept() -> None:
    data = "\ufeffPUPILS,Phase , Name,Head's Mobile\n420,Primary,Oak Primary,07700 900000\n".encode()
    p = Problems()
    [school] = parse_schools(data, "schools.csv", p)
    assert not p
    assert (school.name, school.phase, school.pupils) == ("Oak Primary", "primary", 420)
    assert school.extra == {"Head's Mobile": "07700 900000"}


def test_two_unknown_columns_of_the_same_name_are_both_kept_as_notes() -> None:
    data = b"name,phase,Comment,comment, Comment \nOak Primary,primary,a,,c\n"
    p = Problems()
    [school] = parse_schools(data, "schools.csv", p)
    assert not p
    assert school.extra == {"Comment": "a", "Comment (column 5)": "c"}


@settings(max_examples=150, deadline=None)
@given(
    names=st.lists(st.sampled_from(["Comment", "comment", "Notes ", "x", "X", ""]), min_size=1, max_size=5),
    values=st.lists(st.text(alphabet="abc ;", max_size=5), min_size=5, max_size=5),
)
def test_unknown_columns_are_never_an_error(names: list[str], values: list[str]) -> None:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["name", "phase", *names])
    w.writerow(["Oak Primary", "primary", *values[: len(names)]])
    p = Problems()
    [school] = parse_schools(buf.getvalue().encode(), "schools.csv", p)
    assert not p
    kept = sorted(school.extra.values())
    assert kept == sorted(v.strip() for v in values[: len(names)] if v.strip())


def test_list_cells_and_owners() -> None:
    data = (
        b"school,strengths,needs,audited_by,audited_on\n"
        b"Oak Primary,Phonics [senco]; SLE for maths ;;Procurement [jo.khan@oak.sch.uk],,LA,2026-06-01\n"
    )
    p = Problems()
    [audit] = parse_audits(data, "audit.csv", p)
    assert not p
    assert [(i.text, i.owner) for i in audit.strengths] == [
        ("Phonics", "senco"),
        ("SLE for maths", None),
        ("Procurement", "jo.khan@oak.sch.uk"),
    ]
    assert audit.needs == ()
    assert audit.audited_on == date(2026, 6, 1)


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("Phonics [wizard]", "neither a role"),
        ("Phonics []", "empty brackets"),
        ("Phonics [senco", "unmatched"),
        ("[senco]", "no text"),
    ],
)
def test_bad_owners(raw: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_item(raw)


@pytest.mark.parametrize(
    ("fn", "data", "expected"),
    [
        (parse_schools, b"name,phase\nOak,primry\n", "f.csv:2: phase 'primry' is not one of"),
        (parse_schools, b"name,phase\nOak,primary\noak,primary\n", "f.csv:3: school 'oak' is already on line 2"),
        (parse_schools, b"name,phase,pupils\nOak,primary,lots\n", "f.csv:2: pupils 'lots' should be a whole number"),
        # "isdigit" without being a number "int" reads (found by the property test below)
        (parse_schools, "name,phase,pupils\nOak,primary,²\n".encode(), "f.csv:2: pupils '²' should be a whole number"),
        (parse_schools, b"name\nOak\n", "f.csv:1: missing column 'phase'"),
        (parse_schools, b"", "f.csv: is empty"),
        (parse_schools, b"name,phase\n\xff\xfeOak,primary\n", "f.csv:2: is not UTF-8 text"),
        (parse_schools, b"name,phase\nOak,primary,extra,cells\n", "f.csv:2: has 4 cells but the header has 2"),
        (parse_schools, b'name,phase\n"Oak,primary\n', "f.csv:2: cannot be read as CSV"),
        (parse_schools, b"name,phase\nOak\x00,primary\n", "f.csv:2: contains binary data"),
        (parse_schools, b"name,name,phase\na,b,primary\n", "f.csv:1: column 'name' appears twice"),
        (parse_people, b"name,email,school,roles\nJo,jo@x.uk,Oak,head;wizard\n", "f.csv:2: unknown role 'wizard'"),
        (
            parse_people,
            b"name,email,school,roles\nJo,jo@x.uk,Oak,head\nJ,JO@x.uk,Oak,dsl\n",
            "f.csv:3: email jo@x.uk is already used on line 2",
        ),
        (parse_people, b"name,email,school,roles\nJo,not-an-email,Oak,head\n", "is not an email address"),
        (parse_people, b"name,email,school,roles,slack_id\nJo,jo@x.uk,Oak,head,bob\n", "is not a Slack user id"),
        (parse_people, b"name,email,school,roles\nJo,jo@x.uk,Oak,\n", "f.csv:2: 'roles' is empty"),
        (parse_people, b"name,email,school,roles\n", "f.csv: has no people in it"),
        (parse_schools, b"Name,Phase\n,\n\n", "f.csv: has no schools in it"),
        (parse_terms, b"name,start,end\nAutumn 1,2026-10-23,2026-09-03\n", "f.csv:2: ends (2026-09-03) before"),
        (parse_terms, b"name,start,end\nAutumn 1,03/09/2026,2026-10-23\n", "start: '03/09/2026' is not a date"),
        (
            parse_terms,
            b"name,start,end\nA1,2026-09-03,2026-10-23\nA2,2026-10-20,2026-12-18\n",
            "f.csv:3: A2 (2026-10-20 to 2026-12-18) overlaps A1 on line 2",
        ),
        (
            parse_terms,
            b"name,start,end,inset\nA1,2026-09-03,2026-10-23,2026-11-01\n",
            "inset day 2026-11-01 is outside",
        ),
        (parse_audits, b"school,strengths,needs,audited_on\nOak,a,b,2026-02-30\n", "'2026-02-30' is not a real date"),
    ],
)
def test_each_kind_of_bad_row_is_reported_with_file_and_line(fn, data: bytes, expected: str) -> None:  # type: ignore[no-untyped-def]
    lines = problems_of(fn, data)
    assert any(expected in line for line in lines), lines


def test_multiline_quoted_cell_keeps_line_numbers_right() -> None:
    data = b'name,phase,type\n"Oak\nPrimary",primary,x\nElm,nope,y\n'
    assert problems_of(parse_schools, data) == [
        "f.csv:4: phase 'nope' is not one of: nursery, primary, middle, "
        "secondary, all-through, special, alternative, post-16"
    ]


def test_bundle_checks_references_between_files() -> None:
    people = SourceFile("people.csv", b"name,email,school,roles\nJo,jo@x.uk,Ash Primary,head\n")
    audit = SourceFile("audit.csv", b"school,strengths,needs\nOak Primary,Maths [bo@x.uk],\nBirch,,\n")
    with pytest.raises(ImportProblems) as err:
        parse_bundle(schools=SourceFile("schools.csv", SCHOOLS), people=people, audit=audit)
    assert err.value.problems == [
        "people.csv:2: school 'Ash Primary' is not in the network's schools",
        "audit.csv:2: owner [bo@x.uk] is not a person in the network",
        "audit.csv:3: school 'Birch' is not in the network's schools",
    ]
    assert str(err.value).startswith("people.csv:2: school 'Ash Primary'")
    assert "(and 2 more problems; nothing was imported)" in str(err.value)


def test_demo_files_parse_cleanly() -> None:
    bundle = parse_bundle(**{k: v for k, v in demo_sources().items()})
    assert bundle.schools and len(bundle.schools) == 12
    assert bundle.people and all(p.roles for p in bundle.people)
    assert bundle.terms and len(bundle.terms) == 6


# -- property tests: the parsers never crash and never return half an answer ---------------
cells = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)


@st.composite
def csv_files(draw: st.DrawFn, columns: list[str]) -> bytes:
    header = draw(st.permutations(columns + draw(st.lists(st.sampled_from(["notes", "x", "EMAIL", ""]), max_size=2))))
    rows = draw(st.lists(st.lists(cells, min_size=0, max_size=len(header) + 1), max_size=6))
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    for r in rows:
        w.writerow(r)
    prefix = draw(st.sampled_from([b"", b"\xef\xbb\xbf"]))
    return prefix + buf.getvalue().encode()


FILE_KINDS = [
    (parse_schools, ["name", "phase", "pupils", "urn"]),
    (parse_people, ["name", "email", "school", "roles", "slack_id"]),
    (parse_audits, ["school", "strengths", "needs", "audited_on"]),
    (parse_terms, ["name", "start", "end", "inset"]),
]


@pytest.mark.parametrize(("fn", "columns"), FILE_KINDS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_rows_never_crash(fn, columns: list[str], data: st.DataObject) -> None:  # type: ignore[no-untyped-def]
    raw = data.draw(csv_files(columns))
    p = Problems()
    records = fn(raw, "f.csv", p)
    assert isinstance(records, list)
    for line in p.lines:
        assert line.startswith("f.csv")


@pytest.mark.parametrize(("fn", "columns"), FILE_KINDS)
@settings(max_examples=150, deadline=None)
@given(raw=st.binary(max_size=400))
def test_random_bytes_never_crash(fn, columns: list[str], raw: bytes) -> None:  # type: ignore[no-untyped-def]
    p = Problems()
    fn(raw, "f.csv", p)


@settings(max_examples=100, deadline=None)
@given(schools=st.binary(max_size=300), people=st.binary(max_size=300))
def test_bundle_is_all_or_nothing(schools: bytes, people: bytes) -> None:
    try:
        bundle = parse_bundle(schools=SourceFile("s.csv", schools), people=SourceFile("p.csv", people))
    except ImportProblems as exc:
        assert exc.problems and all(":" in line for line in exc.problems)
    else:
        assert bundle.schools is not None and bundle.people is not None
