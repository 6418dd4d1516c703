"""Membership in chat, and leaving the network."""

from __future__ import annotations

from datetime import date

from bot.app import PeerBot
from bot.dispatch import on_person_left
from bot.dispatch.registry import Registry
from bot.models.network import Person
from bot.network import store
from tests.support.chat import Chat

CONVENOR = "p.shah@oakfield.sch.uk"
HEAD = "d.okafor@fairsmead.sch.uk"

LEFT: list[str] = []


@on_person_left()
async def remember_leaver(person: Person) -> None:
    LEFT.append(person.email)


async def person(bot: PeerBot, email: str) -> Person | None:
    async with bot.db.session() as session:
        return await store.person_by_email(session, bot.network_id, email)


async def test_add_move_roles_remove(chat: Chat, demo_bot: PeerBot) -> None:
    demo_bot.registry = Registry.discover([*demo_bot.registry_modules, __name__])
    LEFT.clear()
    [r] = await chat.say(CONVENOR, "member add Ali Rahman, A.Rahman@oakfield.sch.uk, oakfield, senco;dsl")
    assert r.text.startswith("Added Ali Rahman (senco, dsl) at Oakfield Primary School.")
    ali = await person(demo_bot, "a.rahman@oakfield.sch.uk")
    assert ali is not None and ali.active and sorted(ali.roles) == ["dsl", "senco"]
    [r] = await chat.say(CONVENOR, "member move a.rahman@oakfield.sch.uk Brookside")
    assert "is now at Brookside Junior School" in r.text
    [r] = await chat.say(CONVENOR, "member roles a.rahman@oakfield.sch.uk deputy")
    assert "roles are now: deputy" in r.text
    ali = await person(demo_bot, "a.rahman@oakfield.sch.uk")
    assert ali is not None and ali.roles == ["deputy"] and ali.school.name == "Brookside Junior School"
    [r] = await chat.say(CONVENOR, "member remove a.rahman@oakfield.sch.uk")
    assert "has left the network" in r.text and "people.csv" in r.text
    ali = await person(demo_bot, "a.rahman@oakfield.sch.uk")
    assert ali is not None and not ali.active
    assert LEFT == ["a.rahman@oakfield.sch.uk"]


async def test_membership_is_for_the_convenor_and_checks_input(chat: Chat) -> None:
    [r] = await chat.say(HEAD, "member remove p.shah@oakfield.sch.uk")
    assert r.text == "Only the network's convenor can use **member**."
    [r] = await chat.say(CONVENOR, "member add Ali, not-an-email, oakfield, head")
    assert "is not an email address" in r.text and "Nothing was changed." in r.text
    [r] = await chat.say(CONVENOR, "member add Ali, ali@x.uk, oakfield, wizard")
    assert "Unknown role 'wizard'" in r.text
    [r] = await chat.say(CONVENOR, f"member add Dan, {HEAD}, oakfield, head")
    assert "already in the network" in r.text
    [r] = await chat.say(CONVENOR, "member remove nobody@x.uk")
    assert "there is no one with the email nobody@x.uk" in r.text.lower()
    [r] = await chat.say(CONVENOR, "member frobnicate")
    assert "Say **member add**" in r.text


async def test_schools_come_and_go_with_their_people(chat: Chat, demo_bot: PeerBot) -> None:
    [r] = await chat.say(CONVENOR, "school add Ashgrove Nursery, nursery")
    assert r.text.startswith("Added Ashgrove Nursery (nursery).")
    [r] = await chat.say(CONVENOR, "school remove Meadow View")
    assert "Meadow View Pupil Referral Unit has left the network, with 1 people" in r.text
    neil = await person(demo_bot, "n.barker@meadowview.sch.uk")
    assert neil is not None and not neil.active
    [r] = await chat.say(CONVENOR, "school add Ashgrove Nursery, nursery")
    assert "already in the network" in r.text


async def test_the_network_always_keeps_a_convenor(chat: Chat, demo_bot: PeerBot) -> None:
    refused = (
        "That would leave the network with no convenor (Priya Shah): make someone else convenor first. "
        "Nothing was changed."
    )
    for command in (f"member remove {CONVENOR}", f"member roles {CONVENOR} head", "school remove Oakfield"):
        [r] = await chat.say(CONVENOR, command)
        assert r.text == refused
    me = await person(demo_bot, CONVENOR)
    assert me is not None and me.active and me.is_convenor and me.school.active
    # With a second convenor, the first may step down.
    await chat.say(CONVENOR, f"member roles {HEAD} head;convenor")
    [r] = await chat.say(CONVENOR, f"member roles {CONVENOR} head")
    assert "roles are now: head" in r.text


async def test_away_and_back(chat: Chat, demo_bot: PeerBot) -> None:
    [r] = await chat.say(HEAD, "away until 2026-12-04")
    assert r.text == "Got it: I won't ask you for help until 4 December 2026."
    dan = await person(demo_bot, HEAD)
    assert dan is not None and dan.away_until == date(2026, 12, 4)
    [r] = await chat.say(HEAD, "away until 2026-01-01")
    assert "has already passed" in r.text
    [r] = await chat.say(HEAD, "back")
    dan = await person(demo_bot, HEAD)
    assert dan is not None and dan.away_until is None


async def test_a_reimport_tells_the_hooks_who_left(demo_bot: PeerBot) -> None:
    from bot.demo import demo_file
    from bot.network.importer import import_network
    from bot.network.parse import SourceFile

    demo_bot.registry = Registry.discover([*demo_bot.registry_modules, __name__])
    LEFT.clear()
    people = demo_file("people.csv").data.replace(
        b"Neil Barker,n.barker@meadowview.sch.uk,Meadow View Pupil Referral Unit,head;dsl,,\n", b""
    )
    async with demo_bot.db.session() as session:
        summary = await import_network(
            session,
            demo_bot.network_id,
            people=SourceFile("people.csv", people),
            now=demo_bot.clock.now(),
            on_left=lambda p: demo_bot.person_left(session, p),
        )
    assert summary.counts["people"]["left"] == 1
    assert LEFT == ["n.barker@meadowview.sch.uk"]
