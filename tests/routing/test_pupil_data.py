"""The pupil-data guard: what it finds, what it leaves alone, and that it never quotes."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.pupil_data import _TITLES, REMOVED, check, redact

TODAY = date(2026, 11, 23)


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("Jayden Smith in Y10 has been excluded twice", ["name"]),
        ("advice re Lily-Mae Cooper (Y3) please", ["name"]),
        ("can anyone advise on amelia hussain in year 8, she won't speak", ["name"]),
        ("DOB 14/02/2018, disclosure this morning", ["dob"]),
        ("date of birth 1 September 2017 - which year group?", ["dob"]),
        ("child born 03.05.2019 in reception", ["dob"]),
        ("UPN K801234567890 has the wrong school", ["upn"]),
        ("UPN is A20931 8845 221 - the CTF failed", ["upn"]),
        ("moved to 14 Brook Road and not told us", ["address"]),
        ("the foster placement is SE18 4LP", ["postcode"]),
        (
            "Tyler Johnson (Y4, DOB 12/03/2017) lives at 22 Orchard Close, RM13 7QT",
            ["name", "dob", "address", "postcode"],
        ),
    ],
)
def test_finds_pupil_data(text: str, kinds: list[str]) -> None:
    assert check(text, today=TODAY).kinds == kinds


@pytest.mark.parametrize(
    "text",
    [
        "morning all, how do you handle Y6 3rd time detentions?",
        "Has anyone used Little Wandle in Holly Class?",
        "our SENCO Sarah Jones is off - who covers EHCP reviews?",
        "Mr Smith our head says the KS2 3RD writing piece is fine",
        "a y9 who hasnt been in since 03/10/2026",
        "Willow Class are going to Kew Gardens on 12/06/2027",
        "it's a 10 minute walk to the park",
        "our pupil premium strategy for 2025 to 2028",
        "Summer Term data drop - what do governors want?",
        "Has anyone used Jane Porter for deep dives?",
    ],
)
def test_leaves_ordinary_questions_alone(text: str) -> None:
    assert not check(text, today=TODAY).found


def test_detail_and_flags_never_quote_the_data() -> None:
    result = check("Jayden Smith (DOB 12/03/2017)", today=TODAY)
    assert result.detail == "looks like a pupil's full name and a date of birth"
    assert result.flags() == [{"kind": "pupil-data", "detail": result.detail}]
    assert redact("Jayden Smith (Y4, DOB 12/03/2017) is biting") == f"{REMOVED} (Y4, DOB {REMOVED}) is biting"
    assert check("nothing here").flags() == []


names = st.sampled_from(["Jayden", "Olivia", "Mohammed", "Amelia", "Noah", "Isla"])
surnames = st.sampled_from(["Smith", "Khan", "O'Brien", "Nowak", "Okafor", "Jones"])
contexts = st.sampled_from(["in Y4", "(year 9)", "his mum", "a pupil", "our child", "in reception"])
filler = st.text(alphabet=st.characters(whitelist_categories=("Ll", "Zs")), max_size=40)
# A title just before a name ("Mr Jayden Smith") marks an adult by design: keep it out of the prefix.
prefix = filler.filter(lambda t: not t.split() or t.split()[-1].rstrip(".") not in _TITLES)


@settings(max_examples=200, deadline=None)
@given(prefix, names, surnames, contexts, filler)
def test_a_full_name_near_pupil_context_is_always_found_and_removed(
    before: str, first: str, last: str, context: str, after: str
) -> None:
    text = f"{before} {first} {last} {context} {after}"
    result = check(text, today=TODAY)
    assert "name" in result.kinds
    assert f"{first} {last}" not in redact(text, result)
    assert first not in result.detail and last not in result.detail


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**12 - 1), st.sampled_from("ABCDEFGHJKLMNPQRTUVWXYZ"))
def test_every_upn_is_found(number: int, letter: str) -> None:
    upn = f"{letter}{number:012d}"
    assert check(f"the UPN is {upn} on the CTF", today=TODAY).kinds == ["upn"]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_any_text_is_safe_and_redaction_removes_every_finding(text: str) -> None:
    result = check(text, today=TODAY)
    redacted = redact(text, result)
    for f in result.findings:
        assert 0 <= f.start < f.end <= len(text)
    if not result.found:
        assert redacted == text
