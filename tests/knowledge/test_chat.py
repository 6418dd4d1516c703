"""The knowledge base in chat: search with buttons, adding files, group visibility,
review reminders sent once with one-button confirm / update / retire."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.app import PeerBot
from bot.events import CommandInvoked, IncomingFile
from bot.meetings.sweep import queue_review_reminders
from bot.models.messaging import OutboxMessage
from knowledge import ingest, store
from knowledge.models import KbEntry
from tests.support.chat import Chat
from tests.support.kb import docx_bytes
from tests.support.waiting import eventually

HEAD = "p.shah@oakfield.sch.uk"  # head and convenor at Oakfield
DSL = "t.birch@oakfield.sch.uk"  # deputy and DSL at Oakfield
OTHER = "m.kowalski@stmarys.sch.uk"  # head and DSL at St Mary's


async def upload(chat: Chat, who: str, text: str, *files: IncomingFile, where: str = "dm") -> list:  # type: ignore[type-arg]
    event = CommandInvoked(
        sender=chat.sender(who),
        place=chat.place(who, where),
        event_id=uuid.uuid4().hex,
        name="kb",
        text=text,
        files=files,
    )
    return await chat.send_event(event)


async def test_adding_a_typed_entry_and_finding_it_with_buttons(chat: Chat) -> None:
    added = await chat.say(
        HEAD, "kb add policy Attendance policy: Parents ring the office by 9.15am on each day of absence."
    )
    assert "Added **Attendance policy** (policy" in added[0].text and added[0].private
    found = await chat.say(HEAD, "kb attendence")
    assert "Attendance policy" in found[0].text and "**absence**" in found[0].text
    opened = await chat.press(HEAD, found[0], "kb.open")
    assert "Parents ring the office" in opened[0].text
    assert opened[0].button("kb.confirm").value == found[0].button("kb.open").value


async def test_uploaded_files_become_entries_and_bad_ones_are_named(chat: Chat) -> None:
    good = IncomingFile(
        name="recruitment.docx",
        data=docx_bytes("Safer recruitment policy", ["Review date: 1 January 2027"], ["Enhanced DBS"], [("A", "B")]),
    )
    bad = IncomingFile(name="scan.pdf", data=b"not a pdf at all")
    replies = await upload(chat, HEAD, "add", good, bad)
    text = replies[0].text
    assert "Added **Safer recruitment policy** (policy" in text and "1 January 2027" in text
    assert "Not added — scan.pdf: is not a PDF" in text
    only_bad = await upload(chat, HEAD, "add", bad)
    assert "couldn't add scan.pdf" in only_bad[0].text and "Nothing was changed" in only_bad[0].text


async def test_an_oversized_upload_is_refused(chat: Chat) -> None:
    big = IncomingFile(name="huge.txt", data=b"a" * (chat.bot.config.settings.knowledge.max_file_bytes + 1))
    replies = await upload(chat, HEAD, "add", big)
    assert "over the" in replies[0].text and "limit" in replies[0].text
    async with chat.bot.db.session() as session:
        assert (await session.execute(select(KbEntry))).first() is None


async def test_entries_from_the_dsl_channel_are_for_dsls_only(chat: Chat) -> None:
    asked = await upload(chat, DSL, "add answer Lanyard concerns: log it on CPOMS the same day.", where="dsl")
    assert "names no child, family or member of staff" in asked[0].text
    added = await chat.press(DSL, asked[0], "kb.publish")
    assert "Only the DSL group can see it" in added[0].text
    assert "Lanyard" in (await chat.say(OTHER, "kb lanyard cpoms"))[0].text
    hidden = await chat.say("h.cole@oakfield.sch.uk", "kb lanyard cpoms")
    assert "found nothing" in hidden[0].text


async def test_hostile_searches_answer_politely(chat: Chat) -> None:
    for query in ("!!!", "😀😀", "'; DROP TABLE kb_entries; --", "x" * 3000):
        replies = await chat.say(HEAD, f"kb {query}")
        assert replies[0].private and "found nothing" in replies[0].text
    assert "What are you looking for?" in (await chat.say(HEAD, "kb"))[0].text


async def test_more_button_lists_the_next_results(chat: Chat) -> None:
    for n in range(7):
        await chat.say(HEAD, f"kb add resource Phonics resource {n}: decodable books for phonics group {n}")
    found = await chat.say(HEAD, "kb phonics")
    assert len([b for b in found[0].buttons if b.action == "kb.open"]) == 5
    more = await chat.press(HEAD, found[0], "kb.more")
    assert more[0].text.count("Phonics resource") == 2


async def test_review_reminders_go_once_to_the_owner_and_buttons_work(chat: Chat) -> None:
    bot = chat.bot
    await chat.say(HEAD, "kb add policy Lockdown procedure: three long whistle blasts.")
    async with bot.db.session() as session:
        entry = (await session.execute(select(KbEntry))).scalar_one()
        entry.review_on = date(2026, 12, 1)
        assert await queue_review_reminders(session, bot, bot.clock.now()) == 1
        assert await queue_review_reminders(session, bot, bot.clock.now()) == 0  # the same key: once
    await bot.deliverer.drain()
    assert chat.dms(HEAD) == []  # the 30-day mark has passed: it goes on the morning of the review date
    bot.clock.set(datetime(2026, 12, 1, 11, 0, tzinfo=UTC))  # type: ignore[attr-defined]
    await bot.deliverer.drain()
    dms = chat.dms(HEAD)
    assert len(dms) == 1 and "Lockdown procedure" in dms[0].text and "1 December 2026" in dms[0].text
    assert "is confirmed" in (await chat.press(HEAD, dms[0], "kb.confirm"))[0].text
    async with bot.db.session() as session:
        entry = (await session.execute(select(KbEntry))).scalar_one()
        assert entry.review_on == bot.clock.now().date() + timedelta(days=365)
    refused = await chat.press(OTHER, dms[0], "kb.retire")
    assert "Only the owner" in refused[0].text
    update = await chat.press(HEAD, dms[0], "kb.update")
    assert f"kb update {entry.id}" in update[0].text
    await chat.say(HEAD, f"kb update {entry.id}: two short whistle blasts now.")
    assert "two short whistle" in (await chat.say(HEAD, f"kb show {entry.id}"))[0].text
    retired = await chat.press(HEAD, dms[0], "kb.retire")
    assert "Retired" in retired[0].text
    assert "found nothing" in (await chat.say(HEAD, "kb lockdown"))[0].text


async def test_reminders_wait_for_school_hours(chat: Chat) -> None:
    bot = chat.bot
    await chat.say(HEAD, "kb add answer Swimming top-up: Year 6 sessions in the summer.")
    late = bot.clock.now().replace(hour=22)  # 10pm, and the entry is already overdue: the reminder waits
    async with bot.db.session() as session:
        entry = (await session.execute(select(KbEntry))).scalar_one()
        entry.review_on = date(2026, 11, 1)
        await queue_review_reminders(session, bot, late)
        row = (
            await session.execute(select(OutboxMessage).where(OutboxMessage.key.like("review:kb.review:%")))
        ).scalar_one()
    assert row.not_before > late and row.not_before.astimezone(bot.config.zone).hour == 7
    assert "was due for review on" in row.message["text"]


async def test_home_shows_entries_due_for_review(chat: Chat) -> None:
    await chat.say(HEAD, "kb add policy Complaints procedure: three stages.")
    async with chat.bot.db.session() as session:
        entry = (await session.execute(select(KbEntry))).scalar_one()
        entry.review_on = date(2026, 11, 1)
    home = await chat.say(HEAD, "home")
    assert "due for review" in home[0].text and "Complaints procedure — overdue since 1 November 2026" in home[0].text
    mine = await chat.say(HEAD, "kb mine")
    assert "overdue since 1 November 2026" in mine[0].text
    assert store.reminder_key(entry).startswith(f"kb.review:{entry.id}:")


async def test_pupil_data_never_becomes_an_entry(chat: Chat, demo_bot: PeerBot) -> None:
    from sqlalchemy import func, select

    from knowledge.models import KbEntry

    text = "kb add answer Reintegration: Jayden Smith in Y4 (DOB 03/04/2017) came back on a part-time timetable"
    [reply] = await chat.say("p.shah@oakfield.sch.uk", text)
    assert reply.private and "can't go in the knowledge base" in reply.text
    assert "Jayden" not in reply.text and "03/04/2017" not in reply.text
    async with demo_bot.db.session() as session:
        assert (await session.execute(select(func.count()).select_from(KbEntry))).scalar_one() == 0


async def test_manage_buttons_check_who_may_see_the_entry(chat: Chat) -> None:
    """A head at the owning school may manage its entries, but not a DSL-only one: a forwarded
    "Retire it" button does nothing for someone outside the group, and names nothing."""
    from bot.events import ButtonPressed

    bot = chat.bot
    async with bot.db.session() as session:
        oakfield = await store.school_by_name(session, bot.network_id, "Oakfield")
        entry, _ = await store.save(
            session,
            bot.network_id,
            store.NewEntry(kind="answer", title="Lanyard concerns", text="Log it the same day.", group="dsl",
                           school_id=oakfield.id if oakfield else None),
            now=bot.clock.now(),
            today=bot.clock.now().date(),
            settings=bot.config.settings.knowledge,
            actor="test",
        )  # fmt: skip
        entry_id = entry.id
    for action in ("kb.retire", "kb.confirm", "kb.update"):
        press = ButtonPressed(
            sender=chat.sender(HEAD), place=chat.place(HEAD, "dm"), event_id=uuid.uuid4().hex, action=action,
            value=str(entry_id),
        )  # fmt: skip
        [reply] = await chat.send_event(press)
        assert f"no knowledge-base entry {entry_id} that you can see" in reply.text and "Lanyard" not in reply.text
    async with bot.db.session() as session:
        kept = await store.get(session, bot.network_id, entry_id)
        assert kept.status == "active" and kept.confirmed_at is None
    retire = ButtonPressed(
        sender=chat.sender(DSL), place=chat.place(DSL, "dm"), event_id=uuid.uuid4().hex, action="kb.retire",
        value=str(entry_id),
    )  # fmt: skip
    # Oakfield's DSL (a deputy, not a head) keeps the group's entries that have no owner: they are reminded.
    assert "Retired **Lanyard concerns**" in (await chat.send_event(retire))[0].text


async def count_entries(bot: PeerBot, status: str | None = None) -> int:
    from sqlalchemy import func

    q = select(func.count()).select_from(KbEntry)
    if status is not None:
        q = q.where(KbEntry.status == status)
    async with bot.db.session() as session:
        return int((await session.execute(q)).scalar_one())


async def test_nothing_from_the_dsl_channel_is_kept_until_its_contributor_says_it_names_no_one(chat: Chat) -> None:
    """Typed or uploaded, a DSL-channel entry waits for "it names no one"; till then nobody finds it,
    only its contributor can decide, "Don't add it" keeps nothing, and one never answered is deleted."""
    bot = chat.bot
    typed = await upload(chat, DSL, "add answer Lanyard concerns: log it on CPOMS the same day.", where="dsl")
    assert typed[0].button("kb.publish").label == "It names no one — add it"
    assert "found nothing" in (await chat.say(OTHER, "kb lanyard cpoms"))[0].text  # not yet
    assert "found nothing" in (await chat.say(DSL, "kb lanyard cpoms"))[0].text
    forwarded = await chat.press(OTHER, typed[0], "kb.publish")
    assert "Only the person who shared these" in forwarded[0].text
    assert "Don't add" in typed[0].button("kb.discard").label
    assert "haven't kept any of it" in (await chat.press(DSL, typed[0], "kb.discard"))[0].text
    assert await count_entries(bot) == 0
    assert "Nothing to add" in (await chat.press(DSL, typed[0], "kb.publish"))[0].text

    policy = IncomingFile(
        name="online-safety.docx", data=docx_bytes("Online safety policy", ["Review date: 1 March 2027"], [], [])
    )
    uploaded = await upload(chat, DSL, "add", policy, where="dsl")
    assert "- **Online safety policy** (policy)" in uploaded[0].text and await count_entries(bot, "pending") == 1
    published = await chat.press(DSL, uploaded[0], "kb.publish")
    assert "Added **Online safety policy**" in published[0].text and await count_entries(bot, "active") == 1
    again = await chat.press(DSL, uploaded[0], "kb.publish")
    assert "Already done" in again[0].text and await count_entries(bot, "active") == 1

    # Shared, never answered: gone after two days, with the network's other retention.
    from bot.privacy.retention import apply_retention

    await upload(chat, DSL, "add answer Toilets: two adults, door ajar.", where="dsl")
    async with bot.db.session() as session:
        later = bot.clock.now() + store.PENDING_FOR + timedelta(minutes=1)
        report = await apply_retention(session, bot.network_id, later, bot.config.settings.privacy)
    assert report.removed.get("knowledge-base entries never confirmed") == 1
    assert await count_entries(bot) == 1 and await count_entries(bot, "pending") == 0


async def test_each_uploaded_file_is_judged_on_its_own(chat: Chat) -> None:
    from tests.support.kb import POLICY_BODY, POLICY_FRONT, POLICY_HEADER, PUPIL_LINE

    good = IncomingFile(
        name="safeguarding.docx",
        data=docx_bytes("Safeguarding policy", POLICY_HEADER + POLICY_FRONT + POLICY_BODY, [], []),
    )
    pupil = IncomingFile(name="reintegration.docx", data=docx_bytes("Reintegration", [PUPIL_LINE], [], []))
    named = IncomingFile(name="Jayden Smith Y4 plan.txt", data=b"A plan for a pupil in Y4.")
    underscored = IncomingFile(name="jayden_smith_y4.pdf", data=b"not a pdf")
    replies = await upload(chat, HEAD, "add", good, pupil, named, underscored)
    text = replies[0].text
    assert "Added **Safeguarding policy** (policy" in text
    assert (
        "Not added — reintegration.docx: it looks like a pupil's full name and a date of birth; take those "
        "details out and send it again." in text
    )
    assert "Not added — file 3: it looks like a pupil's full name" in text  # its name is never quoted back
    assert "Not added — file 4: is not a PDF" in text
    assert "jayden" not in text.lower() and "03/04/2016" not in text
    assert await count_entries(chat.bot) == 1


async def test_tags_are_checked_for_pupil_data(chat: Chat) -> None:
    async with chat.bot.db.session() as session:
        new = store.NewEntry(
            kind="answer",
            title="Reintegration",
            text="A part-time timetable at first.",
            tags=("reintegration", "jayden smith y4"),
        )
        try:
            await store.save(
                session,
                chat.bot.network_id,
                new,
                now=chat.bot.clock.now(),
                today=chat.bot.clock.now().date(),
                settings=chat.bot.config.settings.knowledge,
            )
        except store.PupilDataFound as exc:
            assert exc.detail == "looks like a pupil's full name"
        else:
            raise AssertionError("a tag naming a pupil was kept")  # fmt: skip


async def test_a_file_sent_without_a_command_is_offered_with_a_button(chat: Chat) -> None:
    from bot.events import MessagePosted

    policy = IncomingFile(
        name="attendance.docx",
        data=docx_bytes("Attendance policy", ["Review date: 1 March 2027"], ["Ring by 9.15am"], []),
    )
    event = MessagePosted(
        sender=chat.sender(HEAD), place=chat.place(HEAD, "dm"), event_id=uuid.uuid4().hex, text="", message_id="m1",
        files=(policy,),
    )  # fmt: skip
    [offer] = await chat.send_event(event)
    assert "Would you like me to add this to the knowledge base?" in offer.text
    assert "- **Attendance policy** (policy)" in offer.text and "not sure" not in offer.text
    assert offer.button("kb.publish").label == "Add to the knowledge base"
    assert "found nothing" in (await chat.say(OTHER, "kb attendance policy"))[0].text  # nothing shared yet
    added = await chat.press(HEAD, offer, "kb.publish")
    assert "Added **Attendance policy** (policy" in added[0].text and "1 March 2027" in added[0].text
    assert "Attendance policy" in (await chat.say(OTHER, "kb attendance policy"))[0].text
    # Some words with the file ("here's ours") change nothing; "No thanks" keeps nothing.
    event = MessagePosted(
        sender=chat.sender(HEAD), place=chat.place(HEAD, "dm"), event_id=uuid.uuid4().hex, text="here's ours",
        message_id="m2", files=(IncomingFile(name="trips.md", data=b"# Trips\n\nRisk assessments first."),),
    )  # fmt: skip
    [offer] = await chat.send_event(event)
    assert "**Trips** (resource)" in offer.text
    assert "haven't kept" in (await chat.press(HEAD, offer, "kb.discard"))[0].text
    assert await count_entries(chat.bot) == 1


async def test_a_slash_command_without_a_colon_is_told_what_works(chat: Chat) -> None:
    [reply] = await chat.command(HEAD, "kb", "add policy Attendance policy")
    assert "/peerbot kb add policy Title: the text" in reply.text and "direct message" in reply.text
    assert "attach a file" not in reply.text
    [typed] = await chat.say(HEAD, "kb add policy Attendance policy")
    assert "attach a file to **kb add**" in typed.text


async def test_erasure_deletes_what_someone_shared_but_never_confirmed(chat: Chat) -> None:
    from bot.privacy import ErasureOptions, erase_person

    kept = await upload(chat, DSL, "add answer Toilets: two adults, door ajar.", where="dsl")
    [added] = await chat.press(DSL, kept[0], "kb.publish")
    await chat.say(DSL, f"kb update {added.button('kb.open').value}: two adults, door open.")
    await upload(chat, DSL, "add answer Lanyard concerns: log it on CPOMS the same day.", where="dsl")
    async with chat.bot.db.session() as session:
        options = ErasureOptions(now=chat.bot.clock.now(), keep_contributions=True)
        report = await erase_person(session, chat.bot.network_id, DSL, options)
    assert report.actions["knowledge_base"]["entries never confirmed, deleted"] == 1
    assert report.actions["knowledge_base"]["new versions never confirmed, deleted"] == 1
    assert await count_entries(chat.bot) == 1 and await proposals(chat.bot) == 0


async def kb_text(bot: PeerBot, entry_id: int) -> tuple[str, int]:
    async with bot.db.session() as session:
        entry = await store.get(session, bot.network_id, entry_id)
        return entry.text, entry.revision


async def proposals(bot: PeerBot) -> int:
    from sqlalchemy import func

    from knowledge.models import KbEntryHistory

    q = select(func.count()).select_from(KbEntryHistory).where(KbEntryHistory.action == store.PROPOSED)
    async with bot.db.session() as session:
        return int((await session.execute(q)).scalar_one())


async def test_a_new_version_of_a_dsl_entry_waits_for_its_author_to_say_it_names_no_one(chat: Chat) -> None:
    """As for adding one: updating a DSL entry (from anywhere) keeps the new text aside until
    "it names no one"; "Don't update it" keeps nothing; only its author can decide; one
    entry changed meanwhile is not overwritten; one never answered is deleted."""
    bot = chat.bot
    asked = await upload(chat, DSL, "add answer Lanyard concerns: log it on CPOMS the same day.", where="dsl")
    [added] = await chat.press(DSL, asked[0], "kb.publish")
    entry_id = int(added.button("kb.open").value)

    typed = await chat.say(DSL, f"kb update {entry_id}: tell the DSL at once and log it on CPOMS.")  # in a DM
    assert "names no child, family or member of staff" in typed[0].text
    assert typed[0].button("kb.apply").label == "It names no one — update it"
    assert await kb_text(bot, entry_id) == ("log it on CPOMS the same day.", 1)  # not yet
    assert "found nothing" in (await chat.say(OTHER, "kb tell at once"))[0].text
    forwarded = await chat.press(OTHER, typed[0], "kb.apply")
    assert "Nothing to update" in forwarded[0].text and await proposals(bot) == 1
    applied = await chat.press(DSL, typed[0], "kb.apply")
    assert "Updated **Lanyard concerns**" in applied[0].text and "old version is kept" in applied[0].text
    assert await kb_text(bot, entry_id) == ("tell the DSL at once and log it on CPOMS.", 2)
    assert "Lanyard" in (await chat.say(OTHER, "kb tell the dsl at once"))[0].text
    again = await chat.press(DSL, typed[0], "kb.apply")  # a second press (or a platform's retry)
    assert "Nothing to update" in again[0].text and await kb_text(bot, entry_id) == (
        "tell the DSL at once and log it on CPOMS.",
        2,
    )

    dropped = await chat.say(DSL, f"kb update {entry_id}: something else entirely.")
    assert "haven't kept" in (await chat.press(DSL, dropped[0], "kb.drop"))[0].text
    assert await proposals(bot) == 0 and (await kb_text(bot, entry_id))[1] == 2
    assert "Nothing to update" in (await chat.press(DSL, dropped[0], "kb.apply"))[0].text

    same = await chat.say(DSL, f"kb update {entry_id}: tell the DSL at once and log it on CPOMS.")
    assert "already says" in same[0].text and not same[0].buttons and await proposals(bot) == 0

    first = await chat.say(DSL, f"kb update {entry_id}: version A.")
    second = await chat.say(DSL, f"kb update {entry_id}: version B.")
    await chat.press(DSL, second[0], "kb.apply")
    stale = await chat.press(DSL, first[0], "kb.apply")
    assert "has changed since" in stale[0].text and await kb_text(bot, entry_id) == ("version B.", 3)
    assert await proposals(bot) == 0

    refused = await chat.say(DSL, f"kb update {entry_id}: Jayden Smith (DOB 03/04/2016) was seen.")
    assert "Nothing was changed" in refused[0].text and "Jayden" not in refused[0].text
    assert await proposals(bot) == 0

    await chat.say(DSL, f"kb update {entry_id}: version C.")
    from bot.privacy.retention import apply_retention

    async with bot.db.session() as session:
        later = bot.clock.now() + store.PENDING_FOR + timedelta(minutes=1)
        report = await apply_retention(session, bot.network_id, later, bot.config.settings.privacy)
    assert report.removed.get("knowledge-base new versions never confirmed") == 1
    assert await proposals(bot) == 0 and await kb_text(bot, entry_id) == ("version B.", 3)


async def test_an_entry_for_everyone_is_updated_at_once(chat: Chat) -> None:
    added = await chat.say(HEAD, "kb add policy Fire drill: one long whistle blast.")
    entry_id = int(added[0].button("kb.open").value)
    updated = await chat.say(HEAD, f"kb update {entry_id}: two short whistle blasts.")
    assert "Updated **Fire drill**" in updated[0].text and not any(b.action == "kb.apply" for b in updated[0].buttons)
    assert await kb_text(chat.bot, entry_id) == ("two short whistle blasts.", 2)


async def test_a_file_is_read_before_the_transaction_and_without_holding_up_the_event_loop(
    chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large PDF takes seconds to read: meanwhile other requests are answered and other
    writers write (on SQLite, none waits for the handling's write lock); it is read once."""
    started, finished = threading.Event(), threading.Event()
    reads: list[str] = []
    real_markdown = ingest._markdown

    def slow_markdown(text: str) -> tuple[str | None, str]:
        reads.append(text)
        started.set()
        time.sleep(1.5)  # as a long document would take
        finished.set()
        return real_markdown(text)

    monkeypatch.setattr(ingest, "_markdown", slow_markdown)
    notes = IncomingFile(name="induction.md", data=b"# Staff induction\n\nEvery new member of staff meets the DSL.")
    handling = asyncio.create_task(upload(chat, HEAD, "add", notes))
    await eventually(started.is_set)  # the event loop is free while the file is read
    # Someone else is answered, and their entry written (no transaction holds the database).
    other = await chat.say(OTHER, "kb add resource Written meanwhile: the break duty rota.")
    assert "Added **Written meanwhile**" in other[0].text
    assert not finished.is_set()
    replies = await handling
    assert "Added **Staff induction**" in replies[0].text and len(reads) == 1
    async with chat.bot.db.session() as session:
        titles = set((await session.execute(select(KbEntry.title))).scalars())
    assert titles == {"Staff induction", "Written meanwhile"}
