"""Every command, typed with odd arguments by the convenor, answers politely:
never "something went wrong on my side" (a handler's unexpected error), whatever follows
the command word."""

from __future__ import annotations

from tests.support.chat import Chat, texts

CONVENOR = "p.shah@oakfield.sch.uk"
CRASHED = "something went wrong on my side"
ODD = [
    "",
    "9" * 400,
    "\u200b🙂",
    "add ²",
    "remove 99999999999",
    "owner 99999999999 Priya Shah",
    "add Priya Shah by 99999-01-01: something",
    "book 1 9999-12-31 23:59",
    "book 99999999999 2",
    "until 2026-13-45",
    "Hogwarts: add need flying",
    "update 1:",
]


async def test_every_command_answers_odd_arguments_politely(chat: Chat) -> None:
    names = sorted(chat.bot.registry.commands)
    assert len(names) >= 15
    for name in names:
        for rest in ODD:
            replies = texts(await chat.say(CONVENOR, f"{name} {rest}".strip()))  # the convenor may use every command
            assert not any(CRASHED in r for r in replies), (name, rest[:30], replies)
