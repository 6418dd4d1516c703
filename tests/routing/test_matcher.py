"""The matcher: meaning over words, phase hints, a reusable index with reasons."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.routing.matcher import ItemIndex, Matcher, phase_hint, size_hint

STRENGTHS = [
    (1, "Emotionally based school avoidance: reintegration plans and graduated return"),
    (2, "EHCP annual reviews and person-centred planning"),
    (3, "Systematic synthetic phonics: whole-school implementation"),
    (4, "Trust-wide procurement of catering, cleaning and ICT contracts"),
    (5, "Harmful sexual behaviour and child-on-child abuse training"),
]


@pytest.fixture(scope="module")
def index() -> ItemIndex[int]:
    return ItemIndex.build(Matcher(), STRENGTHS)


@pytest.mark.parametrize(
    ("question", "best"),
    [
        ("school refuser in Y9, hasn't been in since October", 1),
        ("annual reveiws are killing me - 30 EHCPs", 2),  # a typo
        ("PSC results dipped, who can help with keep up sessions?", 3),
        ("cleaning contract up for renewal - joint tender anyone?", 4),
        ("nudes shared between Y9s, how did you train staff on HSB?", 5),
    ],
)
def test_informal_questions_find_the_strength_with_a_reason(index: ItemIndex[int], question: str, best: int) -> None:
    [top, *_] = index.search(question)
    assert top.key == best and top.score > 0.4
    assert top.reason().startswith("matches ")


def test_nothing_is_returned_for_an_unrelated_question(index: ItemIndex[int]) -> None:
    assert index.search("photocopier lease ending, should we buy outright?", min_score=0.3) == []
    assert index.search("") == []


def test_the_audit_analysis_can_pair_needs_with_strengths(index: ItemIndex[int]) -> None:
    [match, *_] = index.search("Support for pupils with anxiety about coming to school")
    assert match.key == 1 and "Emotionally based school avoidance" in match.reason()


@pytest.mark.parametrize(
    ("text", "phase"),
    [
        ("Y11 mocks were grim", "secondary"),
        ("KS3 reading ages", "secondary"),
        ("GCSE access arrangements", "secondary"),
        ("EYFS continuous provision", "primary"),
        ("phonics screening", "primary"),
        ("KS2 SATs writing", "primary"),
        ("transition from Y6 to Y7", None),
        ("how do you run annual reviews?", None),
        # transition: the stages named say which side
        ("nursery to reception transition - what info do you want from us?", "primary"),
        ("Year 2 to Year 3 transition with our partner infant school", "primary"),
        ("KS1 to KS2 transitions", "primary"),
        ("post-16 transition for pupils with EHCPs", "secondary"),
        ("Y11 into sixth form transition", "secondary"),
        ("Year 6 transition: what do secondaries want from us?", None),  # the transfer: both sides
        ("transition days for incoming Year 7s", None),
        ("transition to secondary for autistic pupils", None),
        ("transitions between lessons", None),
    ],
)
def test_phase_hints(text: str, phase: str | None) -> None:
    assert phase_hint(text) == phase


def test_a_transfer_question_is_not_given_a_phase_by_its_concepts() -> None:
    m = Matcher()
    assert m.analyse("nursery to reception transition: home visits?").phase == "primary"
    assert m.analyse("starting school transition: home visits?").phase == "primary"  # from the concept
    assert m.analyse("Year 6 transition: passing on SATs results").phase is None  # SATs: still both sides


def test_english_words_are_not_read_as_typos_of_the_items_words() -> None:
    index = ItemIndex.build(
        Matcher(),
        [(1, "Reception baseline and EYFS profile moderation"), (2, "Attachment and trauma-informed practice")],
    )
    assert index.search("we got hit by a ransomware attack recently - who do we call?", min_score=0.1) == []
    assert [m.key for m in index.search("recption baseline")] == [1]  # a real typo is still read


def test_a_guessed_typo_sets_no_phase() -> None:
    analysis = Matcher().analyse("phonix catch-up ideas?")
    assert "phonics" in analysis.concepts and analysis.phase is None
    assert Matcher().analyse("phonics catch-up ideas?").phase == "primary"


def test_a_stage_on_its_own_is_not_the_subject() -> None:
    m = Matcher()
    assert m.analyse("Attendance in key stage 4").stage_only == {"gcse"}
    assert m.analyse("Retention of students in Year 12").stage_only == {"post16-pathways"}
    assert m.analyse("GCSE outcomes in maths").stage_only == frozenset()
    assert m.analyse("Transition to reception").stage_only == frozenset()  # inside a phrase: part of it
    index = ItemIndex.build(
        m,
        [
            (1, "Attendance: first-day calling and attendance panels"),
            (2, "Timetabling and the key stage 4 options process"),
            (3, "GCSE results analysis and Year 11 intervention"),
        ],
    )
    [first, *rest] = index.search("Attendance in key stage 4")
    assert first.key == 1 and first.direct and all(r.score < 0.75 * first.score for r in rest)
    assert [(r.key, r.direct) for r in index.search("GCSE outcomes in maths", min_score=0.3)] == [(3, True)]


@pytest.mark.parametrize(
    ("need", "strength", "direct"),
    [
        ("SEND provision mapping", "Preparation for adulthood for pupils with SEND at post-16", False),
        ("SEND provision mapping", "Early identification of SEND in the early years", False),
        ("Retention of students in Year 12", "Post-16 pathways: T levels and apprenticeships", False),
        ("Governor training", "Governing body development and governor skills audit", True),  # all low weight
        ("Early years provision", "Early years provision", True),  # only a stage, on both sides
        ("SEND funding", "Working with the local authority on EHC needs assessments and tribunals", True),
    ],
)
def test_a_match_knows_whether_it_answers_directly(need: str, strength: str, direct: bool) -> None:
    [match] = ItemIndex.build(Matcher(), [(1, strength)]).search(need)
    assert match.direct is direct


def test_size_hint() -> None:
    assert size_hint("other 1FE heads, how do you cope?") == "small"
    assert size_hint("a big secondary") is None


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_any_text_scores_between_zero_and_one(text: str) -> None:
    index = ItemIndex.build(Matcher(), STRENGTHS)
    for match in index.search(text):
        assert 0 < match.score <= 1
