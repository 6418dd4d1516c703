"""The knowledge base in chat: search, add (typed or a shared file), read, and keep current.

- ``kb <words>`` — the best few entries, each with a button to open it, and "More".
- ``kb add [policy|answer|resource] [title]`` with files attached, or ``kb add policy
  Title: text`` — add entries, owned by whoever adds them, visible to the channel's group.
  Each file is judged on its own. In the DSL channel an entry waits (pending) for its
  contributor's word that it names no child, family or member of staff; files sent in a
  DM with no command are offered with an "Add to the knowledge base" button.
- ``kb show N``, ``kb update N`` (a file or ``: new text``), ``kb mine``.
- Review reminders: an entry nearing its review date sends its owner one message with
  "Still right" / "Update it" / "Retire it" buttons, queued in the outbox under a key
  naming the entry and the date (so it goes once), at a time the nudge rules allow.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from bot import pupil_data
from bot.dispatch import Context, background, command, home_section, on_button, on_message, on_startup
from bot.errors import BadInput, NotFound
from bot.events import CommandInvoked, IncomingFile, MessagePosted
from bot.freshness import keep_fresh
from bot.meetings.text import group_label
from bot.models.network import Person
from bot.numbers import whole_number
from bot.replies import Button
from bot.roles import in_group
from knowledge import store
from knowledge.ingest import FILES_AT_ONCE, UnreadableFile, extract_read
from knowledge.models import KINDS, KbEntry, KbEntryHistory
from knowledge.service import KnowledgeBase, Result

if TYPE_CHECKING:
    from bot.app import PeerBot

log = logging.getLogger(__name__)

SHOWN = 5  # results in one chat answer
MORE = 5  # results behind the "More" button
SHOW_CHARS = 2800


def kb_of(bot: PeerBot) -> KnowledgeBase:
    return bot.service(KnowledgeBase)


def groups_of(ctx: Context, person: Person) -> list[str]:
    """The role groups ``person`` belongs to: what they may see."""
    return [name for name, g in ctx.config.enabled_groups().items() if in_group(person.roles, g.roles)]


def uk_date(d: date) -> str:
    return f"{d.day} {d:%B %Y}"


# -- start-up and background work -----------------------------------------------------------


@on_startup()
async def install(bot: PeerBot) -> None:
    """Put the knowledge base on the bot (routing asks it for suggestions). The index is
    built by the ``kb-index`` task when the bot runs, or on first use."""
    kb = KnowledgeBase(bot.config, bot.network_id, bot.clock)
    bot.provide(kb)
    bot.knowledge = kb


@background("kb-index")
async def build_index(bot: PeerBot) -> None:
    """Build the index as soon as the bot runs, a batch per short transaction."""
    kb = kb_of(bot)
    if kb.loaded:
        return

    async def fetch(last_id: int) -> list[Any]:
        async with bot.db.session() as session:
            return await kb._batch(session, last_id)

    count = await kb.load_from(fetch)
    log.info("knowledge index built: %d entries", count)


@background("kb-freshness")
async def keep_index_fresh(bot: PeerBot, stop: asyncio.Event) -> None:
    """While the knowledge base is being searched, look for other workers' entries ahead of
    the searches, so that none of them waits for the look (see :mod:`bot.freshness`)."""
    kb = kb_of(bot)
    await keep_fresh(bot.db, stop, every=kb.settings.refresh_seconds, last_used=lambda: kb.used, look=kb.look_ahead)


def _manage_buttons(entry_id: int) -> tuple[Button, ...]:
    return (
        Button(label="Still right", action="kb.confirm", value=str(entry_id), style="primary"),
        Button(label="Update it", action="kb.update", value=str(entry_id)),
        Button(label="Retire it", action="kb.retire", value=str(entry_id), style="danger"),
    )


# -- chat ------------------------------------------------------------------------------------


@command("kb", aliases=("knowledge",), usage="kb <words> | kb add | kb show N | kb mine")
async def kb_command(ctx: Context, person: Person, args: str) -> None:
    """Search the network's knowledge base: answers, policies and resources.

    - **kb attendance policy** — search (typos and acronyms are fine)
    - **kb add** with a file attached (Word, PDF, Markdown or text) — add it; start with
      **policy**, **answer** or **resource** to say what it is, and add a title if you like
    - **kb add policy Title: the text** — add one typed in
    - or just send me a file in a direct message: I'll offer to add it
    - **kb show 12** — read entry 12; **kb update 12** with a file, or **kb update 12: new text**
    - **kb mine** — the entries you look after and when each is due for review
    """
    word, _, rest = args.strip().partition(" ")
    sub = word.lower()
    if sub == "add":
        await _add(ctx, person, rest)
    elif sub in ("show", "open", "read") and (entry_id := whole_number(rest.strip())) is not None:
        await _show(ctx, person, entry_id)
    elif sub == "update" and rest.strip()[:1].isdigit():
        await _update(ctx, person, rest)
    elif sub in ("mine", "due") and not rest.strip():
        await _mine(ctx, person)
    elif not args.strip():
        ctx.private("What are you looking for? For example **kb attendance policy** or **kb EHCP annual review**.")
    else:
        await _search(ctx, person, args)


async def _search(ctx: Context, person: Person, query: str) -> None:
    kb = kb_of(ctx.bot)
    page = await kb.search(ctx.session, query, groups=groups_of(ctx, person), limit=SHOWN + MORE)
    if not page.results:
        ctx.private(
            "I found nothing in the knowledge base for that. Try other words, or ask the network: "
            "peers who are strong at it will see your question."
        )
        return
    shown = page.results[:SHOWN]
    lines = [f"**From the knowledge base** ({_count(page.total)}):"]
    lines.extend(_result_line(i, r) for i, r in enumerate(shown, 1))
    buttons = [Button(label=f"Open {i}", action="kb.open", value=str(r.id)) for i, r in enumerate(shown, 1)]
    rest = page.results[SHOWN:]
    if rest:
        buttons.append(Button(label="More", action="kb.more", value=",".join(str(r.id) for r in rest)))
    ctx.private("\n".join(lines), buttons=buttons)


def _count(total: int) -> str:
    return "1 match" if total == 1 else f"{total:,} matches"


def _result_line(n: int, r: Result) -> str:
    where = f", {r.school}" if r.school else ""
    expired = f" — _review overdue since {uk_date(r.review_on)}_" if r.expired and r.review_on else ""
    snippet = f"\n   {r.snippet}" if r.snippet else ""
    return f"{n}. **{r.title}** ({r.kind}{where}){expired}{snippet}"


def _in_group(ctx: Context, person: Person, entry: KbEntry) -> bool:
    return entry.group is None or entry.group in groups_of(ctx, person)


def _visible(ctx: Context, person: Person, entry: KbEntry) -> bool:
    return entry.status == "active" and _in_group(ctx, person, entry)


async def _may_manage(ctx: Context, person: Person, entry: KbEntry) -> bool:
    """Who may confirm, update or retire an entry: someone who can see it and is its owner,
    a head at its school or a convenor — or, for a group's entry whose owner has gone, any
    member of the group (they are the ones reminded to review it)."""
    if not _in_group(ctx, person, entry):
        return False
    if store.may_manage(entry, person):
        return True
    if entry.group is None:
        return False
    owner = await ctx.session.get(Person, entry.owner_id) if entry.owner_id else None
    return owner is None or not owner.active


async def _show(ctx: Context, person: Person, entry_id: int) -> None:
    entry = await store.get(ctx.session, ctx.network_id, entry_id)
    if not _visible(ctx, person, entry):
        raise NotFound(f"there is no knowledge-base entry {entry_id} that you can see")
    school = await _school_name(ctx.session, entry)
    facts = [entry.kind]
    if school:
        facts.append(school)
    if entry.version:
        facts.append(f"version {entry.version}")
    if entry.adopted_on:
        facts.append(f"adopted {uk_date(entry.adopted_on)}")
    today = kb_of(ctx.bot).today()
    if entry.review_on:
        overdue = entry.review_on < today
        facts.append(f"{'review overdue since' if overdue else 'next review'} {uk_date(entry.review_on)}")
    text = entry.text
    if len(text) > SHOW_CHARS:
        text = text[:SHOW_CHARS].rstrip() + "\n… (shortened here: the full text is in the original document)"
    buttons: Sequence[Button] = _manage_buttons(entry.id) if await _may_manage(ctx, person, entry) else ()
    ctx.private(f"**{entry.title}** (#{entry.id}; {', '.join(facts)})\n{text}", buttons=buttons)


async def _school_name(session: AsyncSession, entry: KbEntry) -> str | None:
    if entry.school_id is None:
        return entry.school_name
    from bot.models.network import School

    school = await session.get(School, entry.school_id)
    return school.name if school else None


def _files(ctx: Context) -> tuple[IncomingFile, ...]:
    event = ctx.event
    if isinstance(event, (MessagePosted, CommandInvoked)):
        return event.files
    return ()


CONFIRM_GROUPS = ("dsl",)  # entries for these groups wait for "it names no one"
Confirm = Literal["names-no-one", "offer"]


async def _add(ctx: Context, person: Person, rest: str) -> None:
    kind = "resource"
    word, _, after = rest.strip().partition(" ")
    explicit = word.lower() in KINDS
    if explicit:
        kind, rest = word.lower(), after
    files = _files(ctx)
    confirm: Confirm | None = "names-no-one" if ctx.group in CONFIRM_GROUPS else None
    if not files:
        title, sep, text = rest.partition(":")
        if not sep:
            title, sep, text = rest.partition("\n")
        if not sep or not title.strip() or not text.strip():
            if isinstance(ctx.event, CommandInvoked):  # a slash command: nothing can be attached to it here
                raise BadInput(
                    "I can't see a file with that command. To type an entry in, put a colon after its title: "
                    "**/peerbot kb add policy Title: the text**. To add a file, send it to me in a direct message"
                )
            raise BadInput("to add an entry, attach a file to **kb add**, or type **kb add policy Title: the text**")
        new = store.NewEntry(
            kind=kind, title=title, text=text, school_id=person.school_id, group=ctx.group, source="chat"
        )
        await _keep(ctx, person, [(None, new)], [], confirm=confirm)
        return
    drafts, problems = _read_files(ctx, files, kind=kind if explicit else None, title=rest.strip())
    await _keep(ctx, person, drafts, problems, confirm=confirm)


def _files_without_a_command(event: MessagePosted, group: str | None) -> bool:
    return bool(event.files)


@on_message(where="direct", when=_files_without_a_command)
async def offered_files(ctx: Context, person: Person) -> None:
    """Files sent to the bot with no command: offered to the knowledge base with a button
    (nothing is shared with anyone until it is pressed)."""
    drafts, problems = _read_files(ctx, _files(ctx), kind=None, title="")
    await _keep(ctx, person, drafts, problems, confirm="offer")


def _read_files(
    ctx: Context, files: Sequence[IncomingFile], *, kind: str | None, title: str
) -> tuple[list[tuple[str | None, store.NewEntry]], list[str]]:
    """Each file read on its own: the entries it would make, and what was wrong with the rest."""
    settings = ctx.config.settings.knowledge
    today = kb_of(ctx.bot).today()
    drafts: list[tuple[str | None, store.NewEntry]] = []
    problems: list[str] = []
    for n, f in enumerate(files, 1):
        # A file's own name may hold a pupil's: then it is "file 2", never quoted back.
        spaced = re.sub(r"[_.]+", " ", f.name)  # "jayden_smith_y4.pdf" reads as words
        named = any(pupil_data.check(name, today=today).found for name in (f.name, spaced))
        label = f"file {n}" if named else f.name
        if n > FILES_AT_ONCE:
            problems.append(f"{label}: I read up to {FILES_AT_ONCE} files at a time; send it again on its own")
            continue
        try:
            doc = extract_read(f.name, f.data, max_bytes=settings.max_file_bytes)
        except UnreadableFile as exc:
            problems.append(f"{label}: {exc.reason}")
            continue
        file_title = title if title and len(files) == 1 else doc.best_title
        file_kind = kind or ("policy" if doc.review_on or "policy" in file_title.lower() else "resource")
        new = store.NewEntry(
            kind=file_kind,
            title=file_title,
            text=doc.text,
            version=doc.version,
            adopted_on=doc.adopted_on,
            review_on=doc.review_on,
            school_id=ctx.person.school_id if ctx.person else None,
            group=ctx.group,
            source=f.name[:300] if label == f.name else "chat",
        )
        drafts.append((label, new))
    return drafts, problems


async def _keep(
    ctx: Context,
    person: Person,
    drafts: list[tuple[str | None, store.NewEntry]],
    problems: list[str],
    *,
    confirm: Confirm | None,
) -> None:
    """Save each draft on its own (a bad one is named with the reason, the rest go in), and
    say so — or, when ``confirm``, keep them pending and ask with a button first."""
    kb = kb_of(ctx.bot)
    settings = ctx.config.settings.knowledge
    kept: list[KbEntry] = []
    for label, new in drafts:
        try:
            entry, _ = await store.save(
                ctx.session,
                ctx.network_id,
                new,
                now=ctx.now,
                today=kb.today(),
                settings=settings,
                owner=person,
                added_by=person,
                pending=confirm is not None,
            )
        except BadInput as exc:
            if label is None:
                raise  # one typed entry: the reason is the whole answer
            reason = (
                f"it {exc.detail}; take those details out and send it again"
                if isinstance(exc, store.PupilDataFound)
                else str(exc)
            )
            problems.append(f"{label}: {reason}")
            continue
        kept.append(entry)
    if not kept:
        raise BadInput("I couldn't add " + "; ".join(problems))
    not_added = [f"Not added — {p}." for p in problems]
    if confirm is None:
        ctx.after_commit(kb.invalidate)
        ctx.private(
            "\n".join([*(_added_line(e) for e in kept), *not_added]),
            buttons=[Button(label="Open", action="kb.open", value=str(e.id)) for e in kept[:5]],
        )
        return
    ids = ",".join(str(e.id) for e in kept)
    listed = [f"- **{e.title}** ({e.kind})" for e in kept]
    one = len(kept) == 1
    if confirm == "names-no-one":
        group = group_label(ctx.group or "")
        ask = (
            f"Before I add {'this' if one else 'these'} for the {group} group: the knowledge base keeps general "
            "practice only, never case details. Add "
            f"{'it' if one else 'them'} only if {'it names' if one else 'they name'} no child, family or member "
            "of staff."
        )
        yes, no = (
            ("It names no one — add it", "Don't add it") if one else ("They name no one — add them", "Don't add them")
        )
    else:
        ask = (
            f"Would you like me to add {'this' if one else 'these'} to the knowledge base? Everyone in the "
            f"network could find {'it' if one else 'them'}, and you'd be reminded to review "
            f"{'it' if one else 'them'}."
        )
        yes, no = "Add to the knowledge base", "No thanks"
    ctx.private(
        "\n".join([ask, *listed, *not_added]),
        buttons=[
            Button(label=yes, action="kb.publish", value=ids, style="primary"),
            Button(label=no, action="kb.discard", value=ids),
        ],
    )


def _added_line(entry: KbEntry) -> str:
    review = f" I'll remind you to review it by {uk_date(entry.review_on)}." if entry.review_on else ""
    who = f" Only the {group_label(entry.group)} group can see it." if entry.group else ""
    return f"Added **{entry.title}** ({entry.kind}, #{entry.id}).{who}{review}"


async def _update(ctx: Context, person: Person, rest: str) -> None:
    number, _, text = rest.strip().partition(":")
    number = number.strip().split()[0] if number.strip() else ""
    entry_id = whole_number(number)
    if entry_id is None:
        raise BadInput("which entry? For example **kb update 12: the new text**")
    entry = await store.get(ctx.session, ctx.network_id, entry_id)
    if not _visible(ctx, person, entry) or not await _may_manage(ctx, person, entry):
        raise BadInput(f"only the owner of entry {entry.id} (or the convenor) can update it")
    files = _files(ctx)
    if files:
        doc = extract_read(files[0].name, files[0].data, max_bytes=ctx.config.settings.knowledge.max_file_bytes)
        new_text = doc.text
    elif text.strip():
        new_text = text
    else:
        raise BadInput(
            f"send the new version: **kb update {entry.id}** with the file attached, "
            f"or **kb update {entry.id}: new text**"
        )
    kb = kb_of(ctx.bot)
    if entry.group in CONFIRM_GROUPS:  # as for adding one: the new version waits for their word
        proposed = await store.propose(ctx.session, entry, text=new_text, now=ctx.now, today=kb.today(), by=person)
        if proposed is None:
            ctx.private(_updated(entry, False))
            return
        ctx.private(
            f"Before I update **{entry.title}** for the {group_label(entry.group or '')} group: the knowledge base "
            "keeps general practice only, never case details. Update it only if the new version names no child, "
            "family or member of staff.",
            buttons=[
                Button(label="It names no one — update it", action="kb.apply", value=str(proposed.id), style="primary"),
                Button(label="Don't update it", action="kb.drop", value=str(proposed.id)),
            ],
        )
        return
    changed = await store.edit(ctx.session, entry, text=new_text, now=ctx.now, today=kb.today(), by=person)
    ctx.after_commit(kb.invalidate)
    ctx.private(_updated(entry, changed))


def _updated(entry: KbEntry, changed: bool) -> str:
    if not changed:
        return f"That is what **{entry.title}** already says: nothing changed."
    if entry.review_on:
        review = uk_date(entry.review_on)
        return f"Updated **{entry.title}** (#{entry.id}); the old version is kept. Next review {review}."
    return f"Updated **{entry.title}**."


async def _mine(ctx: Context, person: Person) -> None:
    entries = await _owned(ctx.session, ctx.network_id, person)
    if not entries:
        ctx.private("You don't look after any knowledge-base entries yet. Add one with **kb add**.")
        return
    today = kb_of(ctx.bot).today()
    lines = ["**Entries you look after**, soonest review first:"]
    for e in entries[:15]:
        due = ""
        if e.review_on:
            due = (
                f" — overdue since {uk_date(e.review_on)}"
                if e.review_on < today
                else f" — review by {uk_date(e.review_on)}"
            )
        lines.append(f"- #{e.id} **{e.title}** ({e.kind}){due}")
    if len(entries) > 15:
        lines.append(f"…and {len(entries) - 15} more.")
    ctx.private("\n".join(lines))


async def _owned(session: AsyncSession, network_id: int, person: Person) -> list[KbEntry]:
    from sqlalchemy import select

    q = (
        select(KbEntry)
        .where(KbEntry.network_id == network_id, KbEntry.owner_id == person.id, KbEntry.status == "active")
        .order_by(KbEntry.review_on, KbEntry.id)
    )
    return list((await session.execute(q)).scalars())


# -- buttons ---------------------------------------------------------------------------------


def _entry_id(value: str) -> int:
    entry_id = whole_number(value)
    if entry_id is None:
        raise BadInput("that button is missing its entry")
    return entry_id


@on_button("kb.open")
async def open_entry(ctx: Context, person: Person) -> None:
    await _show(ctx, person, _entry_id(ctx.event.value))  # type: ignore[union-attr]


@on_button("kb.more")
async def more_results(ctx: Context, person: Person) -> None:
    value: str = ctx.event.value  # type: ignore[union-attr]
    ids = _numbers(value)[:MORE]
    lines: list[str] = ["**More from the knowledge base:**"]
    buttons: list[Button] = []
    for entry_id in ids:
        try:
            entry = await store.get(ctx.session, ctx.network_id, entry_id)
        except NotFound:
            continue
        if not _visible(ctx, person, entry):
            continue
        n = len(buttons) + 1
        first = " ".join(entry.text.split())[:140]
        lines.append(f"{n}. **{entry.title}** ({entry.kind})\n   {first}{'…' if len(entry.text) > 140 else ''}")
        buttons.append(Button(label=f"Open {n}", action="kb.open", value=str(entry.id)))
    if not buttons:
        ctx.private("Those entries are no longer in the knowledge base.")
        return
    ctx.private("\n".join(lines), buttons=buttons)


async def _managed(ctx: Context, person: Person) -> KbEntry:
    entry = await store.get(ctx.session, ctx.network_id, _entry_id(ctx.event.value))  # type: ignore[union-attr]
    if not _in_group(ctx, person, entry):  # a forwarded button: say nothing of an entry they can't see
        raise NotFound(f"there is no knowledge-base entry {entry.id} that you can see")
    if not await _may_manage(ctx, person, entry):
        raise BadInput(f"only the owner of **{entry.title}** (or the convenor) can do that")
    return entry


def _numbers(value: str) -> list[int]:
    """The entry ids of a button's value: numbers separated by commas (anything else is left out)."""
    return [n for v in value.split(",") if (n := whole_number(v)) is not None]


def _entry_ids(value: str) -> list[int]:
    ids = _numbers(value)[:FILES_AT_ONCE]
    if not ids:
        raise BadInput("that button is missing its entries")
    return ids


async def _shared_by(ctx: Context, person: Person) -> list[KbEntry]:
    """The entries a kb.publish / kb.discard button names, if ``person`` shared them."""
    found = [await ctx.session.get(KbEntry, i) for i in _entry_ids(ctx.event.value)]  # type: ignore[union-attr]
    entries = [e for e in found if e is not None and e.network_id == ctx.network_id]
    if any(e.added_by_id != person.id for e in entries):
        raise BadInput("only the person who shared these can decide whether they are added")
    return entries


@on_button("kb.publish")
async def publish_entries(ctx: Context, person: Person) -> None:
    entries = await _shared_by(ctx, person)
    published = [e for e in entries if await store.publish(ctx.session, e, now=ctx.now, by=person)]
    if not published:
        live = [e for e in entries if e.status == "active"]
        ctx.private(
            "Already done: " + ", ".join(f"**{e.title}**" for e in live) + " is in the knowledge base."
            if live
            else f"Nothing to add: it was not added, or waited more than {store.PENDING_FOR.days} days. "
            "Send it again to add it."
        )
        return
    ctx.after_commit(kb_of(ctx.bot).invalidate)
    ctx.private(
        "\n".join(_added_line(e) for e in published),
        buttons=[Button(label="Open", action="kb.open", value=str(e.id)) for e in published[:5]],
    )


@on_button("kb.discard")
async def discard_entries(ctx: Context, person: Person) -> None:
    entries = await _shared_by(ctx, person)
    if await store.discard(ctx.session, entries):
        ctx.private("Not added: I haven't kept any of it.")
    elif any(e.status == "active" for e in entries):
        ctx.private("That is already in the knowledge base; to take it out, open it and press **Retire it**.")
    else:
        ctx.private("Nothing to do: it was not added.")


async def _proposed(ctx: Context, person: Person) -> KbEntryHistory | None:
    """The new version a kb.apply / kb.drop button names, if ``person`` proposed it and it waits."""
    return await store.proposal(ctx.session, _entry_id(ctx.event.value), by=person)  # type: ignore[union-attr]


@on_button("kb.apply")
async def apply_update(ctx: Context, person: Person) -> None:
    proposed = await _proposed(ctx, person)
    if proposed is None:
        ctx.private(
            f"Nothing to update: that version was not kept, or waited more than {store.PENDING_FOR.days} days. "
            "Send it again to update the entry."
        )
        return
    entry = await store.get(ctx.session, ctx.network_id, proposed.entry_id)
    if not _visible(ctx, person, entry) or not await _may_manage(ctx, person, entry):
        raise BadInput(f"only the owner of entry {entry.id} (or the convenor) can update it")
    kb = kb_of(ctx.bot)
    outcome = await store.apply_proposal(ctx.session, entry, proposed, now=ctx.now, today=kb.today(), by=person)
    if outcome == "retired":
        ctx.private(f"**{entry.title}** has been retired since you sent that, so I haven't updated it.")
    elif outcome == "changed since":
        ctx.private(f"**{entry.title}** has changed since you sent that: send your new version again.")
    else:
        ctx.after_commit(kb.invalidate)
        ctx.private(_updated(entry, outcome == "updated"))


@on_button("kb.drop")
async def drop_update(ctx: Context, person: Person) -> None:
    proposed = await _proposed(ctx, person)
    if proposed is None or not await store.drop_proposals(ctx.session, [proposed.id]):
        ctx.private("Nothing to do: that version was not kept.")
        return
    ctx.private("Not updated: I haven't kept the new version.")


@on_button("kb.confirm")
async def confirm_entry(ctx: Context, person: Person) -> None:
    entry = await _managed(ctx, person)
    kb = kb_of(ctx.bot)
    await store.confirm(ctx.session, entry, now=ctx.now, today=kb.today(), by=person)
    ctx.after_commit(kb.invalidate)
    assert entry.review_on is not None
    ctx.private(f"Thanks — **{entry.title}** is confirmed. I'll ask again by {uk_date(entry.review_on)}.")


@on_button("kb.retire")
async def retire_entry(ctx: Context, person: Person) -> None:
    entry = await _managed(ctx, person)
    kb = kb_of(ctx.bot)
    if await store.retire(ctx.session, entry, now=ctx.now, by=person):
        ctx.after_commit(kb.invalidate)
        ctx.private(f"Retired **{entry.title}**: it no longer appears in search. Its history is kept.")
    else:
        ctx.private(f"**{entry.title}** was already retired.")


@on_button("kb.update")
async def update_entry(ctx: Context, person: Person) -> None:
    entry = await _managed(ctx, person)
    ctx.private(
        f"Send me the new version of **{entry.title}**: type **kb update {entry.id}** with the file attached, "
        f"or **kb update {entry.id}: the new text**. The old version is kept."
    )


# -- home ------------------------------------------------------------------------------------


@home_section(order=60)
async def kb_home(bot: PeerBot, session: AsyncSession, person: Person, now: datetime) -> object:
    """Entries you look after that are due for review soon (or overdue)."""
    from bot.home import HomeSection

    today = now.astimezone(bot.config.zone).date()
    soon = today + bot.config.settings.nudges.kb_review_before
    due = [e for e in await _owned(session, bot.network_id, person) if e.review_on and e.review_on <= soon]
    if not due:
        return None
    lines = tuple(
        f"{e.title} — {'overdue since' if e.review_on and e.review_on < today else 'review by'} "
        f"{uk_date(e.review_on) if e.review_on else ''}"
        for e in due[:10]
    )
    buttons = tuple(Button(label=f"Open #{e.id}", action="kb.open", value=str(e.id)) for e in due[:5])
    return HomeSection(title="Knowledge base: due for review", lines=lines, buttons=buttons)
