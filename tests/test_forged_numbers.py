"""Numbers that are not numbers: a forged button value or a typed id that ``str.isdigit``
accepts but ``int`` refuses ("²"), one too long for ``int`` to read, or one too big for the
database's integer columns, gets a polite answer from every button and numbered command —
never "something went wrong on my side" — and changes nothing."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.cli import main
from bot.events import ButtonPressed, Place, Sender
from bot.models import AdminLog, Question
from bot.numbers import MAX_ID, whole_number
from tests.support.chat import Chat, texts

CONVENOR = "p.shah@oakfield.sch.uk"  # Oakfield's head and the network's convenor
CRASHED = "something went wrong on my side"
FORGED = ["²", "①", "٣", "9" * 5000, str(2**31), str(2**63), "99999999999999999999", "-1", "1.5", " 7", "", "1,²"]
FORGED += ["1:²:3", "1:99999999999999:1", "1:253402300799:253402300800", "1:yes", "²:yes"]  # meeting buttons' shapes


@pytest.mark.parametrize(
    ("text", "most", "expected"),
    [
        ("12", MAX_ID, 12),
        ("0", MAX_ID, 0),
        (str(MAX_ID), MAX_ID, MAX_ID),
        (str(MAX_ID + 1), MAX_ID, None),
        ("²", MAX_ID, None),
        ("٣", MAX_ID, None),  # a digit of another script: not what any id or count here is written in
        ("9" * 5000, MAX_ID, None),
        ("-1", MAX_ID, None),
        ("+1", MAX_ID, None),
        (" 1", MAX_ID, None),
        ("1_000", MAX_ID, None),
        ("", MAX_ID, None),
        ("18446744073709551615", 2**64 - 1, 2**64 - 1),
    ],
)
def test_whole_number_reads_ascii_digits_within_bounds(text: str, most: int, expected: int | None) -> None:
    assert whole_number(text, most=most) == expected


async def test_every_button_answers_forged_numbers_politely_and_changes_nothing(chat: Chat) -> None:
    actions = sorted(chat.bot.registry.buttons)
    assert len(actions) >= 15  # the real registry, not an empty one
    before = await _counts(chat)
    for action in actions:
        for value in FORGED:
            event = ButtonPressed(
                sender=Sender(platform="console", user_id=CONVENOR),
                place=Place(platform="console", channel_id="dm:x", is_direct=True),
                event_id=uuid.uuid4().hex,
                action=action,
                value=value,
            )
            replies = texts(await chat.send_event(event))
            assert not any(CRASHED in r for r in replies), (action, value[:20], replies)
    assert await _counts(chat) == before


@pytest.mark.parametrize(
    "command",
    [
        "kb show {n}",
        "kb update {n}: new text",
        "meetings book {n} 2",
        "meetings book 1 {n}",
        "meetings close {n}",
        "meetings cancel {n}",
        "agenda remove {n}",
        "actions done {n}",
        "actions owner {n} Priya Shah",
        "audit remove strength {n}",
        "audit remove need {n}",
    ],
)
async def test_numbered_commands_answer_forged_numbers_politely(chat: Chat, command: str) -> None:
    before = await _counts(chat)
    for value in FORGED:
        if not value.strip():
            continue
        replies = texts(await chat.say(CONVENOR, command.format(n=value)))
        assert replies and not any(CRASHED in r for r in replies), (command, value[:20], replies)
    assert await _counts(chat) == before


async def _counts(chat: Chat) -> tuple[int | None, int | None]:
    async with chat.bot.db.session() as session:
        return (
            await session.scalar(select(func.count()).select_from(Question)),
            await session.scalar(select(func.count()).select_from(AdminLog)),
        )


@pytest.mark.parametrize(
    "argv",
    [
        ["meetings", "book", "99999999999", "--option", "1"],
        ["meetings", "cancel", "²"],
        ["meetings", "close", "9" * 5000],
        ["actions", "done", str(MAX_ID + 1)],
        ["actions", "update", "-3", "--notes", "x"],
        ["outbox", "retry", "99999999999"],
        ["audit", "plan", "--need", "99999999999"],
    ],
)
def test_a_row_number_on_the_command_line_that_no_row_can_have_is_bad_input(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "peerbot.toml"
    config.write_text('[network]\nname = "CLI Network"\n', encoding="utf-8")
    with pytest.raises(SystemExit) as exited:
        main(["--config", str(config), *argv])
    out, err = capsys.readouterr()
    assert exited.value.code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and "is not a number from 0 to 2,147,483,647" in err
