"""Importing a network: the same result on SQLite and PostgreSQL, idempotent, all or nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.app import PeerBot
from bot.cli.network import network_document
from bot.demo import demo_sources
from bot.errors import BadInput, ImportProblems
from bot.models import AdminLog, Audit, Person, School, Term
from bot.network import store
from bot.network.importer import import_network
from bot.network.parse import SourceFile

SCHOOLS = b"name,phase,pupils\nOak Primary,primary,420\nElm High,secondary,900\n"
PEOPLE = (
    b"name,email,school,roles,slack_id\n"
    b"Jo Khan,jo@oak.sch.uk,Oak Primary,head;convenor,U01\n"
    b"Sam Lee,sam@oak.sch.uk,Oak Primary,senco,\n"
    b"Ann Bell,ann@elm.sch.uk,Elm High,head;dsl,\n"
)
AUDIT = (
    b"school,strengths,needs,audited_by,audited_on\n"
    b"Oak Primary,Phonics [senco];SLE maths,Autism support,LA,2026-06-01\n"
    b"Elm High,GCSE options,,,\n"
)
TERMS = b"name,start,end,inset\nAutumn 1,2026-09-03,2026-10-23,2026-09-14\nAutumn 2,2026-11-02,2026-12-18,\n"


def files(**overrides: bytes) -> dict[str, SourceFile]:
    base = {"schools": SCHOOLS, "people": PEOPLE, "audit": AUDIT, "terms": TERMS}
    base.update(overrides)
    return {k: SourceFile(f"{k}.csv", v) for k, v in base.items()}


async def do_import(bot: PeerBot, **sources: SourceFile):  # type: ignore[no-untyped-def]
    async with bot.db.session() as session:
        return await import_network(session, bot.network_id, now=bot.clock.now(), **sources)


async def counts(bot: PeerBot) -> dict[str, int]:
    async with bot.db.session() as session:
        out = {}
        for model in (School, Person, Audit, Term, AdminLog):
            out[model.__tablename__] = (await session.execute(select(func.count()).select_from(model))).scalar_one()
        return out


EXPECTED_SHOW = {
    "network": "Test Network",
    "schools": [
        {
            "name": "Elm High",
            "phase": "secondary",
            "type": None,
            "trust": None,
            "locality": None,
            "urn": None,
            "pupils": 900,
        },
        {
            "name": "Oak Primary",
            "phase": "primary",
            "type": None,
            "trust": None,
            "locality": None,
            "urn": None,
            "pupils": 420,
        },
    ],
    "people": [
        {
            "name": "Ann Bell",
            "email": "ann@elm.sch.uk",
            "school": "Elm High",
            "roles": ["dsl", "head"],
            "slack_id": None,
            "discord_id": None,
        },
        {
            "name": "Jo Khan",
            "email": "jo@oak.sch.uk",
            "school": "Oak Primary",
            "roles": ["convenor", "head"],
            "slack_id": "U01",
            "discord_id": None,
        },
        {
            "name": "Sam Lee",
            "email": "sam@oak.sch.uk",
            "school": "Oak Primary",
            "roles": ["senco"],
            "slack_id": None,
            "discord_id": None,
        },
    ],
}


async def test_import_then_show_is_the_same_on_every_backend(bot: PeerBot) -> None:
    summary = await do_import(bot, **files())
    assert summary.counts["schools"] == {"added": 2}
    assert summary.counts["people"] == {"added": 3}
    assert await network_document(bot) == EXPECTED_SHOW
    async with bot.db.session() as session:
        [oak_audit, elm_audit] = [a for a in await store.current_audits(session, bot.network_id)][::-1]
        assert oak_audit.school.name == "Oak Primary" and oak_audit.audited
        assert [(i.text, i.owner) for i in oak_audit.strengths()] == [("Phonics", "senco"), ("SLE maths", None)]
        assert [i.text for i in oak_audit.needs()] == ["Autism support"]
        assert not elm_audit.audited
        terms = list((await session.execute(select(Term).order_by(Term.start))).scalars())
        assert [t.name for t in terms] == ["Autumn 1", "Autumn 2"]
        assert [d.isoformat() for d in terms[0].inset_days] == ["2026-09-14"]


async def test_importing_twice_changes_nothing(bot: PeerBot) -> None:
    await do_import(bot, **files())
    async with bot.db.session() as session:
        before = {p.email: p.updated_at for p in await store.people(session, bot.network_id)}
    counts_before = await counts(bot)
    bot.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    again = await do_import(bot, **files())
    assert not again.changed
    assert await counts(bot) == counts_before
    async with bot.db.session() as session:
        after = {p.email: p.updated_at for p in await store.people(session, bot.network_id)}
    assert after == before


async def test_reimport_updates_people_and_marks_leavers(bot: PeerBot) -> None:
    await do_import(bot, **files())
    moved = (
        b"name,email,school,roles,slack_id\n"
        b"Jo Khan,jo@oak.sch.uk,Oak Primary,head;convenor,\n"
        b"Sam Lee-Smith,sam@oak.sch.uk,Elm High,senco;dsl,U01\n"
    )
    summary = await do_import(bot, people=SourceFile("people.csv", moved))
    assert summary.counts["people"] == {"updated": 2, "left": 1}
    doc = await network_document(bot)
    by_email = {p["email"]: p for p in doc["people"]}
    assert set(by_email) == {"jo@oak.sch.uk", "sam@oak.sch.uk"}
    assert by_email["sam@oak.sch.uk"] == {
        "name": "Sam Lee-Smith",
        "email": "sam@oak.sch.uk",
        "school": "Elm High",
        "roles": ["dsl", "senco"],
        "slack_id": "U01",
        "discord_id": None,
    }
    async with bot.db.session() as session:
        ann = await store.person_by_email(session, bot.network_id, "ann@elm.sch.uk")
        assert ann is not None and not ann.active
        assert await store.person_by_platform_id(session, bot.network_id, "slack", "U01") is not None
    # Coming back reactivates rather than duplicating.
    await do_import(bot, people=SourceFile("people.csv", PEOPLE))
    assert len((await network_document(bot))["people"]) == 3


async def test_newer_audit_supersedes_and_history_is_kept(bot: PeerBot) -> None:
    await do_import(bot, **files())
    newer = AUDIT.replace(b"Phonics [senco];SLE maths", b"Phonics [senco]").replace(b"2026-06-01", b"2026-11-01")
    summary = await do_import(bot, audit=SourceFile("audit.csv", newer))
    assert summary.counts["audits"] == {"unchanged": 1, "added": 1}
    older = AUDIT.replace(b"2026-06-01", b"2025-06-01").replace(b"SLE maths", b"Old maths")
    await do_import(bot, audit=SourceFile("audit.csv", older))
    async with bot.db.session() as session:
        oak = await store.find_school(session, bot.network_id, "oak")
        history = list((await session.execute(select(Audit).where(Audit.school_id == oak.id))).unique().scalars())
        current = await store.current_audit(session, oak.id)
    assert len(history) == 3
    assert current is not None and current.audited_on is not None and current.audited_on.isoformat() == "2026-11-01"
    assert [i.text for i in current.strengths()] == ["Phonics"]
    # The older audit again is history already: nothing changes.
    again = await do_import(bot, audit=SourceFile("audit.csv", older))
    assert again.counts["audits"] == {"unchanged": 2} and not again.changed


async def test_reimporting_an_earlier_audit_makes_it_current_again(bot: PeerBot) -> None:
    undated_a = b"school,strengths,needs\nOak Primary,Phonics,Autism support\nElm High,GCSE options,\n"
    undated_b = b"school,strengths,needs\nOak Primary,Forest school,Autism support\nElm High,GCSE options,\n"
    await do_import(bot, **files(audit=undated_a))

    async def oak_strengths() -> list[str]:
        async with bot.db.session() as session:
            oak = await store.find_school(session, bot.network_id, "oak")
            current = await store.current_audit(session, oak.id)
            assert current is not None
            return [i.text for i in current.strengths()]

    for clock_step, (data, expected, summary_counts) in enumerate(
        [
            (undated_b, ["Forest school"], {"added": 1, "unchanged": 1}),
            (undated_a, ["Phonics"], {"added": 1, "unchanged": 1}),  # A, then B, then A again: A
            (undated_a, ["Phonics"], {"unchanged": 2}),  # and again: nothing changes
        ],
        start=1,
    ):
        bot.clock.advance(timedelta(days=clock_step))  # type: ignore[attr-defined]
        summary = await do_import(bot, audit=SourceFile("audit.csv", data))
        assert summary.counts["audits"] == summary_counts
        assert await oak_strengths() == expected


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"schools": b"name,phase\nOak Primary,primary\nOak Primary,primary\n"}, "schools.csv:3: school"),
        ({"people": PEOPLE + b"Kim,kim@x.uk,Birch School,head,\n"}, "people.csv:5: school 'Birch School'"),
        ({"people": PEOPLE + b"Kim,JO@oak.sch.uk,Oak Primary,head,\n"}, "people.csv:5: email jo@oak.sch.uk is already"),
        ({"people": PEOPLE + b"Kim,kim@oak.sch.uk,Oak Primary,headmaster,\n"}, "people.csv:5: unknown role"),
        ({"audit": b"\xff\xfe\x00s\x00c\x00h"}, "audit.csv:1: is not UTF-8 text"),
        ({"terms": b""}, "terms.csv: is empty"),
        ({"terms": b"name,start,end\n"}, "terms.csv: no term dates found in terms.csv"),
        ({"terms": TERMS + b"Spring 1,2026-12-01,2027-02-12,\n"}, "terms.csv:4: Spring 1"),
        ({"people": b"name,email,school,roles\n"}, "people.csv: has no people in it"),
        ({"people": b"\xef\xbb\xbfName,Email,School,Roles\r\n,,,\r\n"}, "people.csv: has no people in it"),
        ({"schools": b"name,phase\n"}, "schools.csv: has no schools in it"),
        ({"people": PEOPLE.replace(b"head;convenor", b"head")}, "people.csv: nobody in it has the convenor role"),
    ],
)
async def test_bad_files_change_nothing(bot: PeerBot, overrides: dict[str, bytes], message: str) -> None:
    await do_import(bot, **files())
    before_doc, before_counts = await network_document(bot), await counts(bot)
    changed = files(**overrides)
    changed["people"] = SourceFile("people.csv", overrides.get("people", PEOPLE.replace(b"Sam Lee", b"Sam Leigh")))
    with pytest.raises(ImportProblems) as err:
        await do_import(bot, **changed)
    assert message in str(err.value)
    assert await network_document(bot) == before_doc
    assert await counts(bot) == before_counts


async def test_a_school_gone_from_the_schools_file_takes_its_people_with_it(bot: PeerBot) -> None:
    await do_import(bot, **files())
    left: list[str] = []

    async def on_left(person: Person) -> None:
        left.append(person.email)

    async with bot.db.session() as session:
        summary = await import_network(
            session,
            bot.network_id,
            schools=SourceFile("schools.csv", b"name,phase,pupils\nOak Primary,primary,420\n"),
            now=bot.clock.now(),
            on_left=on_left,
        )
    assert summary.counts == {"schools": {"unchanged": 1, "left": 1}, "people": {"left": 1}}
    assert left == ["ann@elm.sch.uk"]
    doc = await network_document(bot)
    assert [s["name"] for s in doc["schools"]] == ["Oak Primary"]
    assert [p["email"] for p in doc["people"]] == ["jo@oak.sch.uk", "sam@oak.sch.uk"]


async def test_an_import_never_leaves_the_network_without_its_convenor(bot: PeerBot) -> None:
    await do_import(bot, **files())
    before = await network_document(bot), await counts(bot)
    with pytest.raises(ImportProblems) as err:
        await do_import(bot, schools=SourceFile("schools.csv", b"name,phase\nElm High,secondary\n"))
    assert str(err.value) == (
        "schools.csv: without Oak Primary the network would have no convenor (Jo Khan would leave with it): "
        "make someone else convenor first"
    )
    assert (await network_document(bot), await counts(bot)) == before


async def terms_loaded(bot: PeerBot) -> list[tuple[str, str, str, list[str]]]:
    async with bot.db.session() as session:
        rows = (await session.execute(select(Term).order_by(Term.start))).scalars()
        return [(t.name, t.start.isoformat(), t.end.isoformat(), [d.isoformat() for d in t.inset_days]) for t in rows]


async def test_a_terms_file_is_the_full_set_for_its_academic_years(bot: PeerBot) -> None:
    await do_import(bot, **files())
    spring = b"Spring 1,2027-01-05,2027-02-12,\n"
    next_year = b"name,start,end\nAutumn 1,2027-09-02,2027-10-22\n"
    await do_import(bot, terms=SourceFile("terms.csv", next_year))  # another year: this one is kept
    # A typo in a start date, corrected: the half-term moves (it is not refused as an overlap).
    fixed = TERMS.replace(b"Autumn 1,2026-09-03", b"Autumn 1,2026-09-02") + spring
    summary = await do_import(bot, terms=SourceFile("terms.csv", fixed))
    assert summary.counts["terms"] == {"updated": 1, "unchanged": 1, "added": 1}
    assert await terms_loaded(bot) == [
        ("Autumn 1", "2026-09-02", "2026-10-23", ["2026-09-14"]),
        ("Autumn 2", "2026-11-02", "2026-12-18", []),
        ("Spring 1", "2027-01-05", "2027-02-12", []),
        ("Autumn 1", "2027-09-02", "2027-10-22", []),
    ]
    # A half-term left out of the year's file goes.
    summary = await do_import(bot, terms=SourceFile("terms.csv", TERMS))
    assert summary.counts["terms"] == {"updated": 1, "unchanged": 1, "removed": 1}
    assert [t[0] for t in await terms_loaded(bot)] == ["Autumn 1", "Autumn 2", "Autumn 1"]
    assert not (await do_import(bot, terms=SourceFile("terms.csv", TERMS))).changed


async def test_terms_overlapping_another_years_terms_are_refused(bot: PeerBot) -> None:
    await do_import(bot, **files())
    clash = b"name,start,end\nSummer 2,2026-06-01,2026-09-10\n"  # 2025-26, running into 2026-27
    with pytest.raises(ImportProblems, match=r"terms\.csv:2: Summer 2 .* overlaps Autumn 1"):
        await do_import(bot, terms=SourceFile("terms.csv", clash))
    assert [t[0] for t in await terms_loaded(bot)] == ["Autumn 1", "Autumn 2"]


async def test_nothing_to_import(bot: PeerBot) -> None:
    with pytest.raises(BadInput, match="nothing to import"):
        await do_import(bot)


async def test_demo_network_imports(demo_bot: PeerBot) -> None:
    doc = await network_document(demo_bot)
    assert len(doc["schools"]) == 12
    assert len(doc["people"]) == 36
    summary = await do_import(demo_bot, **demo_sources())
    assert not summary.changed


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=st.binary(max_size=200), which=st.sampled_from(["schools", "people", "audit", "terms"]))
async def test_random_bytes_never_half_import(bot: PeerBot, junk: bytes, which: str) -> None:
    before = await counts(bot)
    try:
        await do_import(bot, **{which: SourceFile(f"{which}.csv", junk)})
    except ImportProblems:
        assert await counts(bot) == before
    except BadInput:
        assert await counts(bot) == before


def test_the_demo_always_has_a_school_year_ahead() -> None:
    """`peerbot demo` moves the shipped term dates on by whole 52-week years once they are
    past, so a demo run next summer still has meetings to plan; weekdays are kept."""
    from datetime import date

    from bot.network.csvfile import Problems
    from bot.network.parse import TermRecord, parse_terms

    def terms(today: date | None = None) -> list[TermRecord]:
        problems = Problems()
        found = parse_terms(demo_sources(today=today)["terms"].data, "terms.csv", problems)
        assert not problems.lines
        return found

    shipped = terms()
    assert demo_sources(today=date(2027, 7, 21))["terms"] == demo_sources()["terms"]
    moved = terms(date(2027, 8, 10))
    assert [t.name for t in moved] == [t.name for t in shipped]
    assert moved[0].start == date(2027, 9, 2) and moved[0].start.weekday() == shipped[0].start.weekday()
    assert moved[-1].end >= date(2027, 8, 10)
    assert all(
        d.weekday() == o.weekday()
        for t, s in zip(moved, shipped, strict=True)
        for d, o in zip(t.inset, s.inset, strict=True)
    )
    far = terms(date(2031, 1, 5))
    assert far[0].start <= date(2031, 1, 5) <= far[-1].end
