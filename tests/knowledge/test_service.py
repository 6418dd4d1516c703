"""The knowledge base over the database: same results on SQLite and PostgreSQL, other
workers' entries found within seconds, history kept, suggestions only when close."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from bot.app import PeerBot
from bot.events import MessageRef
from knowledge import store
from knowledge.models import KbEntry, KbEntryHistory
from knowledge.search import IndexedEntry, SearchIndex
from knowledge.service import KnowledgeBase
from knowledge.vocabulary import default_vocabulary

ENTRIES = [
    ("policy", "Attendance policy", "Parents telephone the office by 9.15am. Persistent absence is below 90%."),
    ("answer", "Emotionally based school avoidance", "A graded return plan with a key adult and the EP."),
    ("resource", "Energy contract framework", "Four schools bought gas and electricity together."),
]


async def add_all(bot: PeerBot) -> list[int]:
    kb = bot.service(KnowledgeBase)
    out = []
    async with bot.db.session() as session:
        for kind, title, text in ENTRIES:
            entry, outcome = await store.save(
                session,
                bot.network_id,
                store.NewEntry(kind=kind, title=title, text=text, ref=f"r-{title[:8]}"),
                now=bot.clock.now(),
                today=kb.today(),
                settings=bot.config.settings.knowledge,
                actor="test",
            )
            assert outcome == "added"
            out.append(entry.id)
    kb.invalidate()
    return out


async def test_scores_match_an_index_built_without_any_database(bot: PeerBot) -> None:
    ids = await add_all(bot)
    kb = bot.service(KnowledgeBase)
    async with bot.db.session() as session:
        page = await kb.search(session, "attendence EBSA gas")
    reference = SearchIndex(default_vocabulary())
    reference.add_many(
        IndexedEntry(id=i, kind=k, title=t, text=x, changed_on=kb.today(), review_on=None)
        for i, (k, t, x) in zip(ids, ENTRIES, strict=True)
    )
    expected = reference.search("attendence EBSA gas", today=kb.today()).hits
    assert [(r.id, r.score) for r in page.results] == [(h.id, h.score) for h in expected]
    assert page.results[0].snippet


async def test_another_worker_finds_a_new_entry_after_its_refresh_interval(bot: PeerBot) -> None:
    other = KnowledgeBase(bot.config, bot.network_id, bot.clock)
    async with bot.db.session() as session:
        assert (await other.search(session, "attendance")).results == []
    await add_all(bot)
    async with bot.db.session() as session:
        await other.refresh(session, force=True)  # what happens once refresh_seconds have passed
        page = await other.search(session, "attendance")
    assert page.results[0].title == "Attendance policy"


async def test_edits_keep_history_and_retired_entries_leave_search(bot: PeerBot) -> None:
    ids = await add_all(bot)
    kb = bot.service(KnowledgeBase)
    async with bot.db.session() as session:
        entry = await store.get(session, bot.network_id, ids[0])
        assert await store.edit(
            session, entry, text="Registers close at 9.05am.", now=bot.clock.now(), today=kb.today(), by=None, actor="t"
        )
        _, outcome = await store.save(
            session,
            bot.network_id,
            store.NewEntry(kind="answer", title=ENTRIES[1][1], text=ENTRIES[1][2], ref=f"r-{ENTRIES[1][1][:8]}"),
            now=bot.clock.now(),
            today=kb.today(),
            settings=bot.config.settings.knowledge,
        )
        assert outcome == "unchanged"
        await store.retire(session, await store.get(session, bot.network_id, ids[2]), now=bot.clock.now(), by=None)
    kb.invalidate()
    async with bot.db.session() as session:
        history = list((await session.execute(select(KbEntryHistory).order_by(KbEntryHistory.id))).scalars())
        assert [h.action for h in history if h.entry_id == ids[0]] == ["created", "edited"]
        edited = next(h for h in history if h.entry_id == ids[0] and h.action == "edited")
        assert edited.text is not None and edited.text.startswith("Parents telephone") and edited.revision == 1
        assert [r.id for r in (await kb.search(session, "registers close")).results] == [ids[0]]
        assert (await kb.search(session, "energy contract")).results == []
        row = await session.get(KbEntry, ids[0])
        assert row is not None and row.revision == 2


async def test_suggest_only_offers_close_entries_visible_to_the_group(bot: PeerBot) -> None:
    await add_all(bot)
    kb = bot.service(KnowledgeBase)
    assert bot.knowledge is kb
    async with bot.db.session() as session:
        from bot.models.network import School

        school = School(network_id=bot.network_id, name="Oak", name_key="oak", phase="primary")
        session.add(school)
        await session.flush()
        from bot.models.network import Person

        person = Person(network_id=bot.network_id, school_id=school.id, name="Jo", email="jo@oak.sch.uk")
        session.add(person)
        await session.flush()
        new_id = await kb.add_answer(
            session,
            question="How do we report a DSL concern about a lanyard?",
            answer="Use CPOMS the same day.",
            school_id=school.id,
            group="dsl",
            thread=MessageRef(platform="console", channel_id="dsl", message_id="m1"),
            added_by=person.id,
        )
        row = await session.get(KbEntry, new_id)
        assert row is not None and row.thread == {"platform": "console", "channel_id": "dsl", "message_id": "m1"}
        assert row.tags == ["general practice"] and row.owner_id == person.id
        close = await kb.suggest(session, "any advice on EBSA / school refusal?", groups=["heads"])
        assert [s.title for s in close] == ["Emotionally based school avoidance"]
        assert await kb.suggest(session, "minibus licence rules", groups=["heads"]) == []
        assert await kb.suggest(session, "lanyard concern CPOMS", groups=["heads"]) == []
        assert [s.id for s in await kb.suggest(session, "lanyard concern CPOMS", groups=["dsl"])] == [new_id]


async def test_due_and_stats(bot: PeerBot) -> None:
    ids = await add_all(bot)
    kb = bot.service(KnowledgeBase)
    async with bot.db.session() as session:
        entry = await store.get(session, bot.network_id, ids[0])
        entry.review_on = date(2026, 11, 1)
        await session.flush()
        due = await store.due(session, bot.network_id, until=date(2026, 12, 1))
        assert [e.id for e in due] == [ids[0]]
        s = await store.stats(
            session, bot.network_id, today=kb.today(), soon=bot.config.settings.nudges.kb_review_before
        )
        assert (s.active, s.overdue, s.current, s.current_share) == (3, 1, 2, 0.667)
        await store.confirm(session, entry, now=bot.clock.now(), today=kb.today(), by=None)
        assert entry.review_on == date(2027, 11, 23) and entry.confirmed_at == bot.clock.now()


async def test_a_handler_never_waits_for_the_index_builder_it_is_blocking(demo_bot: PeerBot) -> None:
    """The start-up builder reads in transactions of its own; a handler inside its
    transaction that needs the index builds it itself rather than wait for the builder,
    which (on SQLite) is waiting for the handler's transaction: that was a deadlock until
    the 30-second busy timeout."""
    import asyncio

    from knowledge.handlers import build_index
    from knowledge.service import KnowledgeBase

    kb = KnowledgeBase(demo_bot.config, demo_bot.network_id, demo_bot.clock)
    demo_bot.knowledge = kb
    demo_bot.provide(kb)
    async with demo_bot.db.session() as session:  # a handler's transaction, already writing
        await session.execute(select(KbEntry.id).limit(1))
        builder = asyncio.create_task(build_index(demo_bot))
        await asyncio.sleep(0.05)  # the builder is now waiting for the database
        found = await asyncio.wait_for(kb.suggest(session, "phonics", groups=["heads"]), timeout=10)
    assert found == [] and kb.loaded
    await asyncio.wait_for(builder, timeout=10)


async def test_reminders_for_a_groups_entry_without_an_owner_stay_in_the_group(demo_bot: PeerBot) -> None:
    """A DSL entry with no owner reminds DSLs (of its school, else all), never a convenor outside the group."""
    from bot.network import store as network_store

    bot = demo_bot
    kb = bot.service(KnowledgeBase)
    async with bot.db.session() as session:
        oakfield = await store.school_by_name(session, bot.network_id, "Oakfield")
        assert oakfield is not None
        made = {}
        for label, group, school_id in (("open", None, oakfield.id), ("oak", "dsl", oakfield.id), ("any", "dsl", None)):
            entry, _ = await store.save(
                session,
                bot.network_id,
                store.NewEntry(kind="answer", title=f"Lanyards {label}", text="Log it the same day.", group=group,
                               school_id=school_id),
                now=bot.clock.now(),
                today=kb.today(),
                settings=bot.config.settings.knowledge,
                actor="test",
            )  # fmt: skip
            entry.review_on = date(2026, 11, 1)
            made[label] = entry.id
        await session.flush()
        due = await kb.reviews_due(session, before=date(2026, 12, 1))
        people = {p.id: p.email for p in await network_store.people(session, bot.network_id)}
        dsls = {p.email for p in await network_store.people_with_roles(session, bot.network_id, ["dsl"])}
        sent: dict[int, set[str]] = {}
        for item in due:
            sent.setdefault(int(item.buttons[0][2]), set()).add(people[item.owner_person_id])
    assert sent[made["open"]] == {"p.shah@oakfield.sch.uk"}  # the convenor
    assert sent[made["oak"]] == {"t.birch@oakfield.sch.uk"}  # Oakfield's DSL, not its (non-DSL) convenor
    assert sent[made["any"]] == dsls and "p.shah@oakfield.sch.uk" not in dsls
