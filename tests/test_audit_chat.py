"""The audit in chat: proposals by a school's head, confirmed by the convenor."""

from __future__ import annotations

from sqlalchemy import select

from bot.app import PeerBot
from bot.models import AdminLog, Audit
from bot.network import store
from tests.support.chat import Chat

CONVENOR = "p.shah@oakfield.sch.uk"  # head of Oakfield and the network's convenor
HEAD = "d.okafor@fairsmead.sch.uk"  # head of Fairsmead
SENCO = "s.wright@fairsmead.sch.uk"


async def current(bot: PeerBot, school: str) -> Audit:
    async with bot.db.session() as session:
        s = await store.find_school(session, bot.network_id, school)
        audit = await store.current_audit(session, s.id)
        assert audit is not None
        return audit


async def test_audit_shows_numbered_items_and_who_carries_them(chat: Chat) -> None:
    [reply] = await chat.say(HEAD, "audit")
    lines = reply.text.splitlines()
    assert (
        lines[0] == "**Fairsmead Primary Academy** — Partnership Audit "
        "(audited by Jane Porter (LA school improvement) on 18 June 2026)"
    )
    assert "1. SLE for mathematics (upper key stage 2) — Fiona Lamb" in lines
    assert "2. Emotionally based school avoidance support" not in lines  # needs are numbered separately
    assert "1. Emotionally based school avoidance support — Daniel Okafor" in lines


async def test_a_head_proposes_and_the_convenor_confirms(chat: Chat, demo_bot: PeerBot) -> None:
    [reply] = await chat.say(HEAD, "audit add strength Thrive approach to SEMH [senco]")
    assert reply.text == (
        "Thanks — I've asked Priya Shah to confirm: add the strength 'Thrive approach to SEMH [senco]'."
    )
    [ask] = chat.dms(CONVENOR)
    assert ask.text == (
        "**Daniel Okafor** (Fairsmead Primary Academy) proposes to add the strength 'Thrive approach to SEMH [senco]'."
    )
    before = await current(demo_bot, "fairsmead")
    [done] = await chat.press(CONVENOR, ask, "audit.confirm")
    assert "confirmed by Priya Shah" in done.text
    after = await current(demo_bot, "fairsmead")
    assert after.id != before.id and after.source == "chat"
    # The audit as a whole is still the LA's; the new item is audited by the convenor, today.
    assert (after.audited_by, after.audited_on) == (before.audited_by, before.audited_on)
    assert [(i.text, i.owner, i.audited_by) for i in after.strengths()] == [
        ("SLE for mathematics (upper key stage 2)", "f.lamb@fairsmead.sch.uk", "Jane Porter (LA school improvement)"),
        ("Designated safeguarding lead supervision and training", "dsl", "Jane Porter (LA school improvement)"),
        ("Thrive approach to SEMH", "senco", "Priya Shah"),
    ]
    assert str(after.strengths()[-1].audited_on) == "2026-11-23"
    async with demo_bot.db.session() as session:
        old = await session.get(Audit, before.id)
        assert old is not None and old.superseded_at is not None  # history kept
        actions = list((await session.execute(select(AdminLog.action).order_by(AdminLog.id))).scalars())
    assert actions[-2:] == ["audit.propose", "audit.confirm"]
    # The convenor's request is updated in place; the proposer hears the outcome.
    edit = [s for s in chat.transport.sent if s.kind == "edit"]
    assert edit and edit[0].ref.message_id == ask.ref.message_id
    assert any("confirmed by Priya Shah" in s.text for s in chat.dms(HEAD))
    # Pressing again does nothing more.
    [again] = await chat.press(CONVENOR, ask, "audit.confirm")
    assert again.text == "That proposal was already accepted."


async def test_removing_by_number_and_rejecting(chat: Chat, demo_bot: PeerBot) -> None:
    [reply] = await chat.say(HEAD, "audit remove need 1")
    assert "remove the need 'Emotionally based school avoidance support'" in reply.text
    [ask] = chat.dms(CONVENOR)
    await chat.press(CONVENOR, ask, "audit.reject")
    after = await current(demo_bot, "fairsmead")
    assert "Emotionally based school avoidance support" in [i.text for i in after.needs()]
    assert any("not accepted by Priya Shah" in s.text for s in chat.dms(HEAD))


async def test_the_convenors_own_changes_apply_at_once(chat: Chat, demo_bot: PeerBot) -> None:
    [reply] = await chat.say(CONVENOR, "audit marygreen: add need Succession planning for the SBM role [sbm]")
    assert reply.text == (
        "Done: add the need 'Succession planning for the SBM role [sbm]' for **Marygreen Academy**, "
        "marked audited by you today."
    )
    after = await current(demo_bot, "marygreen")
    assert after.audited_by is None  # Marygreen's own self-declared items stay so
    assert [(i.text, i.audited_by) for i in after.needs()] == [
        ("Specialist support for pupils with autism", None),
        ("Behaviour policy review", None),
        ("Succession planning for the SBM role", "Priya Shah"),
    ]
    assert chat.dms() == []
    [shown] = await chat.say(CONVENOR, "audit marygreen")
    assert "3. Succession planning for the SBM role — Paul Stevens _(audited by Priya Shah on 23 November 2026)_" in (
        shown.text.splitlines()
    )


async def _routing_strengths(bot: PeerBot, school: str) -> dict[str, bool]:
    from bot.routing.strengths import load_strengths

    async with bot.db.session() as session:
        return {s.text: s.audited for s in await load_strengths(session, bot.network_id) if s.school == school}


async def test_the_convenors_own_school_is_not_self_audited(chat: Chat, demo_bot: PeerBot) -> None:
    [reply] = await chat.say(CONVENOR, "audit add strength Forest school")
    assert reply.text == (
        "Done: add the strength 'Forest school' for **Oakfield Primary School**, as self-declared: "
        "no one outside Oakfield Primary School can confirm it, so it is not marked audited."
    )
    after = await current(demo_bot, "oakfield")
    assert after.audited_by == "Jane Porter (LA school improvement)"
    strengths = await _routing_strengths(demo_bot, "Oakfield Primary School")
    assert strengths["Forest school"] is False  # routing prefers audited strengths: this is not one
    assert strengths["Phonics scheme rollout and early reading"] is True
    [shown] = await chat.say(CONVENOR, "audit")
    assert "4. Forest school — Priya Shah _(self-declared)_" in shown.text.splitlines()


async def test_with_a_second_convenor_the_first_ones_own_school_is_confirmed_by_them(
    chat: Chat, demo_bot: PeerBot
) -> None:
    await chat.say(CONVENOR, f"member roles {HEAD} head;convenor")
    [reply] = await chat.say(CONVENOR, "audit add strength Forest school")
    assert reply.text == "Thanks — I've asked Daniel Okafor to confirm: add the strength 'Forest school'."
    [ask] = [d for d in chat.dms(HEAD) if "Forest school" in d.text]
    await chat.press(HEAD, ask, "audit.confirm")
    assert (await _routing_strengths(demo_bot, "Oakfield Primary School"))["Forest school"] is True
    after = await current(demo_bot, "oakfield")
    assert after.strengths()[-1].audited_by == "Daniel Okafor"


async def test_reimporting_the_audit_file_keeps_changes_made_in_chat(chat: Chat, demo_bot: PeerBot) -> None:
    from bot.demo import demo_sources
    from bot.network.importer import import_network

    await chat.say(CONVENOR, "audit marygreen: add need Succession planning for the SBM role [sbm]")
    async with demo_bot.db.session() as session:
        summary = await import_network(
            session, demo_bot.network_id, audit=demo_sources()["audit"], now=demo_bot.clock.now()
        )
    assert not summary.changed
    after = await current(demo_bot, "marygreen")
    assert after.source == "chat" and after.needs()[-1].text == "Succession planning for the SBM role"


async def test_only_a_schools_head_or_the_convenor_may_propose(chat: Chat, demo_bot: PeerBot) -> None:
    before = await current(demo_bot, "fairsmead")
    [reply] = await chat.say(SENCO, "audit add strength Something")
    assert reply.text == (
        "Only Fairsmead Primary Academy's head or the network's convenor can change its audit. Nothing was changed."
    )
    [reply] = await chat.say(HEAD, "audit oakfield: add need Something")
    assert "Only Oakfield Primary School's head" in reply.text
    assert (await current(demo_bot, "fairsmead")).id == before.id
    assert chat.dms() == []


async def test_confirming_needs_authority(chat: Chat) -> None:
    await chat.say(HEAD, "audit add strength Forest school")
    [ask] = chat.dms(CONVENOR)
    [reply] = await chat.press(SENCO, ask, "audit.confirm")
    assert "Only the network's convenor or the school's auditor" in reply.text


async def test_bad_changes_are_explained(chat: Chat) -> None:
    [reply] = await chat.say(HEAD, "audit remove need 9")
    assert "there is no need '9'" in reply.text.lower()
    [reply] = await chat.say(HEAD, "audit add strength Phonics [wizard]")
    assert "neither a role" in reply.text
    [reply] = await chat.say(HEAD, "audit add")
    assert "say what to change" in reply.text.lower()
    await chat.say(HEAD, "audit add need Writing")
    [reply] = await chat.say(HEAD, "audit add need writing")
    assert "already waiting for confirmation" in reply.text


async def test_proposals_list_for_the_convenor(chat: Chat) -> None:
    await chat.say(HEAD, "audit add strength Forest school")
    [reply] = await chat.say(CONVENOR, "proposals")
    assert reply.text.startswith("Fairsmead Primary Academy: add the strength 'Forest school'")
    assert [b.action for b in reply.buttons] == ["audit.confirm", "audit.reject"]
    [reply] = await chat.say(HEAD, "proposals")
    assert reply.text == "Only the network's convenor can use **proposals**."


async def test_an_owner_named_by_email_must_be_one_of_the_schools_people(chat: Chat, demo_bot: PeerBot) -> None:
    before = await current(demo_bot, "fairsmead")
    [reply] = await chat.say(HEAD, "audit add strength Phonics [nobody@fairsmead.sch.uk]")
    assert reply.text == (
        "Nobody in the network has the email nobody@fairsmead.sch.uk: name a role instead, e.g. [senco]. "
        "Nothing was changed."
    )
    [reply] = await chat.say(CONVENOR, "audit fairsmead: add strength Phonics [h.cole@oakfield.sch.uk]")
    assert reply.text.startswith("Hannah Cole is at Oakfield Primary School, not Fairsmead Primary Academy")
    assert chat.dms() == []
    assert (await current(demo_bot, "fairsmead")).id == before.id
    [reply] = await chat.say(HEAD, f"audit add strength Phonics [{SENCO}]")
    assert reply.text.startswith("Thanks")
    # Whoever it named has left by the time the convenor confirms: nothing changes.
    await chat.say(CONVENOR, f"member remove {SENCO}")
    [ask] = [d for d in chat.dms(CONVENOR) if "Phonics" in d.text]
    [done] = await chat.press(CONVENOR, ask, "audit.confirm")
    assert done.text.startswith(f"Nobody in the network has the email {SENCO}")
    assert (await current(demo_bot, "fairsmead")).id == before.id
