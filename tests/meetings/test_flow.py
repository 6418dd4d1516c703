"""A meeting's life in chat: poll, votes, booking, invitation, agenda, RSVPs, actions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from icalendar import Calendar

from bot.app import PeerBot
from bot.clock import FrozenClock
from bot.db.engine import Database
from bot.meetings import service
from bot.meetings.sweep import next_event
from bot.models import Action
from bot.replies import Message
from tests.conftest import DEMO_NOW, make_config
from tests.support.chat import Chat
from tests.support.meetings import CONVENOR, HEAD, SENCO, buttons, clock_of, meetings, outbox_rows, posts, press, tick

HEADS = ["m.kowalski@stmarys.sch.uk", "d.okafor@fairsmead.sch.uk", HEAD, "j.khan@marygreen.sch.uk"]


async def open_autumn_poll(chat: Chat, bot: PeerBot):  # type: ignore[no-untyped-def]
    result = await tick(bot)
    assert result.opened == 1
    [poll] = posts(chat, "which dates can you make")
    return poll


async def test_the_sweep_plans_every_half_term_and_opens_the_due_poll(chat: Chat, demo_bot: PeerBot) -> None:
    poll = await open_autumn_poll(chat, demo_bot)
    rows = await meetings(demo_bot)
    assert [(m.half_term, m.status) for m in rows] == [
        ("Autumn 2", "polling"),
        ("Spring 1", "planned"),
        ("Spring 2", "planned"),
        ("Summer 1", "planned"),
        ("Summer 2", "planned"),
    ]
    assert poll.kind == "channel" and poll.ref.channel_id == "heads"
    assert [b.label for b in buttons(poll, "meeting.vote")] == ["Wed 2 Dec, 09:30", "Wed 9 Dec, 09:30"]
    assert (await tick(demo_bot)).opened == 0  # sweeping again changes nothing
    assert len(posts(chat, "which dates can you make")) == 1


async def test_votes_toggle_and_outsiders_are_refused(chat: Chat, demo_bot: PeerBot) -> None:
    poll = await open_autumn_poll(chat, demo_bot)
    first, second = buttons(poll, "meeting.vote")
    [reply] = await press(chat, HEAD, poll, first)
    assert reply.private and "you can make: Wed 2 Dec" in reply.text
    [reply] = await press(chat, HEAD, poll, second)
    assert "Wed 2 Dec, Wed 9 Dec" in reply.text
    [reply] = await press(chat, HEAD, poll, first)  # untick
    assert "you can make: Wed 9 Dec" in reply.text
    edits = [s for s in chat.transport.sent if s.kind == "edit"]
    assert edits and edits[-1].ref.message_id == poll.ref.message_id
    assert "Wed 9 Dec, 09:30–11:30 — 1 can make it" in edits[-1].text
    assert "Wed 2 Dec, 09:30–11:30\n" in edits[-1].text + "\n"  # no tally left on the unticked date
    sent_before = len(chat.transport.sent)
    [reply] = await press(chat, SENCO, poll, first)
    assert reply.private and "not in it" in reply.text and "Nothing was changed" in reply.text
    assert len(chat.transport.sent) == sent_before


async def test_a_vote_after_the_poll_closes_is_refused_before_the_sweep_gets_there(
    chat: Chat, demo_bot: PeerBot
) -> None:
    poll = await open_autumn_poll(chat, demo_bot)
    [m] = [m for m in await meetings(demo_bot) if m.status == "polling"]
    assert m.poll_closes_at is not None
    clock_of(demo_bot).set(m.poll_closes_at)  # due to close; the sweep has not run yet
    [reply] = await press(chat, HEAD, poll, buttons(poll, "meeting.vote")[0])
    assert reply.text == "The poll for the Heads meeting — Autumn 2 has closed. Nothing was changed."
    async with demo_bot.db.session() as session:
        assert await service.vote_counts(session, await service.get_meeting(session, demo_bot.network_id, m.id)) == {
            o.id: 0 for o in m.options
        }


async def test_the_best_attended_date_is_booked_with_an_invitation(chat: Chat, demo_bot: PeerBot) -> None:
    poll = await open_autumn_poll(chat, demo_bot)
    first, second = buttons(poll, "meeting.vote")
    for who in HEADS[:3]:
        await press(chat, who, poll, second)
    await press(chat, HEADS[3], poll, first)
    clock_of(demo_bot).advance(timedelta(days=2, hours=1))
    result = await tick(demo_bot)
    assert result.closed and "booked for Wed 9 Dec, 09:30" in result.closed[0]
    [booked] = posts(chat, "booked for")
    assert booked.kind == "channel" and "**Wed 9 Dec, 09:30–11:30**" in booked.text
    assert [b.action for b in booked.buttons] == ["meeting.rsvp", "meeting.rsvp"]
    [ics_file] = booked.files
    cal = Calendar.from_ical(ics_file.data)
    assert str(cal["METHOD"]) == "REQUEST"
    [event] = cal.walk("VEVENT")
    assert event["DTSTART"].dt == datetime(2026, 12, 9, 9, 30, tzinfo=event["DTSTART"].dt.tzinfo)
    assert event["DTSTART"].params["TZID"] == "Europe/London" and int(event["SEQUENCE"]) == 0
    assert len(cal.walk("VTIMEZONE")) == 1
    attendees = [str(a) for a in event.get("ATTENDEE")]
    assert "mailto:k.lloyd@hollybrook.sch.uk" in attendees and f"mailto:{SENCO}" not in attendees
    assert str(event["ORGANIZER"]) == f"mailto:{CONVENOR}"
    closed = [s for s in chat.transport.sent if s.kind == "edit"][-1]
    assert "the poll has closed" in closed.text and closed.buttons == ()
    [m] = [m for m in await meetings(demo_bot) if m.status == "booked"]
    nudges = await outbox_rows(demo_bot, f"meeting:{m.id}:nudge:")
    assert [(r.key, r.not_before) for r in nudges] == [
        # 14 days before falls before the booking, so the booking message asks for items instead.
        (f"meeting:{m.id}:nudge:2d:0", datetime(2026, 12, 7, 9, 30, tzinfo=UTC)),
        (f"meeting:{m.id}:nudge:1h:0", datetime(2026, 12, 9, 8, 30, tzinfo=UTC)),
    ]
    assert all(r.expires_at == datetime(2026, 12, 9, 9, 30, tzinfo=UTC) for r in nudges)


async def test_a_tie_asks_the_convenor_who_chooses_with_a_button(chat: Chat, demo_bot: PeerBot) -> None:
    poll = await open_autumn_poll(chat, demo_bot)
    first, second = buttons(poll, "meeting.vote")
    await press(chat, HEADS[0], poll, first)
    await press(chat, HEADS[1], poll, second)
    clock_of(demo_bot).advance(timedelta(days=3))
    result = await tick(demo_bot)
    assert "2 dates tied, with 1 each" in result.closed[0]
    [ask] = chat.dms(CONVENOR)
    assert "Which date shall I book?" in ask.text
    choices = buttons(ask, "meeting.book")
    assert [b.label for b in choices] == ["Wed 2 Dec, 09:30 (1)", "Wed 9 Dec, 09:30 (1)"]
    [refused] = await press(chat, HEAD, ask, choices[0])
    assert "Only the network's convenor" in refused.text
    [done] = await press(chat, CONVENOR, ask, choices[0])
    assert "Booked the **Heads meeting — Autumn 2** for Wed 2 Dec, 09:30–11:30" in done.text
    assert len(posts(chat, "booked for")) == 1
    [again] = await press(chat, CONVENOR, ask, choices[1])  # a second press cannot double-book
    assert "already booked" in again.text and len(posts(chat, "booked for")) == 1


async def test_a_convenor_who_has_not_chosen_is_reminded_once_after_three_school_days(
    chat: Chat, demo_bot: PeerBot
) -> None:
    poll = await open_autumn_poll(chat, demo_bot)
    first, second = buttons(poll, "meeting.vote")
    await press(chat, HEADS[0], poll, first)
    await press(chat, HEADS[1], poll, second)
    clock = clock_of(demo_bot)
    clock.set(datetime(2026, 11, 26, 10, 0, tzinfo=UTC))  # Thursday: the poll closes on a tie
    result = await tick(demo_bot)
    assert "tied" in result.closed[0] and result.next_wake is not None
    clock.set(datetime(2026, 11, 30, 16, 0, tzinfo=UTC))  # Monday afternoon: two and a half school days on
    await tick(demo_bot)
    assert len(chat.dms(CONVENOR)) == 1
    async with demo_bot.db.session() as session:
        assert await next_event(session, demo_bot, clock.now()) == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    clock.set(datetime(2026, 12, 1, 10, 0, tzinfo=UTC))  # Tuesday 10:00: three school days on
    await tick(demo_bot)
    await tick(demo_bot)
    ask, reminder = chat.dms(CONVENOR)
    assert "Which date shall I book?" in ask.text
    assert reminder.text == (
        "Reminder: the **Heads meeting — Autumn 2** still needs a date (its poll closed on Thursday 26 November "
        "2026). Which date shall I book?"
    )
    # Wed 2 Dec is now too close to book; Wed 9 Dec still can be.
    assert [b.label for b in reminder.buttons] == ["Wed 9 Dec, 09:30 (1)", "Cancel this meeting"]
    [done] = await press(chat, CONVENOR, reminder, reminder.buttons[0])
    assert "Booked the **Heads meeting — Autumn 2** for Wed 9 Dec" in done.text
    clock.advance(timedelta(days=3))
    await tick(demo_bot)
    assert len([s for s in chat.dms(CONVENOR) if s.text.startswith("Reminder")]) == 1


async def test_nobody_answering_asks_the_convenor(chat: Chat, demo_bot: PeerBot) -> None:
    await open_autumn_poll(chat, demo_bot)
    clock_of(demo_bot).advance(timedelta(days=3))
    result = await tick(demo_bot)
    assert "nobody answered" in result.closed[0]
    [ask] = chat.dms(CONVENOR)
    assert "nobody answered its poll" in ask.text
    cancel = buttons(ask, "meeting.cancel")[0]
    [reply] = await press(chat, CONVENOR, ask, cancel)
    assert "Cancelled" in reply.text
    assert next(m.status for m in await meetings(demo_bot)) == "cancelled"
    await tick(demo_bot)  # a cancelled half-term is not planned again
    assert next(m.status for m in await meetings(demo_bot)) == "cancelled"


async def book_autumn(chat: Chat, bot: PeerBot) -> int:
    await open_autumn_poll(chat, bot)
    [m] = [m for m in await meetings(bot) if m.status == "polling"]
    replies = await chat.command(CONVENOR, "meeting", f"book {m.id} 2")
    assert "Booked" in replies[0].text, replies[0].text
    return m.id


async def test_moving_a_meeting_sends_an_update_and_new_nudges(chat: Chat, demo_bot: PeerBot) -> None:
    mid = await book_autumn(chat, demo_bot)
    [reply] = await chat.command(CONVENOR, "meeting", f"book {mid} 2026-12-10 16:00")
    assert "Moved" in reply.text and "Thu 10 Dec, 16:00–18:00" in reply.text
    [moved] = posts(chat, "moved to")
    [event] = Calendar.from_ical(moved.files[0].data).walk("VEVENT")
    first = Calendar.from_ical(posts(chat, "booked for")[0].files[0].data).walk("VEVENT")[0]
    assert str(event["UID"]) == str(first["UID"]) and int(event["SEQUENCE"]) == 1
    assert event["DTSTART"].dt.hour == 16
    assert moved.key == f"meeting:{mid}:booked:1"
    statuses = {r.key: r.status for r in await outbox_rows(demo_bot, f"meeting:{mid}:nudge:")}
    assert statuses == {
        f"meeting:{mid}:nudge:14d:0": "cancelled",
        f"meeting:{mid}:nudge:14d:1": "pending",
        f"meeting:{mid}:nudge:2d:0": "cancelled",
        f"meeting:{mid}:nudge:1h:0": "cancelled",
        f"meeting:{mid}:nudge:2d:1": "pending",
        f"meeting:{mid}:nudge:1h:1": "pending",
    }


async def test_moving_a_meeting_before_its_announcement_went_sends_only_the_new_time(
    chat: Chat, demo_bot: PeerBot
) -> None:
    await open_autumn_poll(chat, demo_bot)
    [m] = [m for m in await meetings(demo_bot) if m.status == "polling"]
    clock_of(demo_bot).set(datetime(2026, 11, 23, 21, 0, tzinfo=UTC))  # announcements wait for the morning
    await chat.command(CONVENOR, "meeting", f"book {m.id} 2")
    [reply] = await chat.command(CONVENOR, "meeting", f"book {m.id} 2026-12-10 16:00")
    assert "Moved" in reply.text
    booked = {r.key: r.status for r in await outbox_rows(demo_bot, f"meeting:{m.id}:booked:")}
    assert booked == {f"meeting:{m.id}:booked:0": "cancelled", f"meeting:{m.id}:booked:1": "pending"}
    clock_of(demo_bot).set(datetime(2026, 11, 24, 8, 0, tzinfo=UTC))
    await tick(demo_bot)
    [announcement] = posts(chat, "**Heads meeting — Autumn 2** ")
    assert "booked for **Thu 10 Dec, 16:00–18:00**" in announcement.text and not posts(chat, "moved to")
    [event] = Calendar.from_ical(announcement.files[0].data).walk("VEVENT")
    assert int(event["SEQUENCE"]) == 1  # calendars that saw nothing yet take it as it is


async def test_a_meeting_booked_at_short_notice_still_gets_its_agenda(chat: Chat, demo_bot: PeerBot) -> None:
    await open_autumn_poll(chat, demo_bot)
    [m] = [m for m in await meetings(demo_bot) if m.status == "polling"]
    await chat.command(HEAD, "agenda", "add Attendance strategies after Christmas")
    # Mon 23 Nov 10:00: a meeting on Wed 25 Nov at 09:30, so its agenda's time (Mon 09:30) has passed.
    [reply] = await chat.command(CONVENOR, "meeting", f"book {m.id} 2026-11-25 09:30")
    assert "Booked" in reply.text
    [m] = [x for x in await meetings(demo_bot) if x.id == m.id]
    assert m.agenda_at == DEMO_NOW and m.agenda_key == f"meeting:{m.id}:nudge:2d:0"
    booked, agenda = [s for s in chat.transport.sent if s.kind == "channel"][-2:]
    assert "booked for" in booked.text  # the booking first, then its agenda
    assert "**Agenda**" in agenda.text and "1. Attendance strategies after Christmas" in agenda.text


async def test_cancelling_sends_a_cancel_invitation(chat: Chat, demo_bot: PeerBot) -> None:
    mid = await book_autumn(chat, demo_bot)
    [reply] = await chat.command(HEAD, "meeting", f"cancel {mid}")
    assert "Only the network's convenor" in reply.text
    await chat.command(CONVENOR, "meeting", f"cancel {mid}")
    [note] = posts(chat, "is **cancelled**")
    cal = Calendar.from_ical(note.files[0].data)
    [event] = cal.walk("VEVENT")
    assert str(cal["METHOD"]) == "CANCEL" and str(event["STATUS"]) == "CANCELLED" and int(event["SEQUENCE"]) == 1
    assert {r.status for r in await outbox_rows(demo_bot, f"meeting:{mid}:nudge:")} == {"cancelled"}


async def test_bad_requests_change_nothing(chat: Chat, demo_bot: PeerBot) -> None:
    mid = await book_autumn(chat, demo_bot)
    before = len(await outbox_rows(demo_bot))
    for text, expected in [
        (f"book {mid} 2026-01-05 10:00", "already passed"),
        (f"book {mid} 31 Feb 10:00", "not a real date"),
        (f"book {mid} 9", "has 2 poll dates"),
        ("book 999 1", "no meeting number 999"),
        (f"close {mid}", "has no open poll"),
        ("cancel x", "Give its number"),
    ]:
        [reply] = await chat.command(CONVENOR, "meeting", text)
        assert expected in reply.text and reply.private, (text, reply.text)
    assert len(await outbox_rows(demo_bot)) == before


async def test_a_typed_time_is_checked_and_the_convenor_can_book_it_anyway(chat: Chat, demo_bot: PeerBot) -> None:
    mid = await book_autumn(chat, demo_bot)  # Wed 9 Dec, 09:30
    before = len(await outbox_rows(demo_bot))
    [refused] = await chat.command(CONVENOR, "meeting", f"book {mid} 2026-12-25 23:00")
    assert refused.private and refused.text == (
        "I haven't booked it: Fri 25 Dec, 23:00 is on a bank holiday and outside Autumn 2 (Mon 2 Nov to Fri 18 Dec) "
        "and outside the school day (07:30–18:30). Choose another time, or press **Book it anyway** if you mean it."
    )
    [saturday] = await chat.command(CONVENOR, "meeting", f"book {mid} 2026-12-12 10:00")
    assert "Sat 12 Dec, 10:00 is on a Saturday." in saturday.text
    spring = next(m for m in await meetings(demo_bot) if m.half_term == "Spring 1")
    [inset] = await chat.command(CONVENOR, "meeting", f"book {spring.id} 2027-01-29 10:00")
    assert "Fri 29 Jan, 10:00 is on an INSET day." in inset.text
    [clash] = await chat.command(CONVENOR, "meeting", f"book {spring.id} 2026-12-09 10:00")
    assert "outside Spring 1 (Tue 5 Jan to Fri 12 Feb)" in clash.text
    assert "at the same time as the Heads meeting — Autumn 2 (Wed 9 Dec, 09:30–11:30)" in clash.text
    assert len(await outbox_rows(demo_bot)) == before and not posts(chat, "moved to")  # nothing changed
    anyway = refused.button("meeting.force")
    [no] = await chat.press(HEAD, refused, anyway)
    assert "Only the network's convenor" in no.text
    [done] = await chat.press(CONVENOR, refused, anyway)
    assert done.text.startswith("Moved the **Heads meeting — Autumn 2** for Fri 25 Dec, 23:00–01:00")
    [moved] = posts(chat, "moved to")
    assert "Fri 25 Dec" in moved.text


async def test_the_agenda_is_collected_until_it_goes_out(chat: Chat, demo_bot: PeerBot) -> None:
    mid = await book_autumn(chat, demo_bot)
    [reply] = await chat.command(HEAD, "agenda", "add Attendance strategies after Christmas")
    assert "item 1" in reply.text
    await chat.command(CONVENOR, "agenda", "add Joint CPD day in the spring")
    [listing] = await chat.command(HEAD, "agenda")
    assert "1. Attendance strategies after Christmas (Karen Lloyd, Hollybrook" in listing.text
    [refused] = await chat.command(SENCO, "agenda", "add Something")
    assert "no meeting coming up" in refused.text or "not in it" in refused.text
    [privacy] = await chat.command(HEAD, "agenda", "add Pupil X, DOB 3/4/2015")
    assert "looks like a date of birth" in privacy.text and "3/4/2015" not in privacy.text
    [removed] = await chat.command(HEAD, "agenda", "remove 2")
    assert "only remove items you added" in removed.text
    [agenda_row] = [r for r in await outbox_rows(demo_bot, f"meeting:{mid}:nudge:2d:")]
    body = Message.from_json(agenda_row.message).text
    assert "1. Attendance strategies after Christmas" in body and "2. Joint CPD day" in body
    clock_of(demo_bot).set(agenda_row.not_before)
    await tick(demo_bot)
    [agenda_post] = posts(chat, "**Agenda**")
    assert "Joint CPD day" in agenda_post.text
    [late] = await chat.command(HEAD, "agenda", "add One more thing")
    assert "already gone out" in late.text


async def test_rsvps_from_members_only(chat: Chat, demo_bot: PeerBot) -> None:
    await book_autumn(chat, demo_bot)
    [booked] = posts(chat, "booked for")
    yes, no = buttons(booked, "meeting.rsvp")
    [reply] = await press(chat, HEAD, booked, yes)
    assert "you're down as coming" in reply.text
    [reply] = await press(chat, HEAD, booked, no)
    assert "can't make" in reply.text
    [reply] = await press(chat, SENCO, booked, yes)
    assert "not in it" in reply.text
    async with demo_bot.db.session() as session:
        m = (await meetings(demo_bot))[0]
        assert await service.rsvp_counts(session, m.id) == {"no": 1}


async def test_after_the_meeting_actions_are_collected_and_owners_reminded(chat: Chat, demo_bot: PeerBot) -> None:
    await book_autumn(chat, demo_bot)
    clock_of(demo_bot).set(datetime(2026, 12, 9, 12, 0, tzinfo=UTC))
    assert (await tick(demo_bot)).held == 1
    [prompt] = posts(chat, "record the actions agreed")
    assert prompt.kind == "channel"
    [added] = await chat.command(CONVENOR, "action", "add Karen Lloyd by 20 Jan: share the phonics catch-up plan")
    assert "Added action" in added.text and "Wednesday 20 January 2027" in added.text
    [bad] = await chat.command(CONVENOR, "action", "add Nobody Here by 20 Jan: x")
    assert "nobody called" in bad.text
    [close] = await chat.command(CONVENOR, "action", "add Kate Lloyd by 20 Jan: x")
    assert "did you mean Karen Lloyd (k.lloyd@hollybrook.sch.uk)?" in close.text
    [past] = await chat.command(CONVENOR, "action", "add k.lloyd@hollybrook.sch.uk by 2026-01-02: x")
    assert "already passed" in past.text
    [listing] = await chat.command(HEAD, "actions")
    assert "share the phonics catch-up plan — Karen Lloyd" in listing.text
    [reminder_row] = await outbox_rows(demo_bot, "action:")
    # A week before, between 09:00 and 10:00 (spread by its key so networks don't all fire at once).
    assert datetime(2027, 1, 13, 9, 0, tzinfo=UTC) <= reminder_row.not_before < datetime(2027, 1, 13, 10, 0, tzinfo=UTC)
    clock_of(demo_bot).set(reminder_row.not_before)
    await tick(demo_bot)
    [reminder] = [s for s in chat.dms(HEAD) if "due for review" in s.text]
    [reply] = await press(chat, HEAD, reminder, reminder.buttons[0])
    assert "done" in reply.text
    async with demo_bot.db.session() as session:
        [action] = await service.open_actions(session, demo_bot.network_id) or [None]
        assert action is None
        row = await session.get(Action, 1)
        assert row is not None and row.status == "done" and row.meeting_id is not None


async def test_home_shows_meetings_and_the_convenors_decisions(chat: Chat, demo_bot: PeerBot) -> None:
    await open_autumn_poll(chat, demo_bot)
    clock_of(demo_bot).advance(timedelta(days=3))
    await tick(demo_bot)
    [home] = await chat.command(CONVENOR, "home")
    assert "**Needs your attention**" in home.text and "Choose a date for the Heads meeting — Autumn 2" in home.text
    [home] = await chat.command(HEAD, "home")
    assert "Needs your attention" not in home.text and "**Meetings and actions**" in home.text


async def test_permanent_failures_reach_the_convenor_once(chat: Chat, demo_bot: PeerBot) -> None:
    from bot.delivery import PermanentError

    chat.transport.failures.append(PermanentError("channel_archived"))
    await tick(demo_bot)  # the poll fails to post
    clock_of(demo_bot).advance(timedelta(minutes=5))
    await tick(demo_bot)
    await tick(demo_bot)
    [notice] = [s for s in chat.dms(CONVENOR) if "couldn't deliver" in s.text]
    assert "channel_archived" in notice.text and "which dates" not in notice.text
    [home] = await chat.command(CONVENOR, "home")
    assert "Not delivered: meeting:1:poll to #heads on console: channel_archived" in home.text


async def test_every_failure_is_reported_once_however_late_it_fails(chat: Chat, demo_bot: PeerBot) -> None:
    from bot.delivery import PermanentError, TransientError
    from bot.network import store
    from bot.replies import ToPerson

    async with demo_bot.db.session() as session:
        older = await store.person_by_email(session, demo_bot.network_id, HEAD)
        newer = await store.person_by_email(session, demo_bot.network_id, HEADS[0])
        assert older is not None and newer is not None
        await demo_bot.queue(session, ToPerson(older.id), Message(text="older"), key="test:older")
        await demo_bot.queue(session, ToPerson(newer.id), Message(text="newer"), key="test:newer")
    chat.transport.failures = [TransientError("timeout"), PermanentError("user_not_found")]
    await demo_bot.deliverer.drain()
    await tick(demo_bot)

    def reports() -> list[str]:
        return [s.text for s in chat.dms(CONVENOR) if "couldn't deliver" in s.text]

    [first] = reports()
    assert "test:newer" in first and "test:older" not in first
    # The older message, still being retried, fails for good later: it is reported then.
    clock_of(demo_bot).advance(timedelta(minutes=1))
    chat.transport.failures = [PermanentError("account_inactive")]
    await demo_bot.deliverer.drain()
    await tick(demo_bot)
    await tick(demo_bot)
    assert len(reports()) == 2 and "test:older" in reports()[1] and "account_inactive" in reports()[1]
    # Retried after a fix, and failing again: reported again.
    [row] = await outbox_rows(demo_bot, "test:newer")
    async with demo_bot.db.session() as session:
        await service.retry_delivery(session, demo_bot.network_id, row.id, demo_bot.clock.now())
    chat.transport.failures = [PermanentError("user_not_found")]
    await tick(demo_bot)
    await tick(demo_bot)
    assert len(reports()) == 3 and "test:newer" in reports()[2] and "test:older" not in reports()[2]


async def test_an_unplannable_half_term_tells_the_convenor_once_and_a_dropped_cadence_drops_plans(
    database: Database, clock: FrozenClock
) -> None:
    from bot.demo import demo_sources
    from bot.network.importer import import_network

    terms = [
        {"name": "Autumn 2", "start": date(2026, 11, 2), "end": date(2026, 12, 18)},
        {"name": "Spring 2", "start": date(2027, 2, 22), "end": date(2027, 3, 5)},  # two weeks
        {"name": "Summer 1", "start": date(2027, 4, 12), "end": date(2027, 5, 28)},
    ]
    config = make_config({"terms": terms})
    bot = await PeerBot.open(config, db=database, clock=clock, migrate=False, platforms=["console"])
    async with bot.db.session() as session:
        await import_network(
            session, bot.network_id, now=bot.clock.now(), **{k: v for k, v in demo_sources().items() if k != "terms"}
        )
    chat = Chat(bot)
    await tick(bot)
    await tick(bot)
    autumn, m, summer = await meetings(bot)
    assert autumn.status == "polling" and m.status == "planned" and m.options == []
    assert "no Wednesday" in (m.problem or "")
    assert summer.status == "planned" and len(summer.options) == 3
    [notice] = chat.dms(CONVENOR)
    assert (
        "I can't plan the **Heads meeting — Spring 2**" in notice.text
        and f"meeting book {m.id} 2027-02-" in notice.text
    )
    [reply] = await chat.command(CONVENOR, "meeting", f"book {m.id} 2027-03-03 16:00")
    assert "Booked" in reply.text
    # A group that stops meeting loses its plans, but not what is booked.
    quiet = make_config({"terms": terms, "groups": {"heads": {"roles": ["head"], "meetings": {"cadence": "none"}}}})
    again = await PeerBot.open(quiet, db=database, clock=clock, migrate=False, platforms=["console"])
    await tick(again)
    assert [x.status for x in await meetings(again)] == ["polling", "booked"]
