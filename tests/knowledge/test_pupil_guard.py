"""The pupil-data guard on the knowledge base: real policies go in, pupils' details never do."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.app import PeerBot
from bot.cli import main
from knowledge.models import KbEntry
from tests.support.chat import Chat
from tests.support.kb import POLICY_BODY, POLICY_FRONT, POLICY_HEADER, PUPIL_LINE, docx_bytes, text_pdf

HEAD = "p.shah@oakfield.sch.uk"


def policy_docx(*extra: str) -> bytes:
    return docx_bytes(
        "Child protection and safeguarding policy",
        [*POLICY_HEADER, *POLICY_FRONT, *POLICY_BODY, *extra],
        ["Record concerns on CPOMS", "Tell the DSL the same day"],
        [("Role", "Name", "Phone"), ("Designated Safeguarding Lead", "Jane Smith", "01708 123456")],
    )


def policy_pdf(*extra: str) -> bytes:
    return text_pdf(["Attendance policy", *POLICY_HEADER, *POLICY_FRONT, "", *POLICY_BODY, *extra])


def test_import_takes_real_policies_and_refuses_one_naming_a_pupil(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "peerbot.toml"
    config.write_text('[network]\nname = "KB Network"\n', encoding="utf-8")
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "safeguarding.docx").write_bytes(policy_docx())
    (folder / "attendance.pdf").write_bytes(policy_pdf())
    (folder / "reintegration.docx").write_bytes(policy_docx(PUPIL_LINE))
    (folder / "exclusions.pdf").write_bytes(policy_pdf(PUPIL_LINE))
    code = main(["--config", str(config), "kb", "import", str(folder), "--json"])
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert code == 0 and doc["added"] == 2, doc["problems"]
    assert sorted(e["file"] for e in doc["entries"]) == ["attendance.pdf", "safeguarding.docx"]
    assert sorted(doc["problems"]) == [
        "exclusions.pdf: this can't go in the knowledge base: it looks like a pupil's full name and a date of "
        "birth. Remove those details and add it again",
        "reintegration.docx: this can't go in the knowledge base: it looks like a pupil's full name and a date "
        "of birth. Remove those details and add it again",
    ]
    assert "Jayden" not in out + err and "03/04/2016" not in out + err


async def test_the_guard_reads_dates_with_the_bots_clock(chat: Chat, demo_bot: PeerBot) -> None:
    # In 2045 a child born in 2035 is in school: in a text about a Y4 pupil, that date is their birthday,
    # whatever year the machine running the tests thinks it is.
    demo_bot.clock.set(datetime(2045, 3, 1, 10, tzinfo=UTC))  # type: ignore[attr-defined]
    [reply] = await chat.say(HEAD, "kb add answer Transition: a Y4 child, 03/04/2035, joined us mid-year")
    assert "can't go in the knowledge base: it looks like a date of birth" in reply.text
    async with demo_bot.db.session() as session:
        assert (await session.execute(select(func.count()).select_from(KbEntry))).scalar_one() == 0


def test_the_agenda_guard_reads_dates_with_the_given_day() -> None:
    from bot.errors import BadInput
    from bot.meetings.guard import check_shareable

    with pytest.raises(BadInput, match="looks like a date of birth"):
        check_shareable("a Y4 child, 03/04/2035, joined mid-year", today=datetime(2045, 3, 1).date())
    check_shareable("a Y4 child, 03/04/2035, joined mid-year", today=datetime(2026, 3, 1).date())
