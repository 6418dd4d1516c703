"""Every flow of the core, as ``peerbot run`` loads it, driven through Slack: signed HTTP
requests into Bolt, the real handlers (routing, the knowledge base, meetings, the audit)
on the demo network, and assertions on the Web API calls the fake Slack recorded — who got
which DM, with which buttons, what was ephemeral, what was edited in place.

The demo network's clock stands at Monday 23 November 2026, 10:00: school hours, so
requests go at once."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from bot.clock import FrozenClock
from bot.meetings.sweep import sweep
from bot.models import Answer, Meeting, Question, Referral
from bot.network import store
from knowledge.models import KbEntry
from tests.slack.conftest import DSL, HEAD, PEER, SENCO
from tests.slack.harness import CHANNELS, SlackHarness
from tests.support.slack import BOT_USER, Posted

MATHS = "How do other schools run maths enrichment for higher-achieving pupils in upper key stage 2?"
OKAFOR = "d.okafor@fairsmead.sch.uk"  # Fairsmead's head: its SLE for upper KS2 maths
OSEI = "j.osei@burford.sch.uk"  # Burford's head: an SLE for maths


def dm_posts(slack: SlackHarness, email: str) -> list[Posted]:
    """What the bot posted in ``email``'s DM, oldest first."""
    channel = slack.fake.dm_channel(slack.uid(email))
    return [m for m in slack.fake.messages if channel and m.channel == channel and m.user == BOT_USER]


def dm_receivers(slack: SlackHarness) -> set[str]:
    """Everyone the bot wrote to in a DM, by email."""
    by_channel = {slack.fake.dm_channel(uid): email for email, uid in slack.ids.items()}
    return {by_channel[m.channel] for m in slack.fake.messages if m.user == BOT_USER and m.channel in by_channel}


def channel_posts(slack: SlackHarness, group: str) -> list[Posted]:
    return [m for m in slack.fake.messages if m.channel == CHANNELS[group] and m.user == BOT_USER]


def buttons(posted: Posted | dict[str, Any]) -> list[tuple[str, str]]:
    """(label, action) of every button, in order (the action without its position)."""
    blocks = posted.blocks if isinstance(posted, Posted) else posted["blocks"]
    return [
        (e["text"]["text"], e["action_id"].split(":", 1)[0])
        for b in blocks
        if b["type"] == "actions"
        for e in b["elements"]
    ]


def as_posted(ephemeral: dict[str, Any], ts: str) -> Posted:
    """An ephemeral message (chat.postEphemeral's arguments) as something to press."""
    return Posted(ephemeral["channel"], ts, ephemeral["text"], ephemeral["blocks"], ephemeral.get("thread_ts"))


async def rows(slack: SlackHarness, model: Any) -> list[Any]:
    async with slack.bot.db.session() as session:
        return list((await session.execute(select(model).order_by(model.id))).unique().scalars())


def clock_of(slack: SlackHarness) -> FrozenClock:
    assert isinstance(slack.bot.clock, FrozenClock)
    return slack.bot.clock


async def ask_about_maths(flows: SlackHarness) -> str:
    """Karen Lloyd (Hollybrook) asks #heads; the two maths SLEs' heads are asked."""
    answer, ts = await flows.message(PEER, MATHS, where="heads")
    assert answer.status == 200
    await flows.settle()
    return ts


# -- asking and routing ------------------------------------------------------------------------
async def test_a_question_in_a_group_channel_is_routed_to_peers_by_dm_with_buttons(flows: SlackHarness) -> None:
    ts = await ask_about_maths(flows)
    # The asker is told privately, in the channel, who was asked.
    [told] = flows.fake.ephemerals
    assert told["channel"] == CHANNELS["heads"] and told["user"] == flows.uid(PEER)
    assert told["text"].startswith("Thanks — I've asked 2 peers:")
    assert "Daniel Okafor, Fairsmead Primary Academy" in told["text"] and "James Osei" in told["text"]
    # Each peer gets one DM: the question, why them, and the two buttons.
    assert dm_receivers(flows) == {OKAFOR, OSEI}
    [request] = dm_posts(flows, OKAFOR)
    assert request.text.startswith("Karen Lloyd (Hollybrook Infant and Nursery School) asks in #heads:")
    assert MATHS in request.text and "SLE for mathematics (upper key stage 2)" in request.text
    assert buttons(request) == [("I can help", "referral.accept"), ("Not me", "referral.decline")]
    assert request.metadata is not None and request.metadata["event_payload"]["key"].startswith("q1:ref")
    # Nothing was said in the channel itself; the question's thread is the message.
    assert channel_posts(flows, "heads") == []
    [question] = await rows(flows, Question)
    assert (question.status, question.thread_channel_id, question.thread_message_id) == (
        "routed",
        CHANNELS["heads"],
        ts,
    )


async def test_i_can_help_updates_every_request_in_place_and_tells_the_asker(flows: SlackHarness) -> None:
    await ask_about_maths(flows)
    [mine], [theirs] = dm_posts(flows, OKAFOR), dm_posts(flows, OSEI)
    answer = await flows.press(OKAFOR, mine, "referral.accept")
    assert answer.status == 200
    await flows.settle()
    # The helper is thanked privately where they pressed...
    thanks = flows.fake.responses[-1]
    assert thanks["response_type"] == "ephemeral" and thanks["text"].startswith("Thank you! Please reply")
    # ...both requests are edited in place, buttons gone (no new messages pile up)...
    updated = {c.args["ts"]: c.args["text"] for c in flows.fake.called("chat.update")}
    assert set(updated) == {mine.ts, theirs.ts}
    assert updated[mine.ts].startswith("You said you can help with:")
    assert updated[theirs.ts].startswith("Thanks — Daniel Okafor (Fairsmead Primary Academy) is helping")
    assert buttons(mine) == [] and buttons(theirs) == []
    assert [len(dm_posts(flows, e)) for e in (OKAFOR, OSEI)] == [1, 1]
    # ...and the asker hears by DM.
    [news] = dm_posts(flows, PEER)
    assert news.text.startswith("Good news: Daniel Okafor (Fairsmead Primary Academy) can help")


async def test_not_me_updates_the_request_in_place(flows: SlackHarness) -> None:
    await ask_about_maths(flows)
    [request] = dm_posts(flows, OSEI)
    await flows.press(OSEI, request, "referral.decline")
    await flows.settle()
    [update] = flows.fake.called("chat.update")
    assert update.args["ts"] == request.ts and update.args["channel"] == request.channel
    assert request.text.startswith("No problem — I'll ask someone else about:") and buttons(request) == []
    assert flows.fake.responses[-1]["text"] == "Thanks for letting me know — I'll ask someone else."
    assert [r.status for r in await rows(flows, Referral)][:2] == ["asked", "declined"]


# -- answers, "This answered it", keeping the answer --------------------------------------------
async def test_an_answer_in_the_thread_closes_the_question_and_goes_into_the_knowledge_base(
    flows: SlackHarness,
) -> None:
    ts = await ask_about_maths(flows)
    reply = "We run a weekly problem-solving club with Burford's SLE and enter the UKMT challenge."
    answer, _ = await flows.message(OKAFOR, reply, where="heads", thread=ts)
    assert answer.status == 200
    await flows.settle()
    # The asker is asked, by DM, whether it answered it.
    [did_it] = dm_posts(flows, PEER)
    assert did_it.text.startswith("Daniel Okafor (Fairsmead Primary Academy) replied to your question")
    assert buttons(did_it) == [("This answered it", "question.answered")]
    assert channel_posts(flows, "heads") == []  # the answer is the person's own message in the thread
    await flows.press(PEER, did_it, "question.answered")
    await flows.settle()
    [question] = await rows(flows, Question)
    assert (question.status, question.close_reason) == ("closed", "answered")
    # The answerer is asked (by DM, with buttons) whether to keep it; they agree.
    [consent] = [m for m in dm_posts(flows, OKAFOR) if "knowledge base" in m.text]
    assert buttons(consent) == [("Yes, keep it", "answer.share"), ("No thanks", "answer.keep")]
    await flows.press(OKAFOR, consent, "answer.share")
    await flows.settle()
    assert consent.text.startswith("Thank you — your answer to") and buttons(consent) == []  # edited in place
    assert flows.fake.responses[-1]["text"].startswith("Thank you — it's in the knowledge base now")
    [kept] = await rows(flows, Answer)
    assert kept.kb_consent == "yes" and kept.kb_entry_id is not None
    # ...and the next person to search finds it.
    await flows.message(HEAD, "kb maths enrichment problem-solving club")
    await flows.settle()
    [found] = dm_posts(flows, HEAD)
    assert found.text.startswith("From the knowledge base") and "problem-solving club" in found.text


# -- the knowledge base ---------------------------------------------------------------------------
POLICY = (
    b"# Attendance policy\n\nAdopted: 2026-09-01\nReview date: 2027-09-01\n\n"
    b"Parents telephone the school office by 9.15am on each day of absence. "
    b"Pupils below 90% attendance are invited with their parents to a meeting with the education welfare officer.\n"
)


async def test_a_file_shared_through_the_form_is_added_then_found_and_opened(flows: SlackHarness) -> None:
    await flows.command(HEAD, "kb add")
    await flows.settle()
    [form] = flows.fake.modals
    policy = flows.fake.host_file("attendance-policy.md", POLICY, mimetype="text/markdown")
    answer = await flows.submit(HEAD, form, text="Oakfield attendance policy", files=[policy])
    assert (answer.status, answer.text) == (200, "")
    await flows.settle()
    [added] = dm_posts(flows, HEAD)  # a form has no channel: the answer comes by DM
    assert added.text.startswith("Added Oakfield attendance policy (policy, #")
    assert "I'll remind you to review it by 1 September 2027" in added.text
    assert buttons(added) == [("Open", "kb.open")]
    [entry] = await rows(flows, KbEntry)
    assert entry.kind == "policy" and "9.15am" in entry.text
    # Someone else searches from a channel, and opens the result.
    await flows.command(PEER, "kb attendance policy", where="heads")
    await flows.settle()
    results = flows.fake.responses[-1]
    assert results["response_type"] == "ephemeral" and "Oakfield attendance policy" in results["text"]
    assert buttons(results)[0] == ("Open 1", "kb.open")
    shown = Posted(CHANNELS["heads"], "1764000000.000001", results["text"], results["blocks"])
    await flows.press(PEER, shown, "kb.open", ephemeral=True)
    await flows.settle()
    opened = flows.fake.responses[-1]
    assert opened["response_type"] == "ephemeral" and "telephone the school office by 9.15am" in opened["text"]


async def test_a_file_sent_to_the_bot_in_a_dm_with_kb_add_is_added(flows: SlackHarness) -> None:
    policy = flows.fake.host_file("attendance-policy.md", POLICY, mimetype="text/markdown")
    await flows.message(HEAD, "kb add policy", files=[policy])
    await flows.settle()
    [added] = dm_posts(flows, HEAD)
    assert added.text.startswith("Added Attendance policy (policy, #")
    [download] = flows.fake.called("files.download")
    assert download.args["file"] == policy["id"]


# -- meetings: the poll, the agenda, the booking, RSVPs, actions ----------------------------------
async def open_the_poll(flows: SlackHarness) -> Posted:
    result = await sweep(flows.bot)
    assert result.opened == 1
    await flows.settle()
    [poll] = channel_posts(flows, "heads")
    return poll


async def test_the_meeting_poll_is_buttons_and_a_vote_updates_it_in_place(flows: SlackHarness) -> None:
    poll = await open_the_poll(flows)
    assert "which dates can you make" in poll.text
    dates = [b for b in buttons(poll) if b[1] == "meeting.vote"]
    assert [label for label, _ in dates] == ["Wed 2 Dec, 09:30", "Wed 9 Dec, 09:30"]
    first = next(e["value"] for b in poll.blocks if b["type"] == "actions" for e in b["elements"])
    answer = await flows.press(PEER, poll, "meeting.vote", value=first)
    assert answer.status == 200
    await flows.settle()
    told = flows.fake.responses[-1]
    assert told["response_type"] == "ephemeral" and told["text"].startswith("Thanks — you can make: Wed 2 Dec")
    [update] = flows.fake.called("chat.update")
    assert update.args["ts"] == poll.ts and "1 can make it" in poll.text
    assert len(channel_posts(flows, "heads")) == 1  # updated, not posted again
    # Someone outside the heads group cannot vote, and is told so privately.
    await flows.press(SENCO, poll, "meeting.vote")
    await flows.settle()
    assert "not in it" in flows.fake.responses[-1]["text"] and len(flows.fake.called("chat.update")) == 1


async def test_agenda_and_actions_from_slash_commands(flows: SlackHarness) -> None:
    await open_the_poll(flows)
    for who, text in (
        (PEER, "agenda add Phonics moderation across the cluster"),
        (HEAD, "agenda"),
        (HEAD, "action add Karen Lloyd by 15 Jan: share the attendance plan"),
        (PEER, "actions mine"),
    ):
        await flows.command(who, text, where="heads")
        await flows.settle()  # one after the other: answers to concurrent commands come in any order
    added, agenda, action, mine = (r["text"] for r in flows.fake.responses)
    assert added.startswith("Added to the Heads meeting — Autumn 2 agenda as item 1.")
    assert agenda.startswith("Heads meeting — Autumn 2 (date not yet booked)") and "Phonics moderation" in agenda
    assert action.startswith("Added action 1 for Karen Lloyd, review on")
    assert "share the attendance plan — Karen Lloyd (Hollybrook Infant and Nursery School)" in mine
    assert all(r["response_type"] == "ephemeral" for r in flows.fake.responses)
    assert flows.fake.ephemerals == [] and len(channel_posts(flows, "heads")) == 1  # only the poll


async def test_the_booked_meeting_brings_an_invite_and_rsvp_buttons(flows: SlackHarness) -> None:
    poll = await open_the_poll(flows)
    later = next(e["value"] for b in poll.blocks if b["type"] == "actions" for e in b["elements"][1:])
    for who in (PEER, HEAD, "m.kowalski@stmarys.sch.uk"):
        await flows.press(who, poll, "meeting.vote", value=later)
    await flows.settle()
    clock_of(flows).advance(timedelta(days=2, hours=1))
    await sweep(flows.bot)
    await flows.settle()
    booked = next(m for m in channel_posts(flows, "heads") if "booked for" in m.text)
    assert "Wed 9 Dec, 09:30–11:30" in booked.text
    assert buttons(booked) == [("I'll be there", "meeting.rsvp"), ("Can't make it", "meeting.rsvp")]
    [invite] = [u for u in flows.fake.uploads.values() if u["shared"]]
    assert invite["name"].endswith(".ics") and invite["shared"] == [CHANNELS["heads"]]
    assert invite["data"].startswith(b"BEGIN:VCALENDAR")
    assert "the poll has closed" in poll.text and [b for b in buttons(poll) if b[1] == "meeting.vote"] == []
    await flows.press(PEER, booked, "meeting.rsvp")
    await flows.settle()
    rsvp = flows.fake.responses[-1]
    assert rsvp["response_type"] == "ephemeral" and rsvp["text"].startswith("Thanks — you're down as coming")
    [meeting] = [m for m in await rows(flows, Meeting) if m.status == "booked"]
    assert meeting.group_name == "heads"


# -- the App Home ------------------------------------------------------------------------------
def home_of(flows: SlackHarness, email: str) -> dict[str, Any]:
    return flows.fake.views[flows.uid(email)]


def home_sections(view: dict[str, Any]) -> dict[str, str]:
    """Each header's text → the text of the sections under it."""
    sections: dict[str, str] = {}
    title = ""
    for block in view["blocks"]:
        if block["type"] == "header":
            title = block["text"]["text"]
            sections[title] = ""
        elif block["type"] == "section":
            sections[title] += block["text"]["text"]
    return sections


async def test_the_app_home_shows_the_real_sections_and_its_buttons_work(flows: SlackHarness) -> None:
    await ask_about_maths(flows)
    await open_the_poll(flows)
    await flows.event("event_app_home_opened", USER=flows.uid(OKAFOR))
    await flows.event("event_app_home_opened", USER=flows.uid(PEER))
    await flows.settle()
    helper = home_sections(home_of(flows, OKAFOR))
    assert list(helper) == [
        "Test Network",
        "Your open questions",
        "Requests waiting for you",
        "Meetings and actions",
        "Fairsmead Primary Academy's strengths",
    ]
    assert (
        "Karen Lloyd (Hollybrook Infant and Nursery School): “How do other schools run maths"
        in (helper["Requests waiting for you"])
    )
    assert "Heads meeting — Autumn 2" in helper["Meetings and actions"]
    assert "SLE for mathematics (upper key stage 2)" in helper["Fairsmead Primary Academy's strengths"]
    asker = home_sections(home_of(flows, PEER))
    assert "waiting for a peer" in asker["Your open questions"]
    # "I can help" pressed on the Home tab: accepted, thanks by DM, the Home redrawn.
    view = home_of(flows, OKAFOR)
    [accept] = [
        e
        for b in view["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"].startswith("referral.accept")
    ]
    answer = await flows.press_home(OKAFOR, accept)
    assert answer.status == 200
    await flows.settle()
    [request, thanks] = dm_posts(flows, OKAFOR)
    assert request.text.startswith("You said you can help with:")  # the request itself, edited in place
    assert thanks.text.startswith("Thank you! Please reply in the question's thread")
    redrawn = home_sections(home_of(flows, OKAFOR))
    assert "No requests are waiting for you." in redrawn["Requests waiting for you"]


# -- privacy: the hold for pupil details, and the DSL channel ------------------------------------
async def test_a_question_with_a_pupil_s_details_is_held_with_a_private_warning(flows: SlackHarness) -> None:
    text = "How do you improve attendance for Jamie Smith, born 03/04/2016, who is persistently absent?"
    _, ts = await flows.message(PEER, text, where="heads")
    await flows.settle()
    [warning] = flows.fake.ephemerals
    assert warning["channel"] == CHANNELS["heads"] and warning["user"] == flows.uid(PEER)
    assert warning["text"].startswith("I've held your question back:") and "Jamie" not in warning["text"]
    assert buttons(warning) == [
        ("Send without those details", "question.send"),
        ("I'll rephrase it", "question.withdraw"),
    ]
    # Nothing went to anyone, and the pupil's details were kept nowhere.
    assert dm_receivers(flows) == set() and channel_posts(flows, "heads") == []
    [question] = await rows(flows, Question)
    assert question.status == "held" and "Jamie" not in question.text and "03/04/2016" not in question.text
    # The asker sends it on without the details: peers get the redacted question.
    await flows.press(PEER, as_posted(warning, ts), "question.send", ephemeral=True)
    await flows.settle()
    assert flows.fake.responses[-1]["text"].startswith("Thanks — I've asked")
    received = [m for m in flows.fake.messages if m.user == BOT_USER]
    assert received and all("Jamie" not in m.text and "03/04/2016" not in m.text for m in received)
    assert dm_receivers(flows)


async def test_a_dsl_question_reaches_only_dsl_peers_and_its_text_stays_in_the_group(flows: SlackHarness) -> None:
    text = "How do you organise supervision for your designated safeguarding leads?"
    _, ts = await flows.message(DSL, text, where="dsl")  # Tom Birch, Oakfield's DSL
    await flows.settle()
    # The DM goes to a DSL from another school (Fairsmead offers DSL supervision), nobody else.
    hart = "l.hart@fairsmead.sch.uk"
    assert dm_receivers(flows) == {hart}
    async with flows.bot.db.session() as session:
        peer = await store.person_by_email(session, flows.bot.network_id, hart)
        assert peer is not None and "dsl" in peer.roles and peer.school.name != "Oakfield Primary School"
    # The question's words went out only in that DM: no other channel, no other person.
    [request] = dm_posts(flows, hart)
    assert text in request.text
    for call in flows.fake.calls:
        if "supervision for your designated" in json.dumps(call.args):
            assert (call.method, call.args["channel"]) == ("chat.postMessage", request.channel)
    assert [(e["channel"], e["user"]) for e in flows.fake.ephemerals] == [(CHANNELS["dsl"], flows.uid(DSL))]
    # She helps and answers in the DSL thread; the asker hears by DM; still nobody else.
    await flows.press(hart, request, "referral.accept")
    await flows.message(hart, "Monthly, with an external supervisor.", where="dsl", thread=ts)
    await flows.settle()
    assert dm_receivers(flows) == {hart, DSL}
    allowed = {CHANNELS["dsl"], *(flows.fake.dm_channel(flows.uid(e)) for e in (hart, DSL))}
    assert {m.channel for m in flows.fake.messages if m.user == BOT_USER} <= allowed
    # Never unfurled: a link to the DSL thread shows nothing wherever it is pasted.
    for call in flows.fake.called("chat.postMessage"):
        assert call.args["unfurl_links"] is False and call.args["unfurl_media"] is False


# -- nobody's words become a ping ------------------------------------------------------------------
async def test_a_question_smuggling_a_channel_ping_reaches_nobody_as_a_ping(flows: SlackHarness) -> None:
    # Slack sends a typed "<!channel>" as entities; decoded, it must not go back out live.
    answer = await flows.command(PEER, "ask &lt;!channel&gt; how do you run maths enrichment for able pupils in KS2?")
    assert answer.status == 200
    await flows.settle()
    posted = [c for c in flows.fake.calls if c.method in ("chat.postMessage", "chat.postEphemeral", "chat.update")]
    assert any(c.args["channel"] == CHANNELS["heads"] for c in posted)  # it was posted in #heads...
    assert dm_receivers(flows)  # ...and sent to peers
    everything = json.dumps([c.args for c in posted] + flows.fake.responses)
    assert "<!channel>" not in everything and "&lt;!channel&gt;" in everything
