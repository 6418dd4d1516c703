"""Keeping another worker's index in step cheaply: a quiet look costs one small query, and
new entries, late commits, edits and retirements are all found."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event

from bot.app import PeerBot
from knowledge import store
from knowledge.service import KnowledgeBase
from tests.conftest import make_config


def other_worker(bot: PeerBot) -> KnowledgeBase:
    """A second process's knowledge base, looking at the database before every search."""
    return KnowledgeBase(make_config({"knowledge": {"refresh_seconds": 0}}), bot.network_id, bot.clock)


async def add(bot: PeerBot, title: str, text: str, at: datetime) -> int:
    async with bot.db.session() as session:
        entry, _ = await store.save(
            session,
            bot.network_id,
            store.NewEntry(kind="answer", title=title, text=text),
            now=at,
            today=at.date(),
            settings=bot.config.settings.knowledge,
            actor="test",
        )
        return entry.id


async def titles(bot: PeerBot, kb: KnowledgeBase, query: str) -> list[str]:
    async with bot.db.session() as session:
        return [r.title for r in (await kb.search(session, query)).results]


@contextmanager
def statements(bot: PeerBot) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "kb_entries" in statement:
            seen.append(" ".join(statement.split()))

    event.listen(bot.db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(bot.db.engine.sync_engine, "before_cursor_execute", record)


async def test_a_quiet_look_is_one_small_query(bot: PeerBot) -> None:
    t0 = bot.clock.now()
    await add(bot, "Attendance policy", "Registers close at 9.05am.", t0)
    other = other_worker(bot)
    assert await titles(bot, other, "attendance") == ["Attendance policy"]
    assert await titles(bot, other, "registers") == ["Attendance policy"]  # reads the window once more
    with statements(bot) as seen:
        async with bot.db.session() as session:
            assert await other.refresh(session) == 0
    assert len(seen) == 1 and "count(" in seen[0].lower()


async def test_new_entries_late_commits_edits_and_retirements_are_found(bot: PeerBot) -> None:
    t0 = bot.clock.now()
    await add(bot, "Attendance policy", "Registers close at 9.05am.", t0)
    other = other_worker(bot)
    assert await titles(bot, other, "attendance") == ["Attendance policy"]

    await add(bot, "Phonics scheme", "We use a validated scheme.", t0 + timedelta(minutes=2))
    assert await titles(bot, other, "phonics") == ["Phonics scheme"]

    # committed after the entry above, but stamped before it (a slow transaction)
    late = await add(bot, "Minibus rota", "Drivers need a licence check.", t0 + timedelta(minutes=1))
    assert await titles(bot, other, "minibus") == ["Minibus rota"]

    async with bot.db.session() as session:
        entry = await store.get(session, bot.network_id, late)
        await store.edit(
            session, entry, text="Drivers need a D1 check.", now=t0 + timedelta(minutes=3), today=t0.date(), by=None
        )
    async with bot.db.session() as session:
        page = await other.search(session, "minibus D1")
    assert page.results[0].title == "Minibus rota" and "**D1**" in page.results[0].snippet

    async with bot.db.session() as session:
        entry = await store.get(session, bot.network_id, late)
        assert await store.retire(session, entry, now=t0 + timedelta(minutes=4), by=None)
    assert await titles(bot, other, "minibus") == []


async def test_a_late_edit_that_moves_nothing_is_found_by_the_regular_full_look(bot: PeerBot) -> None:
    t0 = bot.clock.now()
    first = await add(bot, "Minibus rota", "Drivers need a licence check.", t0)
    await add(bot, "Phonics scheme", "We use a validated scheme.", t0 + timedelta(minutes=5))
    other = other_worker(bot)
    assert await titles(bot, other, "minibus") == ["Minibus rota"]
    assert await titles(bot, other, "phonics") == ["Phonics scheme"]
    # An edit stamped before the newest change and leaving the window's size alone: the
    # quick look cannot see it; the full look (every FULL_LOOK_SECONDS) does.
    async with bot.db.session() as session:
        entry = await store.get(session, bot.network_id, first)
        await store.edit(
            session, entry, text="Drivers need a D1 check.", now=t0 + timedelta(minutes=1), today=t0.date(), by=None
        )
    assert await titles(bot, other, "D1") == []
    other.full_look_seconds = 0
    assert await titles(bot, other, "D1") == ["Minibus rota"]


async def test_an_entry_indexed_by_a_transaction_that_rolled_back_is_never_suggested(bot: PeerBot) -> None:
    t0 = bot.clock.now()
    policy = await add(bot, "Persistent absence policy", "Letters at 90%, meetings at 85%.", t0)
    kb = other_worker(bot)

    entry_id = await index_a_draft_then_roll_back(bot, kb, t0)
    async with bot.db.session() as session:
        found = await kb.suggest(session, "persistent absence policy letters", groups=[])
    assert [s.id for s in found] == [policy]
    assert entry_id not in kb.index


def text_reads(seen: list[str]) -> list[str]:
    return [s for s in seen if s.startswith("SELECT kb_entries.id, kb_entries.text FROM")]


async def test_snippets_come_from_the_index_without_reading_texts_back(bot: PeerBot) -> None:
    t0 = bot.clock.now()
    first = await add(bot, "Minibus rota", "Drivers need a licence check.", t0)
    kb = other_worker(bot)
    async with bot.db.session() as session:
        await kb.refresh(session)
    with statements(bot) as seen:
        async with bot.db.session() as session:
            [found] = await kb.suggest(session, "minibus licence", groups=[])
            page = await kb.search(session, "minibus licence")
    assert found.id == first and "**licence**" in page.results[0].snippet
    assert text_reads(seen) == []
    async with bot.db.session() as session:  # an edit committed elsewhere: the new text is shown
        entry = await store.get(session, bot.network_id, first)
        await store.edit(
            session, entry, text="Drivers need a D1 licence.", now=t0 + timedelta(minutes=1), today=t0.date(), by=None
        )
    async with bot.db.session() as session:
        page = await kb.search(session, "minibus licence")
    assert "D1" in page.results[0].snippet


async def test_an_entry_indexed_by_a_writing_transaction_is_read_back_until_one_that_wrote_nothing_sees_it(
    bot: PeerBot,
) -> None:
    t0 = bot.clock.now()
    kb = other_worker(bot)
    async with bot.db.session() as session:
        entry, _ = await store.save(
            session,
            bot.network_id,
            store.NewEntry(kind="answer", title="Phonics scheme", text="We use a validated scheme."),
            now=t0,
            today=t0.date(),
            settings=bot.config.settings.knowledge,
            actor="test",
        )
        with statements(bot) as seen:
            [found] = await kb.suggest(session, "phonics scheme", groups=[])  # indexed by this very transaction
        assert found.id == entry.id and len(text_reads(seen)) == 1
        assert entry.id in kb._provisional
    with statements(bot) as seen:  # committed: the next look, by a transaction that wrote nothing, sees it
        async with bot.db.session() as session:
            [found] = await kb.suggest(session, "phonics scheme", groups=[])
    assert found.id == entry.id and text_reads(seen) == []
    assert not kb._provisional


async def test_an_entry_a_rolled_back_transaction_added_to_a_loaded_index_is_never_suggested(bot: PeerBot) -> None:
    t0 = bot.clock.now()
    policy = await add(bot, "Persistent absence policy", "Letters at 90%, meetings at 85%.", t0)
    kb = other_worker(bot)
    async with bot.db.session() as session:
        await kb.refresh(session)  # loaded by a transaction that wrote nothing

    entry_id = await index_a_draft_then_roll_back(bot, kb, t0)
    async with bot.db.session() as session:
        found = await kb.suggest(session, "persistent absence policy letters", groups=[])
    assert [s.id for s in found] == [policy]
    assert entry_id not in kb.index


class _Undo(Exception):
    pass


async def index_a_draft_then_roll_back(bot: PeerBot, kb: KnowledgeBase, t0: datetime) -> int:
    """A transaction saves a draft of the absence policy, ``kb`` indexes it (its own
    entry), and then the transaction is rolled back. Returns the draft's id."""
    entry_id = 0
    with suppress(_Undo):  # raised inside the transaction: it is rolled back
        async with bot.db.session() as session:
            entry, _ = await store.save(
                session,
                bot.network_id,
                store.NewEntry(kind="answer", title="Persistent absence policy", text="Letters at 90%: a draft."),
                now=t0 + timedelta(minutes=1),
                today=t0.date(),
                settings=bot.config.settings.knowledge,
                actor="test",
            )
            entry_id = entry.id
            await kb.refresh(session)
            assert entry_id in kb.index
            raise _Undo
    return entry_id
