"""Knowledge-base suggestions before routing show only entries the asker may see."""

from __future__ import annotations

from tests.support.chat import Chat

DSL = "t.birch@oakfield.sch.uk"  # deputy and DSL at Oakfield
HEAD_ONLY = "j.khan@marygreen.sch.uk"  # head at Marygreen, not a DSL
HEAD_AND_DSL = "m.kowalski@stmarys.sch.uk"  # head and DSL at St Mary's
QUESTION = "how do you handle lanyard concerns, do you log them on CPOMS?"


async def test_a_dsl_only_entry_is_not_suggested_to_someone_outside_the_dsl_group(chat: Chat) -> None:
    [offered] = await chat.command(
        DSL, "kb", "add answer Lanyard concerns: log them on CPOMS the same day.", where="dsl"
    )
    [added] = await chat.press(DSL, offered, "kb.publish")  # it names no one
    assert "Only the DSL group can see it" in added.text
    # A head who is not a DSL, asking in the DSL channel, is not shown it...
    [reply] = await chat.say(HEAD_ONLY, QUESTION, where="dsl")
    assert "Lanyard" not in reply.text and "knowledge base" not in reply.text
    # ...while a DSL asking the same, anywhere, is.
    [reply] = await chat.say(HEAD_AND_DSL, QUESTION, where="heads")
    assert "may already answer it" in reply.text and "**Lanyard concerns**" in reply.text
