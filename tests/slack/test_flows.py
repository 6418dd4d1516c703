"""End-to-end flows through HTTP mode: signed requests in, Web API calls out."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import func, select

from adapters.slack.manifest import BOT_EVENTS
from bot.models import OutboxMessage, SeenEvent
from bot.replies import Message, ToGroup
from tests.slack.conftest import DSL, HEAD, PEER, SENCO, STRANGER
from tests.slack.harness import CHANNELS, UNMAPPED, SlackHarness, fixture, manual_throttle
from tests.support.slack import BOT_USER


def dm(slack: SlackHarness, email: str) -> str:
    channel = slack.fake.dm_channel(slack.uid(email))
    assert channel is not None
    return channel


def bot_posts(slack: SlackHarness, channel: str) -> list:  # type: ignore[type-arg]
    return [m for m in slack.fake.posted(channel) if m.user == BOT_USER and not m.files]


async def count(slack: SlackHarness, model: type) -> int:
    async with slack.bot.db.session() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def test_a_dm_command_is_answered_in_the_dm(slack: SlackHarness) -> None:
    answer, _ = await slack.message(HEAD, "whoami")
    assert answer.status == 200
    await slack.settle()
    [posted] = bot_posts(slack, dm(slack, HEAD))
    assert "You are *Priya Shah*" in posted.blocks[0]["text"]["text"]
    assert posted.text.startswith("You are Priya Shah")  # the notification text has no markup


async def test_one_auth_test_however_many_requests_arrive_at_once(slack: SlackHarness) -> None:
    time_ = manual_throttle(slack)  # the throttle's clock only moves when the test moves it
    await asyncio.gather(*(slack.message(HEAD, f"shout {n}", where="heads", mention=True) for n in range(16)))
    await slack.settle()
    assert len(slack.fake.called("auth.test")) == 1  # at start, not per request
    assert len(bot_posts(slack, CHANNELS["heads"])) == 16
    # Sixteen public answers in one channel at once are paced at one a second after a
    # burst of three: the fourth waits a second, the sixteenth thirteen.
    assert sorted(time_.slept) == [float(n) for n in range(1, 14)]


async def test_slack_is_answered_before_the_slow_work(slack: SlackHarness) -> None:
    slack.fake.hold = asyncio.Event()  # Slack's Web API (and response URLs) answer nothing yet
    answer = await slack.command(HEAD, "whoami")
    event, _ = await slack.message(HEAD, "whoami", where="heads", mention=True)
    # Both were acknowledged while the work behind them could not have finished.
    assert (answer.status, event.status) == (200, 200)
    assert slack.adapter.inbox.pending == 2 and slack.fake.responses == [] and slack.fake.ephemerals == []
    slack.fake.hold.set()
    await slack.settle()
    assert len(slack.fake.responses) == 1 and len(slack.fake.ephemerals) == 1


async def test_when_full_events_get_503_and_commands_a_polite_busy(slack: SlackHarness) -> None:
    slack.adapter.inbox.limit = 0  # slack.queue_limit events waiting in the inbox
    answer, _ = await slack.message(HEAD, "whoami")
    assert answer.status == 503  # Slack delivers it again later
    command = await slack.command(HEAD, "whoami")
    assert (command.status, command.text) == (200, "Sorry — I'm very busy just now. Please try again in a minute.")


async def test_a_button_pressed_while_busy_is_answered_politely_not_with_an_error(slack: SlackHarness) -> None:
    await slack.command(HEAD, f"offer {PEER}")
    await slack.settle()
    [request] = bot_posts(slack, dm(slack, PEER))
    slack.adapter.inbox.limit = 0
    answer = await slack.press(PEER, request, "test.take")
    assert answer.status == 200  # not a 503: Slack would only show its own "something went wrong"
    await slack.settle()
    busy = slack.fake.responses[-1]
    assert busy["text"] == "Sorry — I'm very busy just now. Please try again in a minute."
    assert busy["response_type"] == "ephemeral" and busy["replace_original"] is False
    assert request.text == "Can you help with phonics?" and slack.fake.called("chat.update") == []
    # A press on the App Home (which has no response_url) is told in the person's DM.
    await slack.press_home(PEER, {"action_id": "test.home:0", "text": {"text": "Look"}, "value": "42"})
    await slack.settle()
    assert bot_posts(slack, dm(slack, PEER))[-1].text == "Sorry — I'm very busy just now. Please try again in a minute."


async def test_a_mention_in_a_channel_runs_the_command_privately(slack: SlackHarness) -> None:
    answer, _ = await slack.message(HEAD, "strengths oakfield", where="heads", mention=True)
    assert answer.status == 200
    await slack.settle()
    [ephemeral] = slack.fake.ephemerals
    assert ephemeral["channel"] == CHANNELS["heads"] and ephemeral["user"] == slack.uid(HEAD)
    assert "Phonics scheme rollout" in ephemeral["text"]
    assert bot_posts(slack, CHANNELS["heads"]) == []


async def test_slash_commands_answer_through_the_response_url(slack: SlackHarness) -> None:
    answer = await slack.command(HEAD, "needs greensbury", where="heads")
    assert (answer.status, answer.text) == (200, "")
    await slack.settle()
    [response] = slack.fake.responses
    assert response["response_type"] == "ephemeral" and response["replace_original"] is False
    assert "*Greensbury Special School*" in response["blocks"][0]["text"]["text"]
    assert slack.fake.ephemerals == [] and bot_posts(slack, CHANNELS["heads"]) == []


async def test_a_bare_slash_command_shows_help(slack: SlackHarness) -> None:
    await slack.command(HEAD, "")
    await slack.settle()
    [response] = slack.fake.responses
    text = response["blocks"][0]["text"]["text"]
    assert text.startswith("*peerbot* — the Test Network network's assistant") and "• *whoami* —" in text


async def test_a_slash_command_mentioning_payload_is_not_lost(slack: SlackHarness) -> None:
    # Bolt reads any form body containing "payload" as an interaction: fixed in bolt_request.
    answer = await slack.command(HEAD, "kb payload policy")
    assert answer.status == 200
    payload = slack.command_payload(HEAD, "whoami", where=UNMAPPED)
    payload["channel_name"] = "payload-team"
    answer = await slack.deliver("slash_commands", payload)
    assert answer.status == 200
    await slack.settle()
    kb, whoami = sorted((r["text"] for r in slack.fake.responses), key=lambda t: not t.startswith("kb"))
    assert kb == "kb [payload policy] files []" and "Priya Shah" in whoami  # (two conversations: any order)


async def test_a_question_in_a_group_channel_is_answered_in_its_thread(slack: SlackHarness) -> None:
    answer, ts = await slack.message(HEAD, "Q: how do you run phonics catch-up?", where="heads")
    assert answer.status == 200
    await slack.settle()
    replies = bot_posts(slack, CHANNELS["heads"])
    assert [(m.text, m.thread_ts) for m in replies] == [
        ("Thanks — I'll find someone.", ts),
        ("Follow-up about: Q: how do you run phonics catch-up?", ts),
    ]
    assert replies[1].metadata == {"event_type": "peerbot_outbox", "event_payload": {"key": f"q:{ts}"}}
    [note] = slack.fake.ephemerals
    assert note["user"] == slack.uid(HEAD) and note["text"] == "Only you can see this: noted in heads."
    assert "thread_ts" not in note  # a top-level message's private note shows in the channel


async def test_replies_in_a_thread_reach_thread_handlers(slack: SlackHarness) -> None:
    _, root = await slack.message(HEAD, "Q: anyone?", where="heads")
    await slack.settle()
    await slack.message(PEER, "A: we use a tutor", where="heads", thread=root)
    await slack.settle()
    note = slack.fake.ephemerals[-1]
    assert note["text"] == "Answer noted." and note["thread_ts"] == root and note["user"] == slack.uid(PEER)


async def test_a_dm_with_buttons_is_sent_once_and_updated_in_place(slack: SlackHarness) -> None:
    await slack.command(HEAD, f"offer {PEER}")
    await slack.settle()
    assert [c.args["users"] for c in slack.fake.called("conversations.open")] == [slack.uid(PEER)]
    [request] = bot_posts(slack, dm(slack, PEER))
    assert request.text == "Can you help with phonics?"
    assert request.metadata == {"event_type": "peerbot_outbox", "event_payload": {"key": "offer:7"}}
    [actions] = [b for b in request.blocks if b["type"] == "actions"]
    assert [(e["action_id"], e.get("value"), e.get("style")) for e in actions["elements"]] == [
        ("test.take:0", "7", "primary"),
        ("test.nope:1", "7", None),
    ]
    answer = await slack.press(PEER, request, "test.take")
    assert answer.status == 200
    await slack.settle()
    assert request.text == "Taken by Karen Lloyd." and [b["type"] for b in request.blocks] == ["section"]
    [update] = slack.fake.called("chat.update")
    assert update.args["ts"] == request.ts
    assert slack.fake.responses[-1]["text"] == "Thanks — over to you."
    assert slack.fake.responses[-1]["response_type"] == "ephemeral"


async def test_a_public_answer_to_a_button_goes_in_the_conversation(slack: SlackHarness) -> None:
    await slack.command(HEAD, f"offer {PEER}")
    await slack.settle()
    [request] = bot_posts(slack, dm(slack, PEER))
    await slack.press(PEER, request, "test.nope")
    await slack.settle()
    assert bot_posts(slack, dm(slack, PEER))[-1].text == "Noted (7)."


async def test_group_posts_carry_every_button_and_the_file(slack: SlackHarness) -> None:
    await slack.command(HEAD, "announce heads")
    await slack.settle()
    [poll] = bot_posts(slack, CHANNELS["heads"])
    actions = [b for b in poll.blocks if b["type"] == "actions"]
    assert [len(b["elements"]) for b in actions] == [25, 5]
    ids = [e["action_id"] for b in actions for e in b["elements"]]
    assert len(set(ids)) == 30 and ids[29] == "test.vote:29"
    [upload] = slack.fake.uploads.values()
    assert upload["name"] == "meeting.ics" and upload["data"].startswith(b"BEGIN:VCALENDAR")
    assert upload["shared"] == [CHANNELS["heads"]]
    await slack.press(SENCO, poll, "test.vote")
    await slack.settle()
    assert slack.fake.responses[-1]["text"] == "vote 0"


async def test_a_private_reply_with_a_file_goes_to_the_dm(slack: SlackHarness) -> None:
    await slack.command(HEAD, "invite", where="heads")
    await slack.settle()
    [sent] = bot_posts(slack, dm(slack, HEAD))
    assert sent.text == "Here is the invite."
    [upload] = slack.fake.uploads.values()
    assert upload["shared"] == [dm(slack, HEAD)]
    assert slack.fake.responses == []


async def test_a_public_reply_with_a_file_goes_to_the_channel(slack: SlackHarness) -> None:
    await slack.command(HEAD, "invite public", where="heads")
    await slack.settle()
    [response] = slack.fake.responses
    assert response["response_type"] == "in_channel"
    [upload] = slack.fake.uploads.values()
    assert upload["shared"] == [CHANNELS["heads"]]


async def test_the_app_home_shows_the_core_sections(slack: SlackHarness) -> None:
    answer = await slack.event("event_app_home_opened", USER=slack.uid(SENCO))
    assert answer.status == 200
    await slack.settle()
    view = slack.fake.views[slack.uid(SENCO)]
    headers = [b["text"]["text"] for b in view["blocks"] if b["type"] == "header"]
    assert headers == ["Test Network", "Waiting for you", "Oakfield Primary School's strengths"]
    sections = [b["text"]["text"] for b in view["blocks"] if b["type"] == "section"]
    assert "• Phonics scheme rollout and early reading" in "\n".join(sections)
    shortcuts = next(b for b in view["blocks"] if b.get("block_id") == "pb-shortcuts")
    assert [e["value"] for e in shortcuts["elements"]] == ["ask", "kb", "kb-add"]


async def test_strangers_see_a_polite_home(slack: SlackHarness) -> None:
    await slack.event("event_app_home_opened", USER=STRANGER)
    await slack.settle()
    view = slack.fake.views[STRANGER]
    assert "don't have you on the network's list" in view["blocks"][0]["text"]["text"]
    assert "Oakfield" not in json.dumps(view)


async def test_a_home_button_answers_by_dm_and_redraws_the_home(slack: SlackHarness) -> None:
    await slack.event("event_app_home_opened", USER=slack.uid(SENCO))
    await slack.settle()
    view = slack.fake.views[slack.uid(SENCO)]
    look = next(
        e for b in view["blocks"] if b["type"] == "actions" for e in b["elements"] if "test.home" in e["action_id"]
    )
    answer = await slack.press_home(SENCO, look)
    assert answer.status == 200
    await slack.settle()
    assert [m.text for m in bot_posts(slack, dm(slack, SENCO))] == ["home button 42"]
    assert len(slack.fake.called("views.publish")) == 2


async def test_a_home_shortcut_opens_a_form_whose_answer_runs_the_command(slack: SlackHarness) -> None:
    await slack.event("event_app_home_opened", USER=slack.uid(HEAD))
    await slack.settle()
    view = slack.fake.views[slack.uid(HEAD)]
    shortcuts = next(b for b in view["blocks"] if b.get("block_id") == "pb-shortcuts")
    await slack.press_home(HEAD, shortcuts["elements"][0])
    await slack.settle()
    [modal] = slack.fake.modals
    assert modal["title"]["text"] == "Ask the network"
    answer = await slack.submit(HEAD, modal, text="How do you staff the nurture group?")
    assert (answer.status, answer.text) == (200, "")
    await slack.settle()
    assert [m.text for m in bot_posts(slack, dm(slack, HEAD))] == [
        "asked [How do you staff the nurture group?] in [None]"
    ]


async def test_a_bare_ask_in_a_channel_opens_a_form_that_asks_in_that_channel(slack: SlackHarness) -> None:
    await slack.command(SENCO, "ask", where="senco")
    await slack.settle()
    [modal] = slack.fake.modals
    assert json.loads(modal["private_metadata"]) == {"s": "ask", "c": CHANNELS["senco"], "d": False}
    await slack.submit(SENCO, modal, text="EHCP annual reviews: who chairs?")
    await slack.settle()
    [note] = slack.fake.ephemerals
    assert note["channel"] == CHANNELS["senco"]
    assert note["text"] == "asked [EHCP annual reviews: who chairs?] in [senco]"


async def test_asking_anonymously_is_a_tick_box(slack: SlackHarness) -> None:
    await slack.command(HEAD, "ask")
    await slack.settle()
    [modal] = slack.fake.modals
    assert [b["block_id"] for b in modal["blocks"]] == ["text", "option"]
    payload = fixture("view_submission", USER=slack.uid(HEAD), TRIGGER="t-anon", METADATA=modal["private_metadata"])
    payload["view"]["state"]["values"] = {
        "text": {"text": {"type": "plain_text_input", "value": "Who has a good EBSA plan?"}},
        "option": {"option": {"type": "checkboxes", "selected_options": [{"value": "anonymously"}]}},
    }
    await slack.deliver("interactive", payload)
    await slack.settle()
    assert [m.text for m in bot_posts(slack, dm(slack, HEAD))] == [
        "asked [anonymously Who has a good EBSA plan?] in [None]"
    ]


async def test_an_expired_form_trigger_explains_what_to_type(slack: SlackHarness) -> None:
    payload = slack.command_payload(HEAD, "ask")
    payload["trigger_id"] = "expired.123"
    await slack.deliver("slash_commands", payload)
    await slack.settle()
    assert "`/peerbot ask ...`" in slack.fake.responses[-1]["text"]


async def test_a_file_shared_through_the_form_is_downloaded_with_the_bot_token(slack: SlackHarness) -> None:
    await slack.command(HEAD, "kb add")
    await slack.settle()
    [modal] = slack.fake.modals
    assert [b["block_id"] for b in modal["blocks"]] == ["file", "text"]
    policy = slack.fake.host_file("attendance.docx", b"PK\x03\x04 policy bytes")
    await slack.submit(HEAD, modal, text="Attendance policy", files=[policy])
    await slack.settle()
    [sent] = bot_posts(slack, dm(slack, HEAD))
    assert sent.text == "kb [add Attendance policy] files [attendance.docx=17:b'PK\\x03\\x04 policy ']"


async def test_a_form_with_a_file_too_big_is_refused_in_the_form(slack: SlackHarness) -> None:
    await slack.command(HEAD, "kb add")
    await slack.settle()
    [modal] = slack.fake.modals
    huge = slack.fake.host_file("big.pdf", b"x")
    huge["size"] = 30 * 1024 * 1024
    answer = await slack.submit(HEAD, modal, text="Big", files=[huge])
    assert answer.status == 200
    assert answer.json() == {
        "response_action": "errors",
        "errors": {"file": "big.pdf is 30 MB: the limit is 20 MB. Nothing was shared."},
    }
    await slack.settle()
    assert bot_posts(slack, dm(slack, HEAD)) == [] and slack.fake.called("files.download") == []


async def test_a_file_sent_in_a_dm_reaches_the_command(slack: SlackHarness) -> None:
    policy = slack.fake.host_file("send-policy.pdf", b"%PDF-1.7 SEND policy")
    await slack.message(HEAD, "kb add SEND policy", files=[policy])
    await slack.settle()
    [sent] = bot_posts(slack, dm(slack, HEAD))
    assert sent.text == "kb [add SEND policy] files [send-policy.pdf=20:b'%PDF-1.7 SEN']"


async def test_a_file_too_big_is_refused_politely_and_nothing_runs(slack: SlackHarness) -> None:
    big = slack.fake.host_file("video.mp4", b"x" * 10)
    big["size"] = 25 * 1024 * 1024
    await slack.message(HEAD, "kb add video", files=[big])
    await slack.settle()
    [sent] = bot_posts(slack, dm(slack, HEAD))
    assert sent.text == "video.mp4 is too big for me (the limit is 20 MB), so I haven't kept it. Nothing was saved."
    assert await count(slack, SeenEvent) == 0


async def test_files_in_channel_chatter_are_not_fetched(slack: SlackHarness) -> None:
    photo = slack.fake.host_file("trip.jpg", b"\xff\xd8 jpeg")
    await slack.message(HEAD, "photos from the trip", where="heads", files=[photo])
    await slack.settle()
    assert slack.fake.called("files.download") == []


async def test_a_file_url_outside_slack_never_gets_the_token(slack: SlackHarness) -> None:
    evil = slack.fake.host_file("policy.pdf", b"%PDF")
    evil["url_private_download"] = evil["url_private"] = "https://attacker.example/steal.pdf"
    await slack.message(HEAD, "kb add", files=[evil])
    await slack.settle()
    [sent] = bot_posts(slack, dm(slack, HEAD))
    assert sent.text == "I couldn't fetch policy.pdf from Slack, so nothing was saved. Please try again."


async def test_someone_joining_a_group_channel_is_welcomed_privately(slack: SlackHarness) -> None:
    await slack.event("event_member_joined_channel", USER=slack.uid(DSL), CHANNEL=CHANNELS["dsl"])
    await slack.settle()
    [note] = slack.fake.ephemerals
    assert note["channel"] == CHANNELS["dsl"] and note["user"] == slack.uid(DSL)
    assert note["text"].startswith("Welcome to the dsl channel, Tom!")


async def test_the_bot_joining_a_channel_is_not_a_member_joining(slack: SlackHarness) -> None:
    await slack.event("event_member_joined_channel", USER=BOT_USER, CHANNEL=CHANNELS["dsl"])
    await slack.settle()
    assert slack.fake.ephemerals == [] and await count(slack, SeenEvent) == 0


async def test_strangers_get_a_polite_explanation_and_no_data(slack: SlackHarness) -> None:
    await slack.message("", "strengths", user=STRANGER)
    await slack.command(None, "network", user=STRANGER, where="heads")
    await slack.message("", "just chatting", user=STRANGER, where=UNMAPPED)
    await slack.settle()
    [dm_reply] = bot_posts(slack, slack.fake.dm_channel(STRANGER) or "")
    [command_reply] = slack.fake.responses
    for text in (dm_reply.text, command_reply["text"]):
        assert "don't have you on the network's list" in text and "Oakfield" not in text
    assert slack.fake.ephemerals == [] and bot_posts(slack, UNMAPPED) == []
    # In a network channel, a stranger's chatter is let be; a message the bot would act on
    # (here a question) gets the explanation, privately.
    await slack.message("", "hello all", user=STRANGER, where="heads")
    await slack.settle()
    assert slack.fake.ephemerals == []
    await slack.message("", "Q: does anyone have a uniform policy?", user=STRANGER, where="heads")
    await slack.settle()
    [note] = slack.fake.ephemerals
    assert note["user"] == STRANGER and "don't have you" in note["text"]
    assert bot_posts(slack, CHANNELS["heads"]) == []


async def test_a_huge_message_is_refused_and_nothing_is_stored(slack: SlackHarness) -> None:
    await slack.message(HEAD, "x" * 50_000)
    await slack.settle()
    [sent] = bot_posts(slack, dm(slack, HEAD))
    assert "too long" in sent.text and "50,000" in sent.text
    assert await count(slack, SeenEvent) == 0


async def test_noise_events_are_acknowledged_and_ignored(slack: SlackHarness) -> None:
    for name in ("event_message_changed", "event_bot_message", "event_channel_join", "event_reaction_added"):
        answer = await slack.event(name, USER=slack.uid(HEAD), CHANNEL=CHANNELS["heads"], TEXT="Q: not again")
        assert answer.status == 200, name
    await slack.settle()
    assert await count(slack, SeenEvent) == 0
    assert slack.fake.posted(CHANNELS["heads"]) == [] and slack.fake.ephemerals == []


async def test_every_kind_of_request_is_acknowledged_never_404(slack: SlackHarness) -> None:
    from tests.slack.harness import fixture

    shortcut = fixture("global_shortcut", USER=slack.uid(HEAD), TRIGGER="1.2.3")
    closed = fixture("view_closed", USER=slack.uid(HEAD))
    suggestion = {
        "type": "block_suggestion",
        "user": {"id": slack.uid(HEAD)},
        "team": {"id": "T0TEST0001"},
        "action_id": "menu:0",
        "block_id": "b",
        "value": "oak",
        "api_app_id": "A0APP00001",
    }
    for payload in (shortcut, closed, suggestion):
        answer = await slack.deliver("interactive", payload)
        assert answer.status == 200, payload["type"]
    other_view = fixture("view_submission", USER=slack.uid(HEAD), TRIGGER="t", METADATA="{}", VALUES={})
    other_view["view"]["callback_id"] = "someone_else"
    assert (await slack.deliver("interactive", other_view)).status == 200


async def test_every_event_the_manifest_subscribes_to_is_answered_200(slack: SlackHarness) -> None:
    """A real-shaped payload for each subscription: anything unhandled would be a 404,
    which Slack retries three times."""
    heads, dsl = CHANNELS["heads"], CHANNELS["dsl"]
    im = slack.fake._open_dm(slack.uid(HEAD))
    payloads: dict[str, tuple[str, dict[str, str]]] = {
        "app_home_opened": ("event_app_home_opened", {"USER": slack.uid(HEAD)}),
        "member_joined_channel": ("event_member_joined_channel", {"USER": slack.uid(DSL), "CHANNEL": dsl}),
        "message.channels": ("event_message", {"CHANNEL": heads, "CHANNEL_TYPE": "channel", "TEXT": "morning all"}),
        "message.groups": ("event_message", {"CHANNEL": dsl, "CHANNEL_TYPE": "group", "TEXT": "morning all"}),
        "message.im": ("event_message", {"CHANNEL": im, "CHANNEL_TYPE": "im", "TEXT": "whoami"}),
        # Last: these two stop sending until the app is fixed.
        "tokens_revoked": ("event_tokens_revoked", {}),
        "app_uninstalled": ("event_app_uninstalled", {}),
    }
    assert set(payloads) == set(BOT_EVENTS)  # a new subscription needs its payload here
    for event, (name, values) in payloads.items():
        answer = await slack.event(name, **{"USER": slack.uid(HEAD), "TEXT": "", **values})
        assert answer.status == 200, event
        await slack.settle()
    assert slack.adapter.work.failed == 0 and slack.adapter.work.done == 1  # the Home tab
    # The join and the DM; the two channels' chatter is answered without being kept (nobody wants it).
    assert slack.adapter.inbox.failed == 0 and slack.adapter.inbox.handled == 2
    assert slack.fake.views[slack.uid(HEAD)]["type"] == "home"
    [reply] = bot_posts(slack, im)
    assert reply.text.startswith("You are Priya Shah")


async def test_the_app_being_uninstalled_holds_messages_until_it_is_reinstalled(slack: SlackHarness) -> None:
    answer = await slack.event("event_app_uninstalled")
    assert answer.status == 200
    slack.fake.revoked = "token_revoked"  # what Slack answers once the app is gone
    assert slack.adapter.access.problem == "app_uninstalled"
    watcher = slack.adapter._watcher
    assert watcher is not None and not watcher.done()  # checking for a reinstall, patiently
    async with slack.bot.db.session() as session:
        await slack.bot.queue(session, ToGroup("heads"), Message(text="Agenda for Wednesday"), key="u:1")
    await slack.bot.deliverer.drain()
    async with slack.bot.db.session() as session:
        [row] = list((await session.execute(select(OutboxMessage))).scalars())
    assert row.status == "pending" and "Slack refused the bot token (app_uninstalled)" in (row.last_error or "")
    assert slack.fake.called("chat.postMessage") == []  # held without calling Slack
    slack.fake.revoked = None  # reinstalled
    assert await slack.adapter.refresh_identity()
    await slack.settle()
    assert [m.text for m in bot_posts(slack, CHANNELS["heads"])] == ["Agenda for Wednesday"]


async def test_url_verification_echoes_the_challenge(slack: SlackHarness) -> None:
    from tests.slack.harness import fixture

    answer = await slack.deliver("events_api", fixture("url_verification"))
    assert answer.status == 200
    assert answer.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}


async def test_a_reply_to_a_channel_peerbot_has_left_goes_to_the_dm(slack: SlackHarness) -> None:
    slack.fake.fail("chat.postEphemeral", "not_in_channel")
    await slack.message(HEAD, "whoami", where="heads", mention=True)
    await slack.settle()
    [sent] = bot_posts(slack, dm(slack, HEAD))
    assert sent.text.startswith("You are Priya Shah")


async def test_a_public_command_answer_in_a_channel(slack: SlackHarness) -> None:
    await slack.message(HEAD, "shout hello", where="heads", mention=True)
    await slack.settle()
    [posted] = bot_posts(slack, CHANNELS["heads"])
    assert posted.text == "shout hello" and posted.thread_ts is None


async def test_a_strangers_files_are_not_fetched(slack: SlackHarness) -> None:
    notes = slack.fake.host_file("notes.md", b"# Notes", mimetype="text/markdown")
    await slack.message("", "kb policy", user=STRANGER, files=[notes])
    await slack.settle()
    [reply] = bot_posts(slack, slack.fake.dm_channel(STRANGER) or "")
    assert "don't have you on the network's list" in reply.text
    assert slack.fake.called("files.download") == []
