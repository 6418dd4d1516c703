"""The console adapter's own handling of what is typed (the bot's answers are tested elsewhere)."""

from __future__ import annotations

import io

from adapters.console import ConsoleAdapter
from bot.app import PeerBot


async def typed(bot: PeerBot, lines: str) -> tuple[str, str]:
    """What the console printed for ``lines``, and what it left unread."""
    stdin, out = io.StringIO(lines), io.StringIO()
    console = ConsoleAdapter(bot, stdin=stdin, stdout=out, interactive=False)
    await console.prepare(identity="d.okafor@fairsmead.sch.uk")
    await console.run()
    return out.getvalue(), stdin.read()


async def test_typing_quit_leaves_the_console(demo_bot: PeerBot) -> None:
    for word in ["quit", "exit", "Quit", "EXIT.", "  quit  ", "/quit", "/q"]:
        printed, unread = await typed(demo_bot, f"whoami\n{word}\nhelp\n")
        assert unread == "help\n", word  # nothing after it was read
        assert "You are Daniel Okafor" in printed and "not sure" not in printed, word


async def test_a_sentence_with_quit_in_it_goes_to_the_bot(demo_bot: PeerBot) -> None:
    printed, unread = await typed(demo_bot, "how do you quit a multi-academy trust?\nhelp\n")
    assert unread == ""
    assert "quit a multi-academy trust" in printed
    assert "strengths [school or topic]" in printed  # "help" after it was answered
