"""From the Audit Analysis to the Partnership Action Plan, in chat and on the CLI."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from bot.app import PeerBot
from bot.audit.analysis import analyse
from bot.cli import main
from bot.models import Action
from tests.support.chat import Chat
from tests.support.cli import demo_config

CONVENOR = "p.shah@oakfield.sch.uk"
HEAD = "d.okafor@fairsmead.sch.uk"


async def test_the_convenor_plans_a_pairing_with_one_button(chat: Chat, demo_bot: PeerBot) -> None:
    [reply] = await chat.say(CONVENOR, "analysis")
    assert reply.text.splitlines()[1].startswith("1. ")
    first = reply.buttons[0]
    assert first.label == "Plan 1" and first.action == "audit.plan"
    [done] = await chat.press(CONVENOR, reply, "audit.plan")
    assert done.text.startswith("Added action 1 to the action plan: _Oakfield Primary School to support Brookside")
    async with demo_bot.db.session() as session:
        action = (await session.execute(select(Action))).unique().scalar_one()
    assert (
        action.source == "audit"
        and action.aim == "Brookside Junior School: Phonics catch-up for pupils in lower key stage 2"
    )
    assert action.owner is not None and action.owner.name == "Hannah Cole"  # the provider's contact
    assert action.review_on == date(2026, 12, 18)  # the end of Autumn 2
    [again] = await chat.press(CONVENOR, reply, "audit.plan")
    assert "already has an open action (1)" in again.text
    [listing] = await chat.say(CONVENOR, "actions")
    assert "Oakfield Primary School to support Brookside" in listing.text


async def test_only_the_convenor_plans_from_the_analysis(chat: Chat) -> None:
    [reply] = await chat.say(HEAD, "analysis")
    assert reply.buttons == ()


async def test_planning_checks_its_input(chat: Chat, demo_bot: PeerBot) -> None:
    from bot.audit.plan import action_from_need
    from bot.errors import BadInput, NotFound

    async with demo_bot.db.session() as session:
        result = await analyse(session, demo_bot.network_id)
        gap = next(n for n in result.needs if not n.providers)
        paired = next(n for n in result.needs if n.providers)
        with pytest.raises(NotFound):
            await action_from_need(session, demo_bot, item_id=99999, now=demo_bot.clock.now())
        with pytest.raises(BadInput, match="already passed"):
            await action_from_need(
                session, demo_bot, item_id=paired.item_id or 0, now=demo_bot.clock.now(), review_on=date(2026, 1, 1)
            )
        with pytest.raises(BadInput, match="is not a provider"):
            await action_from_need(
                session, demo_bot, item_id=paired.item_id or 0, now=demo_bot.clock.now(), provider_school="Meadow View"
            )
        row = await action_from_need(session, demo_bot, item_id=gap.item_id or 0, now=demo_bot.clock.now())
    assert row.action.startswith(f"Find support for {gap.school}")
    assert row.owner is not None and row.owner.name in gap.owners


def test_cli_plan_and_export(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = demo_config(tmp_path, name="Plans")
    capsys.readouterr()
    assert main(["--config", str(config), "audit", "analysis", "--json"]) == 0
    needs = json.loads(capsys.readouterr().out)["needs"]
    autism = next(n for n in needs if n["school"] == "Marygreen Academy" and "autism" in n["need"])
    assert (
        main(
            [
                "--config",
                str(config),
                "audit",
                "plan",
                "--need",
                str(autism["id"]),
                "--review",
                "2027-02-12",
                "--owner",
                "a.fischer@greensbury.sch.uk",
                "--json",
            ]
        )
        == 0
    )
    made = json.loads(capsys.readouterr().out)
    assert made["owner"] == "a.fischer@greensbury.sch.uk" and made["review_on"] == "2027-02-12"
    assert made["aim"] == "Marygreen Academy: Specialist support for pupils with autism"
    assert main(["--config", str(config), "audit", "plan", "--need", str(autism["id"]), "--owner", "nobody@x.uk"]) == 2
    assert capsys.readouterr().err == "error: nobody in the network has the email nobody@x.uk\n"
    assert main(["--config", str(config), "audit", "plan", "--need", str(autism["id"])]) == 2
    assert capsys.readouterr().err == f"error: that need already has an open action ({made['id']})\n"
    xlsx = tmp_path / "plan.xlsx"
    assert main(["--config", str(config), "actions", "list", "--xlsx", str(xlsx)]) == 0
    sheet = load_workbook(xlsx)["Partnership Action Plan"]
    assert [c.value for c in sheet[1]][:4] == [
        "Partnership aim",
        "Action/Objective",
        "Named responsibility",
        "Review date",
    ]
    assert sheet["C2"].value == "Anna Fischer (Greensbury Special School)" and sheet["D2"].value == "2027-02-12"


async def test_erasing_an_owner_leaves_their_actions_for_the_convenor(chat: Chat, demo_bot: PeerBot) -> None:
    from bot.privacy import ErasureOptions, erase_person, export_person

    [reply] = await chat.say(CONVENOR, "analysis")
    await chat.press(CONVENOR, reply, "audit.plan")
    async with demo_bot.db.session() as session:
        _, doc = await export_person(session, demo_bot.network_id, "x", "h.cole@oakfield.sch.uk")
        assert [a["id"] for a in doc["meetings"]["actions"]] == [1]
        report = await erase_person(
            session,
            demo_bot.network_id,
            "h.cole@oakfield.sch.uk",
            ErasureOptions(now=demo_bot.clock.now(), keep_contributions=True),
        )
    assert report.actions["meetings"] == {"open actions left for the convenor to reassign": 1}
    async with demo_bot.db.session() as session:
        action = (await session.execute(select(Action))).unique().scalar_one()
    assert action.owner_id is None and "convenor reassigns" in action.notes
