"""The Audit Analysis: needs paired with providers, gaps, unused strengths, exports."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from bot.app import PeerBot
from bot.audit.analysis import MAX_PROVIDERS, RELATIVE_CUTOFF, analyse, analyse_audits
from bot.cli import main
from bot.models.network import Audit, AuditItem, School
from tests.support.chat import Chat
from tests.support.cli import demo_config


async def result_of(bot: PeerBot):  # type: ignore[no-untyped-def]
    async with bot.db.session() as session:
        return await analyse(session, bot.network_id)


async def test_the_demo_networks_needs_meet_their_providers(demo_bot: PeerBot) -> None:
    result = await result_of(demo_bot)
    pairs = {(n.school, n.need): [p.school for p in n.providers] for n in result.needs}
    assert pairs[("Marygreen Academy", "Specialist support for pupils with autism")] == ["Greensbury Special School"]
    assert pairs[("Oakfield Primary School", "Writing moderation in year 6")] == ["Brookside Junior School"]
    assert pairs[("Oakfield Primary School", "Higher-achieving maths enrichment for upper key stage 2")] == [
        "Fairsmead Primary Academy",
        "Burford Teaching School",
    ]
    assert pairs[("Harrow Lodge High School", "Preparing for Ofsted under the new framework")] == []  # not SIAMS
    doc = result.to_json()
    assert set(doc) == {"needs", "gaps", "unused_strengths"}
    need = next(n for n in doc["needs"] if n["need"] == "Specialist support for pupils with autism")
    provider = need["providers"][0]
    assert {"school", "strength", "score", "why"} <= set(provider)
    assert provider["why"] == "matches Autism" and provider["contacts"] == ["Anna Fischer"]
    assert {"school": "Riverside Academy", "need": "Reading age gaps at KS3"} in doc["gaps"]
    assert {"school": "Riverside Academy", "strength": "GCSE preparation and KS4 options"} in doc["unused_strengths"]


async def test_analysis_in_chat(chat: Chat) -> None:
    [reply] = await chat.say("d.okafor@fairsmead.sch.uk", "analysis")
    first = reply.text.splitlines()[0]
    assert first.startswith("**Audit Analysis**: 20 needs across the network;")
    assert "→ **Greensbury Special School**: Autism-specific provision" in reply.text
    assert "**Gaps**" in reply.text


def test_cli_json_csv_and_xlsx(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = demo_config(tmp_path, name="Analysis", files=("schools", "people", "audit"))
    capsys.readouterr()
    assert main(["--config", str(config), "audit", "analysis", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["needs"]) == 20
    xlsx, table = tmp_path / "analysis.xlsx", tmp_path / "analysis.csv"
    assert main(["--config", str(config), "audit", "analysis", "--xlsx", str(xlsx)]) == 0
    assert main(["--config", str(config), "audit", "analysis", "--csv", str(table)]) == 0
    book = load_workbook(xlsx)
    assert book.sheetnames == ["Audit Analysis", "Gaps", "Unused strengths"]
    sheet = book["Audit Analysis"]
    assert [c.value for c in sheet[1]] == [
        "School",
        "Area of need",
        "Carried by",
        "Provider of support",
        "Why",
        "Additional notes",
    ]
    assert sheet.max_row == 21 and sheet.freeze_panes == "A2" and sheet[1][0].font.bold
    assert sheet.column_dimensions["D"].width == 48 and sheet["D2"].alignment.wrap_text
    rows = list(csv.reader(table.read_text(encoding="utf-8-sig").splitlines()))
    assert rows[0][1] == "Area of need" and len(rows) == 21
    capsys.readouterr()
    assert main(["--config", str(config), "audit", "analysis", "--xlsx", "/no/such/dir/a.xlsx"]) == 2
    assert capsys.readouterr().err.startswith("error: cannot write /no/such/dir/a.xlsx")


# -- property: any audits give a coherent analysis ------------------------------------------------
ITEMS = [
    "Phonics scheme rollout",
    "Reducing persistent absence",
    "Autism-specific provision",
    "SLE for maths",
    "EHCP annual reviews",
    "Behaviour policy and restorative practice",
    "Joint procurement of contracts",
    "Staff wellbeing and workload",
    "GCSE preparation",
    "Early years provision",
    "Year 6 writing moderation",
    "Safer recruitment",
    "Curriculum sequencing in history",
    "Governor training",
    "Energy contracts",
    "Forest school",
]
audit_rows = st.lists(
    st.tuples(
        st.lists(st.sampled_from(ITEMS), max_size=4, unique=True),
        st.lists(st.sampled_from(ITEMS), max_size=3, unique=True),
    ),
    min_size=2,
    max_size=6,
)


def audits_of(rows: list[tuple[list[str], list[str]]], phases: list[str]) -> list[Audit]:
    """Unsaved audits, one per school: the analysis needs no database."""
    out = []
    for i, (strengths, needs) in enumerate(rows):
        school = School(name=f"School {i}", name_key=f"school {i}", phase=phases[i])
        items = [AuditItem(kind="strength", position=n, text=t) for n, t in enumerate(strengths)]
        items += [AuditItem(kind="need", position=n, text=t) for n, t in enumerate(needs)]
        out.append(Audit(school=school, items=items, audited_by="LA" if i % 2 else None))
    return out


def test_a_provider_of_another_part_of_the_need_is_not_hidden_behind_a_better_score() -> None:
    rows: list[tuple[list[str], list[str]]] = [
        ([], ["Phonics screening check results and attendance"]),
        (["Phonics screening check preparation"], []),
        ([], []),
        (["Attendance panels"], []),  # scores well below phonics, but is the only answer on attendance
        ([], []),
        (["First-day calling for absence"], []),  # attendance again, and lower still: not listed
    ]
    [need] = analyse_audits(audits_of(rows, ["primary"] * 6), []).needs
    assert [p.strength for p in need.providers] == ["Phonics screening check preparation", "Attendance panels"]
    assert need.providers[1].score < RELATIVE_CUTOFF * need.providers[0].score


def test_a_strength_that_only_comes_near_a_need_is_not_a_provider() -> None:
    rows: list[tuple[list[str], list[str]]] = [
        ([], ["SEND provision mapping", "Retention of students in Year 12"]),
        (["Preparation for adulthood for pupils with SEND at post-16"], []),
    ]
    result = analyse_audits(audits_of(rows, ["secondary", "special"]), [])
    assert [n.providers for n in result.needs] == [(), ()]


def test_a_strength_written_for_another_phase_is_offered_to_that_phase_first() -> None:
    rows: list[tuple[list[str], list[str]]] = [
        ([], ["Behaviour at lunchtimes"]),
        (["Relational behaviour approach and restorative conversations"], []),
        ([], []),
        (["Restorative justice approach to behaviour in a large secondary"], []),
    ]
    [need] = analyse_audits(audits_of(rows, ["primary", "primary", "primary", "secondary"]), []).needs
    assert [p.school for p in need.providers] == ["School 1"]
    rows[0] = ([], ["Behaviour at lunchtimes in a secondary"])  # the need's own phase decides
    [need] = analyse_audits(audits_of(rows, ["primary", "primary", "primary", "secondary"]), []).needs
    assert need.providers[0].school == "School 3"


@settings(max_examples=150, deadline=None)
@given(rows=audit_rows, phases=st.lists(st.sampled_from(["primary", "secondary", "special"]), min_size=6, max_size=6))
def test_analysis_of_random_audits_is_coherent(rows: list[tuple[list[str], list[str]]], phases: list[str]) -> None:
    result = analyse_audits(audits_of(rows, phases), [])
    again = analyse_audits(audits_of(rows, phases), [])
    assert result.to_json() == again.to_json()  # deterministic
    assert len(result.needs) == sum(len(n) for _, n in rows)
    used: set[tuple[str, str]] = set()
    for need in result.needs:
        assert len(need.providers) <= MAX_PROVIDERS
        assert all(p.school != need.school for p in need.providers)  # never your own school
        assert len({p.school for p in need.providers}) == len(need.providers)  # one strength per school
        assert all(0 < p.score <= 1 for p in need.providers)
        scores = [p.score for p in need.providers]
        assert scores == sorted(scores, reverse=True)
        used |= {(p.school, p.strength) for p in need.providers}
        same = [i for i, (s, _) in enumerate(rows) if need.need in s and f"School {i}" != need.school]
        if same:  # someone offers exactly what is needed: that is always found
            assert any(p.strength == need.need for p in need.providers)
    assert {(n.school, n.need) for n in result.gaps} == {(n.school, n.need) for n in result.needs if not n.providers}
    offered = {(f"School {i}", t) for i, (s, _) in enumerate(rows) for t in s}
    assert set(result.unused_strengths) == offered - used
