"""Data protection: export and erase one person, on both backends and from the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import PeerBot
from bot.cli import main
from bot.errors import NotFound
from bot.models import AdminLog, AuditItem
from bot.network import store
from bot.privacy import ErasureOptions, erase_person, export_person
from tests.support.chat import Chat
from tests.support.cli import demo_config

SENCO = "h.cole@oakfield.sch.uk"  # carries Oakfield's phonics strength by email
HEAD = "p.shah@oakfield.sch.uk"  # head and convenor at Oakfield


async def test_export_holds_everything_about_the_person(demo_bot: PeerBot) -> None:
    async with demo_bot.db.session() as session:
        _, doc = await export_person(session, demo_bot.network_id, demo_bot.config.network_name, SENCO)
    assert doc["email"] == SENCO
    net = doc["network"]
    assert net["person"]["name"] == "Hannah Cole" and net["person"]["school"] == "Oakfield Primary School"
    assert net["person"]["roles"] == ["senco"]
    assert net["audit_items_they_carry"] == [{"kind": "strength", "text": "Phonics scheme rollout and early reading"}]
    json.dumps(doc, default=str)  # readable JSON


async def test_erase_anonymises_and_hands_items_back(chat: Chat, demo_bot: PeerBot) -> None:
    await chat.say("p.shah@oakfield.sch.uk", "audit add strength Forest school")  # an admin-log entry by the convenor
    async with demo_bot.db.session() as session:
        report = await erase_person(
            session, demo_bot.network_id, SENCO, ErasureOptions(now=demo_bot.clock.now(), keep_contributions=True)
        )
    # Two audit versions of Oakfield name her (the import's and the convenor's change): both handed back.
    assert report.actions["network"] == {
        "audit items handed back to their school's head": 2,
        "roles removed": 1,
        "person anonymised": 1,
    }
    async with demo_bot.db.session() as session:
        assert await store.person_by_email(session, demo_bot.network_id, SENCO) is None
        gone = await store.person_by_email(session, demo_bot.network_id, f"erased-{report.person_id}@invalid")
        assert gone is not None and not gone.active and gone.name == f"Erased person #{report.person_id}"
        assert gone.slack_id is None and gone.roles == []
        owners = list((await session.execute(select(AuditItem.owner).where(AuditItem.owner == SENCO))).scalars())
        assert owners == []
        with pytest.raises(NotFound):
            await erase_person(
                session, demo_bot.network_id, SENCO, ErasureOptions(now=demo_bot.clock.now(), keep_contributions=True)
            )
    # The erased person is a stranger to the bot now.
    [reply] = await chat.say(SENCO, "whoami")
    assert "don't have you" in reply.text


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return demo_config(tmp_path, name="Privacy Network", files=("schools", "people", "audit"))


def test_cli_export_erase_round_trip(capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path) -> None:
    capsys.readouterr()
    out = tmp_path / "export.json"
    assert main(["--config", str(config), "privacy", "export", SENCO, "--out", str(out)]) == 0
    assert json.loads(out.read_text())["network"]["person"]["email"] == SENCO
    capsys.readouterr()
    assert main(["--config", str(config), "privacy", "erase", SENCO, "--dry-run", "--json"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert dry["dry_run"] is True and dry["actions"]["network"]["person anonymised"] == 1
    assert main(["--config", str(config), "network", "show", "--json"]) == 0
    assert SENCO in capsys.readouterr().out  # the dry run changed nothing
    assert main(["--config", str(config), "privacy", "erase", SENCO]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"Erased {SENCO}:") and "person anonymised" in text
    assert main(["--config", str(config), "network", "show", "--json"]) == 0
    assert SENCO not in capsys.readouterr().out
    assert main(["--config", str(config), "privacy", "export", SENCO]) == 2
    assert capsys.readouterr().err == f"error: there is no one with the email {SENCO} in the network\n"


def test_cli_export_json_prints_the_document(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    capsys.readouterr()
    assert main(["--config", str(config), "privacy", "export", SENCO, "--json"]) == 0
    out, err = capsys.readouterr()
    assert err == "" and json.loads(out)["network"]["person"]["email"] == SENCO


def test_cli_export_to_an_unwritable_place(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    capsys.readouterr()
    assert main(["--config", str(config), "privacy", "export", SENCO, "--out", "/no/such/folder/x.json"]) == 2
    assert capsys.readouterr().err.startswith("error: cannot write the export to /no/such/folder/x.json")


def test_erasure_is_logged_without_the_email(config: Path) -> None:
    import asyncio

    assert main(["--config", str(config), "privacy", "erase", SENCO]) == 0

    async def log() -> list[tuple[str, str | None]]:
        from bot.config import load_config

        bot = await PeerBot.open(load_config(config))
        try:
            async with bot.db.session() as session:
                rows = (await session.execute(select(AdminLog.action, AdminLog.subject))).all()
                return [(a, s) for a, s in rows]
        finally:
            await bot.close()

    entries = asyncio.run(log())
    assert ("privacy.erase", "person #3") in entries
    assert not any(SENCO in (s or "") for _, s in entries)


async def test_retention_removes_old_delivered_messages_and_event_ids(chat: Chat, demo_bot: PeerBot) -> None:
    from datetime import timedelta

    from bot.clock import FrozenClock
    from bot.models import OutboxMessage, SeenEvent
    from bot.privacy.retention import apply_retention
    from bot.replies import Message, ToGroup

    async with demo_bot.db.session() as session:
        await demo_bot.queue(session, ToGroup("heads"), Message(text="old news"), key="old")
        await demo_bot.queue(
            session,
            ToGroup("heads"),
            Message(text="tomorrow"),
            key="later",
            not_before=demo_bot.clock.now() + timedelta(days=40),
        )
    await demo_bot.deliverer.drain()
    await chat.say("p.shah@oakfield.sch.uk", "whoami", event_id="Ev1")
    clock = demo_bot.clock
    assert isinstance(clock, FrozenClock)
    clock.advance(timedelta(days=31))
    async with demo_bot.db.session() as session:
        report = await apply_retention(session, demo_bot.network_id, clock.now(), demo_bot.config.settings.privacy)
    assert report.removed == {"delivered messages": 1, "platform event ids": 1}
    async with demo_bot.db.session() as session:
        keys = list((await session.execute(select(OutboxMessage.key))).scalars())
        assert keys == ["later"]  # not yet sent: kept
        assert list((await session.execute(select(SeenEvent))).scalars()) == []


def test_cli_retention_dry_run(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    capsys.readouterr()
    assert main(["--config", str(config), "privacy", "retention", "--dry-run"]) == 0
    assert capsys.readouterr().out == "Would remove: nothing is past its retention period\n"


async def _answer_by_senco(bot: PeerBot) -> int:
    assert bot.knowledge is not None
    async with bot.db.session() as session:
        senco = await store.person_by_email(session, bot.network_id, SENCO)
        assert senco is not None
        return await bot.knowledge.add_answer(
            session,
            question="How do you run phonics catch-up in year 3?",
            answer="Daily 15 minute Little Wandle keep-up sessions straight after lunch.",
            school_id=senco.school_id,
            group=None,
            thread=None,
            added_by=senco.id,
        )


async def test_erasure_keeps_answers_credited_to_the_school_when_chosen(demo_bot: PeerBot) -> None:
    entry = await _answer_by_senco(demo_bot)
    async with demo_bot.db.session() as session:
        _, doc = await export_person(session, demo_bot.network_id, demo_bot.config.network_name, SENCO)
        assert [e["id"] for e in doc["knowledge_base"]["entries"]] == [entry]
        report = await erase_person(
            session, demo_bot.network_id, SENCO, ErasureOptions(now=demo_bot.clock.now(), keep_contributions=True)
        )
    assert report.actions["knowledge_base"]["entries no longer credited to them by name"] == 1
    async with demo_bot.db.session() as session:
        page = await demo_bot.knowledge.search(session, "phonics keep up year 3")  # type: ignore[union-attr]
    hit = next(r for r in page.results if r.id == entry)
    assert hit.school == "Oakfield Primary School"


async def test_erasure_removes_answers_when_the_network_chose_so(demo_bot: PeerBot) -> None:
    entry = await _answer_by_senco(demo_bot)
    async with demo_bot.db.session() as session:
        page = await demo_bot.knowledge.search(session, "phonics keep up year 3")  # type: ignore[union-attr]
        assert entry in [r.id for r in page.results]
        report = await erase_person(
            session, demo_bot.network_id, SENCO, ErasureOptions(now=demo_bot.clock.now(), keep_contributions=False)
        )
    assert report.actions["knowledge_base"]["answers removed"] == 1
    demo_bot.knowledge.invalidate()  # type: ignore[union-attr]  # as if the refresh interval had passed
    async with demo_bot.db.session() as session:
        page = await demo_bot.knowledge.search(session, "phonics keep up year 3")  # type: ignore[union-attr]
        assert entry not in [r.id for r in page.results]


async def test_a_database_error_never_carries_the_words_it_was_storing(bot: PeerBot) -> None:
    """Statement parameters hold people's questions and answers: an error (and so a log
    line written from it) names the statement, never the values."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    with pytest.raises(DBAPIError) as caught:
        async with bot.db.session() as session:
            await session.execute(text("INSERT INTO no_such_table (words) VALUES (:w)"), {"w": "Jayden Smith in Y4"})
    assert "Jayden" not in str(caught.value)


async def _log_columns(bot: PeerBot) -> list[str]:
    async with bot.db.session() as session:
        rows = (await session.execute(select(AdminLog))).scalars().all()
        return [json.dumps([r.actor, r.subject, r.detail], ensure_ascii=False) for r in rows]


async def test_after_erasure_no_log_entry_names_the_person(chat: Chat, demo_bot: PeerBot) -> None:
    from bot.clock import FrozenClock

    convenor = "p.shah@oakfield.sch.uk"
    [added] = await chat.say(convenor, f"action add {SENCO} by 15 Jan: share the phonics plan")
    assert added.text.startswith("Added action")
    await chat.say(SENCO, "whoami")
    async with demo_bot.db.session() as session:
        senco = await store.person_by_email(session, demo_bot.network_id, SENCO)
        assert senco is not None
        # An entry as written before people were named by number, and one by their Slack id.
        session.add(
            AdminLog(
                network_id=demo_bot.network_id,
                at=demo_bot.clock.now(),
                actor=SENCO,
                action="action.add",
                subject="1",
                detail={"owner": SENCO.upper(), "note": ["moved from HANNAH COLE's list"]},
            )
        )
    logged = await _log_columns(demo_bot)
    assert any(f"person #{senco.id}" in line for line in logged)
    assert not any(SENCO in line.lower() for line in logged[:-1])  # only the old-style entry names her
    assert isinstance(demo_bot.clock, FrozenClock)
    async with demo_bot.db.session() as session:
        report = await erase_person(
            session, demo_bot.network_id, SENCO, ErasureOptions(now=demo_bot.clock.now(), keep_contributions=True)
        )
    assert report.actions["network"]["log entries anonymised"] == 1
    for line in await _log_columns(demo_bot):
        assert SENCO not in line.lower() and "hannah" not in line.lower() and "cole" not in line.lower()
    async with demo_bot.db.session() as session:
        old = (
            await session.execute(select(AdminLog).where(AdminLog.actor == f"erased person #{senco.id}"))
        ).scalar_one()
    assert old.detail == {
        "owner": f"erased person #{senco.id}",
        "note": [f"moved from erased person #{senco.id}'s list"],
    }


async def test_chat_entries_name_people_by_number(chat: Chat, demo_bot: PeerBot) -> None:
    await chat.say("d.okafor@fairsmead.sch.uk", "audit add strength Forest school")
    async with demo_bot.db.session() as session:
        head = await store.person_by_email(session, demo_bot.network_id, "d.okafor@fairsmead.sch.uk")
        row = (await session.execute(select(AdminLog).where(AdminLog.action == "audit.propose"))).scalar_one()
    assert head is not None and row.actor == f"person #{head.id}"


def test_admin_log_shows_who_did_what(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    import getpass

    user = f"cli:{getpass.getuser()}"
    assert main(["--config", str(config), "privacy", "export", SENCO, "--out", str(config.parent / "x.json")]) == 0
    assert main(["--config", str(config), "privacy", "erase", SENCO]) == 0
    capsys.readouterr()
    assert main(["--config", str(config), "admin", "log", "--json", "--limit", "2"]) == 0
    entries = json.loads(capsys.readouterr().out)["entries"]
    assert [(e["actor"], e["action"], e["subject"]) for e in entries] == [
        (user, "privacy.export", "person #3"),
        (user, "privacy.erase", "person #3"),
    ]
    assert main(["--config", str(config), "admin", "log"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("  ")[1:3] == [user, "network.import"]  # the import that made the network
    assert lines[-1].split("  ")[1:4] == [user, "privacy.erase", "person #3"]
    assert main(["--config", str(config), "admin", "log", "--limit", "0"]) == 2
    assert capsys.readouterr().err == "error: --limit must be at least 1\n"


async def test_erasure_leaves_items_they_confirmed_audited_but_not_naming_them(chat: Chat, demo_bot: PeerBot) -> None:
    convenor = "p.shah@oakfield.sch.uk"
    [reply] = await chat.say(convenor, "audit marygreen: add strength Forest school")
    assert "marked audited by you" in reply.text
    async with demo_bot.db.session() as session:
        _, doc = await export_person(session, demo_bot.network_id, "x", convenor)
        assert doc["network"]["audit_items_they_confirmed"] == [
            {"kind": "strength", "text": "Forest school", "on": "2026-11-23"}
        ]
        report = await erase_person(
            session, demo_bot.network_id, convenor, ErasureOptions(now=demo_bot.clock.now(), keep_contributions=True)
        )
    assert report.actions["network"]["audit items they confirmed, no longer naming them"] == 1
    async with demo_bot.db.session() as session:
        rows = (await session.execute(select(AuditItem).where(AuditItem.text == "Forest school"))).scalars().all()
        assert [(r.audited_by, r.audited) for r in rows] == [(f"erased person #{report.person_id}", True)]
        names = (await session.execute(select(AuditItem.audited_by).distinct())).scalars().all()
        assert "Priya Shah" not in names


async def test_erasure_removes_messages_addressed_to_them(chat: Chat, demo_bot: PeerBot) -> None:
    from datetime import timedelta

    from bot import outbox
    from bot.models import OutboxKey, OutboxMessage
    from bot.replies import Message, ToPerson

    async with demo_bot.db.session() as session:
        senco = await store.person_by_email(session, demo_bot.network_id, SENCO)
        assert senco is not None
        await demo_bot.queue(
            session,
            ToPerson(senco.id),
            Message(text="Your plan is due"),
            key="action:1:review:0",
            not_before=demo_bot.clock.now() + timedelta(days=9),
        )
        await demo_bot.queue(session, ToPerson(senco.id), Message(text="Welcome"), key="welcome:1")
        await demo_bot.queue(session, ToPerson(senco.id), Message(text="Old"), key="old:1")
    await demo_bot.deliverer.drain()
    async with demo_bot.db.session() as session:  # as retention leaves an old message: its key, for her
        await outbox.forget(session, OutboxMessage.key == "old:1")
        _, doc = await export_person(session, demo_bot.network_id, demo_bot.config.network_name, SENCO)
    assert [(m["key"], m["status"], m["text"]) for m in doc["messages"]["messages_to_them"]] == [
        ("action:1:review:0", "pending", "Your plan is due"),
        ("welcome:1", "sent", "Welcome"),
    ]
    assert [k["key"] for k in doc["messages"]["older_messages_to_them"]] == ["old:1"]
    async with demo_bot.db.session() as session:
        report = await erase_person(
            session, demo_bot.network_id, SENCO, ErasureOptions(now=demo_bot.clock.now(), keep_contributions=True)
        )
    assert report.actions["messages"] == {
        "messages to them removed": 2,
        "records of older messages to them removed": 1,
    }
    async with demo_bot.db.session() as session:
        assert (await session.execute(select(OutboxMessage).where(outbox.addressed_to() == senco.id))).first() is None
        assert (await session.execute(select(OutboxKey).where(OutboxKey.person_id == senco.id))).first() is None
    demo_bot.clock.advance(timedelta(days=10))  # type: ignore[attr-defined]
    await demo_bot.deliverer.drain()
    async with demo_bot.db.session() as session:
        assert (await session.execute(select(OutboxMessage).where(OutboxMessage.status == "failed"))).first() is None


async def test_erasure_removes_the_copies_of_their_questions(chat: Chat, demo_bot: PeerBot) -> None:
    from bot.models import OutboxKey, OutboxMessage, Question

    asker = "k.lloyd@hollybrook.sch.uk"
    await chat.say(
        asker, "How do other schools run attendance panels with the EWO for persistent absence?", where="heads"
    )
    async with demo_bot.db.session() as session:
        question = (await session.execute(select(Question))).unique().scalar_one()
        copies = list(
            (
                await session.execute(select(OutboxMessage).where(OutboxMessage.key.startswith(f"q{question.id}:")))
            ).scalars()
        )
    assert copies and any("attendance panels" in (c.message.get("text") or "") for c in copies)
    async with demo_bot.db.session() as session:
        report = await erase_person(
            session,
            demo_bot.network_id,
            asker,
            ErasureOptions(now=demo_bot.clock.now(), keep_contributions=True),
            on_left=lambda p: demo_bot.person_left(session, p),
        )
    assert report.actions["messages"]["copies of their questions removed"] >= len(copies)
    async with demo_bot.db.session() as session:
        left = list(
            (
                await session.execute(select(OutboxMessage).where(OutboxMessage.key.startswith(f"q{question.id}:")))
            ).scalars()
        )
        kept = list(
            (await session.execute(select(OutboxKey.key).where(OutboxKey.key.startswith(f"q{question.id}:")))).scalars()
        )
    assert all("attendance" not in json.dumps(r.message) for r in left)
    assert {r.status for r in left} <= {"pending"} and {c.key for c in copies} <= set(kept) | {r.key for r in left}


async def test_copies_of_a_dsl_question_go_with_its_text(database, clock) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from bot.demo import demo_sources
    from bot.models import OutboxMessage, Question
    from bot.network.importer import import_network
    from bot.privacy.questions import EXPIRED
    from bot.privacy.retention import apply_retention
    from tests.conftest import make_config

    config = make_config({"privacy": {"delivered_message_retention": "365d"}})
    bot = await PeerBot.open(config, db=database, clock=clock, migrate=False, platforms=["console"])
    async with bot.db.session() as session:
        await import_network(session, bot.network_id, now=clock.now(), **demo_sources())
    chat = Chat(bot)
    await chat.say(
        "t.birch@oakfield.sch.uk", "How do you organise supervision for your deputy DSLs each term?", where="dsl"
    )
    async with bot.db.session() as session:
        question = (await session.execute(select(Question))).unique().scalar_one()
        copies = (
            (await session.execute(select(OutboxMessage.key).where(OutboxMessage.key.startswith(f"q{question.id}:"))))
            .scalars()
            .all()
        )
    assert copies
    clock.advance(config.settings.privacy.dsl_question_retention + timedelta(days=1))
    async with bot.db.session() as session:
        report = await apply_retention(session, bot.network_id, clock.now(), config.settings.privacy)
    assert report.removed["question texts"] == 1 and report.removed["copies of expired questions"] == len(copies)
    async with bot.db.session() as session:
        assert (await session.execute(select(Question.text))).scalar_one() == EXPIRED
        assert (await session.execute(select(OutboxMessage).where(OutboxMessage.key.startswith("q")))).first() is None


async def test_events_of_theirs_still_in_the_inbox_are_exported_and_erased(demo_bot: PeerBot) -> None:
    from bot.events import MessagePosted, Place, Sender
    from bot.inbox import Inbox
    from bot.models import InboxEvent

    async def never(item: object) -> None:
        raise AssertionError("not handled here")

    async with demo_bot.db.session() as session:
        senco = await store.person_by_email(session, demo_bot.network_id, SENCO)
        assert senco is not None
        senco.slack_id = "U0SENCO"
    inbox = Inbox(demo_bot.db, network_id=demo_bot.network_id, platform="slack", clock=demo_bot.clock, handler=never)
    await inbox.start(drain=False)
    for n, user in enumerate(("U0SENCO", "U0OTHER")):
        await inbox.put(
            MessagePosted(
                sender=Sender(platform="slack", user_id=user),
                place=Place(platform="slack", channel_id="D1", is_direct=True),
                event_id=f"msg:D1:{n}",
                text=f"Jamie in year {n + 3} disclosed something",
                message_id=str(n),
            )
        )
    await inbox.stop(0)
    async with demo_bot.db.session() as session:
        _, doc = await export_person(session, demo_bot.network_id, demo_bot.config.network_name, SENCO)
    waiting = [(e["kind"], e["text"]) for e in doc["waiting events"]]
    assert waiting == [("message", "Jamie in year 3 disclosed something")]
    async with demo_bot.db.session() as session:
        report = await erase_person(
            session, demo_bot.network_id, SENCO, ErasureOptions(now=demo_bot.clock.now(), keep_contributions=True)
        )
    assert report.actions["waiting events"] == {"events of theirs not yet handled removed": 1}
    async with demo_bot.db.session() as session:
        left = list((await session.execute(select(InboxEvent.sender_id))).scalars())
    assert left == ["U0OTHER"]


async def test_replies_kept_for_them_until_sent_are_erased_unsent(demo_bot: PeerBot) -> None:
    from bot.events import MessagePosted, Place, Sender
    from bot.models import SeenEvent

    async with demo_bot.db.session() as session:
        senco = await store.person_by_email(session, demo_bot.network_id, SENCO)
        head = await store.person_by_email(session, demo_bot.network_id, HEAD)
        assert senco is not None and head is not None
        senco.discord_id, head.discord_id = "111", "222"
    for user in ("111", "222"):
        handled = await demo_bot.handle_keeping(
            MessagePosted(
                sender=Sender(platform="discord", user_id=user),
                place=Place(platform="discord", channel_id=f"D{user}", is_direct=True),
                event_id=f"9{user}",
                text="whoami",
                message_id=f"9{user}",
            )
        )
        assert handled.replies  # kept until the adapter says they have gone
    async with demo_bot.db.session() as session:
        report = await erase_person(
            session, demo_bot.network_id, SENCO, ErasureOptions(now=demo_bot.clock.now(), keep_contributions=True)
        )
    assert report.actions["waiting events"]["replies to them not yet sent removed"] == 1
    async with demo_bot.db.session() as session:
        rows = (await session.execute(select(SeenEvent.event_id, SeenEvent.sender_id, SeenEvent.replies))).all()
    assert {(e, s, r is not None) for e, s, r in rows} == {("9111", None, False), ("9222", "222", True)}


async def test_retention_removes_events_left_waiting_for_a_week(demo_bot: PeerBot) -> None:
    from datetime import timedelta

    from bot.events import MemberJoined, Place, Sender
    from bot.inbox import Inbox
    from bot.privacy.retention import apply_retention

    async def never(item: object) -> None:
        raise AssertionError("not handled here")

    inbox = Inbox(demo_bot.db, network_id=demo_bot.network_id, platform="slack", clock=demo_bot.clock, handler=never)
    await inbox.start(drain=False)
    joined = MemberJoined(sender=Sender(platform="slack", user_id="U1"), place=Place(platform="slack", channel_id="C1"))
    await inbox.put(joined)
    await inbox.stop(0)
    settings = demo_bot.config.settings.privacy
    for days, removed in ((6, {}), (2, {"events never handled": 1})):
        demo_bot.clock.advance(timedelta(days=days))  # type: ignore[attr-defined]
        async with demo_bot.db.session() as session:
            report = await apply_retention(session, demo_bot.network_id, demo_bot.clock.now(), settings)
        assert {k: v for k, v in report.removed.items() if k == "events never handled"} == removed
