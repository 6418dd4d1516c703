"""The pupil-data guard: what it finds, what it leaves alone, and that it never quotes."""

from __future__ import annotations

import unicodedata
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.pupil_data import _TITLES, REMOVED, _fold, check, check_document, redact

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
    biting = "Jayden Smith (Y4, DOB 12/03/2017) is biting"
    assert redact(biting, check(biting, today=TODAY)) == f"{REMOVED} (Y4, DOB {REMOVED}) is biting"
    assert check("nothing here", today=TODAY).flags() == []


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


# -- names however they are written ---------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "JAYDEN SMITH in Y4 keeps hitting out",
        "Zoë Smith in Y4 won't come in",
        "Smith, Jayden (Y4) - mum wants a meeting",
        "SMITH, Jayden - Year 4, on a part-time timetable",
        "Chloë Müller (year 2) has been absent since half term",
        "jayden o’brien in reception bit another child",
        "Jayden SMITH in Y4 has an EHCP",
    ],
)
def test_finds_names_in_any_case_accent_or_order(text: str) -> None:
    assert check(text, today=TODAY).kinds == ["name"]


@pytest.mark.parametrize(
    "text",
    [
        "MRS SMITH IN Y4 IS OFF - who covers?",
        "Mr Khan, our Y4 teacher, is leaving",
        "Smith, Mrs (Y4 teacher) has asked about phonics",
        "Mrs Smith, Jayden's class teacher in Y4, rang",
        "Morning, Olivia (our Y4 teacher) is asking about phonics",
        "Maths, Noah's favourite, is weak in Y4",
        "However, Grace in Y4 is fine",
        "URGENT: ANY ADVICE ON Y6 SATS? WHO USES CPOMS IN KS2?",
        "GRACE PERIOD for Y6 homework",
        "Anna Freud Centre training for our Y6 staff on anxiety in children",
    ],
)
def test_staff_titles_and_shouting_are_not_pupils(text: str) -> None:
    assert not check(text, today=TODAY).found


accented = st.sampled_from(["Zoë", "Chloë", "Renée", "Inès", "José", "André", "Aoife"])
case = st.sampled_from([str, str.upper, str.title])


@settings(max_examples=200, deadline=None)
@given(
    prefix,
    st.one_of(names, accented),
    st.sampled_from(["Smith", "Müller", "O’Brien", "Nowak", "Öztürk"]),
    case,
    contexts,
)
def test_a_name_is_found_whatever_its_case_or_accents(
    before: str, first: str, last: str, style: object, context: str
) -> None:
    name = style(f"{first} {last}")  # type: ignore[operator]
    text = f"{before} {name} {context}"
    result = check(text, today=TODAY)
    assert "name" in result.kinds
    assert name not in redact(text, result)


@settings(max_examples=200, deadline=None)
@given(
    names,
    surnames,
    st.sampled_from([str, str.upper]),
    st.sampled_from(["(Y4)", "- Year 9", ", Reception", " (DOB 1/2/2016)"]),
)
def test_a_register_style_name_is_found(first: str, last: str, style: object, mark: str) -> None:
    text = f"{style(last)}, {first}{mark} needs a reintegration plan"  # type: ignore[operator]
    result = check(text, today=TODAY)
    assert "name" in result.kinds
    assert f"{style(last)}, {first}" not in redact(text, result)  # type: ignore[operator]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(_TITLES), surnames, case, contexts)
def test_a_titled_adult_is_never_a_pupil(title: str, last: str, style: object, context: str) -> None:
    for text in (f"{title} {last} {context}", f"{last}, {title} {context}", f"ask {title}. {last} {context}"):
        assert not check(style(text), today=TODAY).found, text  # type: ignore[operator]


def test_today_is_required() -> None:
    with pytest.raises(TypeError):
        check("born 03/04/2016")  # type: ignore[call-arg]
    # The DOB window follows the given day, not the machine's: a 2010 date is a child's in 2020 only.
    assert check("a Y9 child, 03/04/2010", today=date(2020, 1, 1)).kinds == ["dob"]
    assert not check("a Y9 child, 03/04/2010", today=date(2035, 1, 1)).found


# -- documents: policies and resources -----------------------------------------------------

LETTERHEAD = """Oakfield Primary School
12 Church Lane, Oakfield, Romford RM13 7QT
Tel: 01708 123456"""
FRONT_MATTER = [
    "Adopted by governors: 14/03/2023",
    "Review date: March 2027",
    "Date approved: 1 September 2020",
    "Designated Safeguarding Lead: Jane Smith (Headteacher)",
    "Deputy DSLs: Tom Birch and Sarah Jones",
    "Safeguarding governor: Mr Paul Green",
    "Designated Safeguarding Lead | Jane Smith | 01708 123456",
    "Tom Birch (Deputy DSL) keeps the records of children on child protection plans.",
    "Signed: Jane Smith, Headteacher     Date: 14/03/2023",
    "Approved by: Olivia Grant, Chair of Governors",
]
BODY = [
    "All children at Oakfield have the right to be safe; staff report any concern about a pupil the same day.",
    "Children born in 2021 start Reception in September 2025.",
    "This policy was agreed on 1 September 2020 and applies to all pupils in EYFS, KS1 and KS2.",
    "Parents can contact the Lucy Faithfull Foundation or the Anna Freud Centre for support.",
    "Visitors sign in at the office: Oakfield Primary School, 12 Church Lane, Romford RM13 7QT.",
    "Attendance below 90% since 01/09/2024 is persistent absence; the pupil's parents are invited in.",
    "Children missing education are reported to the local authority within 10 school days.",
]
PUPIL_LINES = [
    "Jayden Smith (DOB 03/04/2016), Y4",
    "Smith, Jayden (Y4) - on a part-time timetable",
    "Pupil: Amelia Hussain, Year 8, lives at 22 Orchard Close",
    "Jayden's UPN is K801234567890",
    "The child, born 03.05.2019, moved to 14 Brook Road with her foster carer",
]


def test_a_policy_with_its_letterhead_dates_and_staff_is_not_pupil_data() -> None:
    policy = "\n".join(["Child protection and safeguarding policy", LETTERHEAD, *FRONT_MATTER, "", *BODY])
    assert check(policy, today=TODAY).found  # as a chat message it would be held...
    assert not check_document(policy, today=TODAY).found  # ...but it is a policy


@pytest.mark.parametrize("line", PUPIL_LINES)
def test_a_pupil_in_a_policy_is_still_found(line: str) -> None:
    policy = "\n".join([LETTERHEAD, *FRONT_MATTER, *BODY[:3], line, *BODY[3:]])
    result = check_document(policy, today=TODAY)
    assert result.found
    assert line.split(" (")[0] not in result.detail


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        # A home address after the letterhead is not the school's.
        (
            LETTERHEAD + "\n\n" + "\n".join(BODY) + "\nThe family moved to 14 Brook Road, RM3 8AB.",
            ["address", "postcode"],
        ),
        # A letter's letterhead is the school's; the family's address under it is not.
        (
            "Oakfield Primary School\nHeadteacher: Jane Smith\n12 Church Lane\nRomford RM13 7QT\n\n"
            "Mr and Mrs Smith\n14 Brook Road\nRomford RM3 8AB\n\nDear Mr and Mrs Smith, your child's attendance...",
            ["address", "postcode"],
        ),
        (
            "Oakfield Primary School\nTel: 01708 123456\nMr and Mrs Smith\n14 Brook Road\nRM3 8AB",
            ["address", "postcode"],
        ),
        # Without a school's name at the top, an address at the top is nobody's letterhead.
        ("Referral\n14 Brook Road, Romford RM3 8AB\nchild in Y4", ["address", "postcode"]),
        # A date next to a pupil's name is their birthday; the same date alone in a policy is not.
        ("Jayden Smith, 03/04/2016, Y4", ["name", "dob"]),
        ("Pupils in Y4 moved classes on 03/04/2016.", []),
        ("date of birth: 03/04/2016", ["dob"]),
        # A role word after the name but not as its label does not make a pupil staff.
        ("Jayden Smith (Y4) - class teacher to call home", ["name"]),
    ],
)
def test_document_rules(text: str, kinds: list[str]) -> None:
    assert check_document(text, today=TODAY).kinds == kinds


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.sampled_from(FRONT_MATTER), max_size=6),
    st.lists(st.sampled_from(BODY), min_size=1, max_size=8),
    st.sampled_from(PUPIL_LINES),
    st.integers(0, 20),
)
def test_any_policy_passes_and_any_pupil_line_in_it_is_caught(
    front: list[str], body: list[str], pupil: str, at: int
) -> None:
    lines = ["Attendance policy", LETTERHEAD, *front, "", *body]
    assert not check_document("\n".join(lines), today=TODAY).found
    lines.insert(min(at, len(lines)), pupil)
    assert check_document("\n".join(lines), today=TODAY).found


@given(st.text(alphabet=st.characters(codec="ascii"), max_size=12) | st.text(max_size=12))
def test_folding_a_word_takes_a_shortcut_only_where_it_changes_nothing(word: str) -> None:
    decomposed = unicodedata.normalize("NFKD", word)
    slow = "".join(c for c in decomposed if not unicodedata.combining(c)).lower().replace("’", "'")
    assert _fold(word) == slow
