"""From the Audit Analysis to the Partnership Action Plan, in chat and on the CLI."""

from __future__ import annotations

import json
from datetime import date, timedelta
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
# The command line runs on the real clock: review dates a while ahead of whenever the tests run.
REVIEW = (date.today() + timedelta(days=70)).isoformat()
LATER = (date.today() + timedelta(days=91)).isoformat()


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
                REVIEW,
                "--owner",
                "a.fischer@greensbury.sch.uk",
                "--json",
            ]
        )
        == 0
    )
    made = json.loads(capsys.readouterr().out)
    assert made["owner"] == "a.fischer@greensbury.sch.uk" and made["review_on"] == REVIEW
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
    assert sheet["C2"].value == "Anna Fischer (Greensbury Special School)" and sheet["D2"].value == REVIEW


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


async def _plan_first(chat: Chat) -> None:
    [reply] = await chat.say(CONVENOR, "analysis")
    [done] = await chat.press(CONVENOR, reply, "audit.plan")
    assert done.text.startswith("Added action 1")


async def test_planned_actions_show_in_the_group_of_the_need(chat: Chat, demo_bot: PeerBot) -> None:
    await _plan_first(chat)  # Brookside's phonics need, carried by its head
    [listing] = await chat.say(CONVENOR, "actions", where="heads", mention=True)
    assert "1. Oakfield Primary School to support Brookside" in listing.text
    async with demo_bot.db.session() as session:
        result = await analyse(session, demo_bot.network_id)
        autism = next(n for n in result.needs if n.school == "Marygreen Academy" and "autism" in n.need)
        from bot.audit.plan import action_from_need

        row = await action_from_need(session, demo_bot, item_id=autism.item_id or 0, now=demo_bot.clock.now())
        groups = {a.id: a.group_name for a in (await session.execute(select(Action))).unique().scalars()}
    assert groups == {1: "heads", row.id: "senco"}  # "[senco]" in the audit: the SENCOs' plan
    [listing] = await chat.say("s.wright@fairsmead.sch.uk", "actions", where="senco", mention=True)
    assert f"{row.id}. " in listing.text and "Brookside" not in listing.text


async def test_a_need_keeps_its_identity_when_its_schools_audit_changes(chat: Chat, demo_bot: PeerBot) -> None:
    from bot.audit.plan import action_from_need, find_need
    from bot.errors import BadInput

    async with demo_bot.db.session() as session:
        before = await analyse(session, demo_bot.network_id)
    attendance = next(n for n in before.needs if n.need == "Attendance of disadvantaged pupils")
    old_id = attendance.item_id or 0
    async with demo_bot.db.session() as session:
        first = await action_from_need(session, demo_bot, item_id=old_id, now=demo_bot.clock.now())
    # The convenor edits Brookside's audit: a new version, new rows, new ids.
    [reply] = await chat.say(CONVENOR, "audit brookside: add need Governor training")
    assert reply.text.startswith("Done")
    async with demo_bot.db.session() as session:
        after = await analyse(session, demo_bot.network_id)
        now_id = next(n for n in after.needs if n.need == "Attendance of disadvantaged pupils").item_id
        assert now_id != old_id
        assert (await find_need(session, demo_bot.network_id, old_id)).item_id == now_id
        with pytest.raises(BadInput, match=rf"already has an open action \({first.id}\)"):
            await action_from_need(session, demo_bot, item_id=old_id, now=demo_bot.clock.now())
        with pytest.raises(BadInput, match=rf"already has an open action \({first.id}\)"):
            await action_from_need(session, demo_bot, item_id=now_id or 0, now=demo_bot.clock.now())


async def test_the_default_owner_is_the_person_the_audit_names_not_a_namesake(chat: Chat, demo_bot: PeerBot) -> None:
    # Another Hannah Cole, at another school, listed first.
    [reply] = await chat.say(CONVENOR, "member add Hannah Cole, a.cole@brookside.sch.uk, Brookside Junior School, dsl")
    assert reply.text.startswith("Added Hannah Cole")
    await _plan_first(chat)
    async with demo_bot.db.session() as session:
        action = (await session.execute(select(Action))).unique().scalar_one()
    assert action.owner is not None and action.owner.email == "h.cole@oakfield.sch.uk"


async def test_a_review_date_that_just_passed_needs_its_year(chat: Chat, demo_bot: PeerBot) -> None:
    # Today is Monday 23 November 2026.
    [reply] = await chat.say(CONVENOR, "action add Hannah Cole by 20 Nov: share the phonics plan")
    assert reply.text == "Fri 20 Nov 2026 has passed: for next year, give the year (20 Nov 2027). Nothing was changed."
    [reply] = await chat.say(CONVENOR, "action add Hannah Cole by 20 Nov 2027: share the phonics plan")
    assert "review on Saturday 20 November 2027" in reply.text
    [reply] = await chat.say(CONVENOR, "action add Hannah Cole by 15 Jan: share the phonics plan")
    assert "review on Friday 15 January 2027" in reply.text
    [reply] = await chat.say(CONVENOR, "action review 2 1 Nov")
    assert reply.text.startswith("Sun 1 Nov 2026 has passed")


async def test_an_action_changes_hands_in_chat(chat: Chat, demo_bot: PeerBot) -> None:
    from bot.models import OutboxMessage

    await _plan_first(chat)  # owned by Hannah Cole
    [reply] = await chat.say(HEAD, "action owner 1 Daniel Okafor")
    assert reply.text == "Only the action's owner (or the convenor) can hand it to someone else. Nothing was changed."
    [reply] = await chat.say(CONVENOR, "action owner 1 Daniel Okafor")
    assert reply.text == (
        "Action 1 is now carried by **Daniel Okafor** (Fairsmead Primary Academy), review on "
        "Friday 18 December 2026. I've told them."
    )
    [told] = chat.dms(HEAD)
    assert told.text.startswith("You now carry action 1 on the Partnership Action Plan")
    assert told.buttons[0].action == "action.done"
    async with demo_bot.db.session() as session:
        action = (await session.execute(select(Action))).unique().scalar_one()
        reminders = {
            r.key: (r.status, r.target)
            for r in (await session.execute(select(OutboxMessage).where(OutboxMessage.key.like("action:1:review:%"))))
            .scalars()
            .all()
        }
    assert action.owner is not None and action.owner.email == HEAD and action.revision == 1
    assert reminders["action:1:review:0"][0] == "cancelled"
    assert reminders["action:1:review:1"][0] == "pending"
    [reply] = await chat.say(CONVENOR, "action owner 1 Daniel Okafor")
    assert reply.text == "Daniel Okafor already carries action 1."
    # The new owner can mark it done.
    [reply] = await chat.say(HEAD, "action done 1")
    assert reply.text.startswith("Marked action 1 done")


async def test_the_convenor_reassigns_an_erased_owners_action(chat: Chat, demo_bot: PeerBot) -> None:
    from bot.privacy import ErasureOptions, erase_person

    await _plan_first(chat)
    async with demo_bot.db.session() as session:
        await erase_person(
            session,
            demo_bot.network_id,
            "h.cole@oakfield.sch.uk",
            ErasureOptions(now=demo_bot.clock.now(), keep_contributions=True),
        )
    [listing] = await chat.say(CONVENOR, "actions")
    assert "no owner" in listing.text
    [reply] = await chat.say(CONVENOR, "action owner 1 d.okafor@fairsmead.sch.uk")
    assert reply.text.startswith("Action 1 is now carried by **Daniel Okafor**")


def test_cli_actions_update(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = demo_config(tmp_path, name="Updates")
    base = ["--config", str(config), "actions"]
    assert main([*base, "add", "--owner", CONVENOR, "--review", REVIEW, "--action", "Share the plan"]) == 0
    capsys.readouterr()
    args = [*base, "update", "1", "--owner", HEAD, "--review", LATER, "--action", "Share the new plan"]
    assert main([*args, "--notes", "after the INSET day", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc == {
        "id": 1,
        "changed": ["action", "notes", "owner", "review"],
        "action": "Share the new plan",
        "owner": HEAD,
        "review_on": LATER,
        "notes": "after the INSET day",
    }
    assert main([*base, "update", "1", "--owner", HEAD]) == 0
    assert capsys.readouterr().out == "Action 1 already reads so: nothing changed.\n"
    for bad, error in (
        (["--owner", "nobody@x.uk"], "nobody in the network has the email nobody@x.uk"),
        (["--review", "2020-01-01"], "the review date Wednesday 1 January 2020 has already passed"),
        ([], "say what to change: --owner, --review, --action and/or --notes"),
    ):
        assert main([*base, "update", "1", *bad]) == 2
        assert capsys.readouterr().err == f"error: {error}\n"
    assert main([*base, "update", "9", "--notes", "x"]) == 2
    assert capsys.readouterr().err == "error: there is no action number 9\n"
    assert main([*base, "done", "1"]) == 0
    assert main([*base, "update", "1", "--notes", "x"]) == 2
    assert capsys.readouterr().err == "error: action 1 is already done\n"
    assert main(["--config", str(config), "admin", "log", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)["entries"]
    update = next(e for e in entries if e["action"] == "action.update")
    assert update["detail"]["owner"].startswith("person #") and HEAD not in json.dumps(entries)
