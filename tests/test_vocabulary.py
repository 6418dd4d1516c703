"""The shared text analysis and education vocabulary."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from knowledge import english
from knowledge.text import fold, stem, terms, words
from knowledge.vocabulary import Vocabulary, VocabularyError, default_vocabulary


def test_folding_and_words() -> None:
    assert fold("Y9’s EHCP—Annual") == "y9s ehcp annual"
    assert words("Hasn't been in since October!") == ["hasnt", "been", "in", "since", "october"]
    assert terms("How did you handle the exclusions?") == [stem("exclusions")]


@pytest.mark.parametrize(
    ("text", "concept"),
    [
        ("How did you handle a Y9 who hasn't been in since October?", "attendance"),
        ("EBSA - any tips?", "ebsa"),
        ("we have a school refuser in year 5", "ebsa"),
        ("PEX hearing next week", "exclusion"),
        ("LADO referral", "lado"),
        ("our SATs writing mod", "ks2-sats"),
        ("EHCP annual reveiw paperwork", "annual-review"),  # a typo, still found
        ("phonix screening check", "phonics"),
        ("joint procurment", "procurement"),
        ("restraining a child", "positive-handling"),  # the verb, not only "restraint"
        ("had to restrain him twice", "positive-handling"),
    ],
)
def test_informal_wording_finds_the_concept(text: str, concept: str) -> None:
    assert concept in default_vocabulary().concept_ids(text)


@pytest.mark.parametrize(
    ("text", "concepts"),
    [
        # phrases that overlap are both read
        ("SEND provision mapping", {"send-general", "provision-map"}),
        # a phrase inside a longer one counts when the vocabulary relates the two
        ("KS2 writing moderation", {"ks2-sats", "writing", "moderation"}),
        ("EHCP annual review paperwork", {"annual-review", "ehcp"}),
        ("nursery to reception", {"eyfs-transition", "eyfs"}),
        # and not when it does not: a record is not music, a sign-off not signing
        ("single central record", {"kcsie", "safer-recruitment"}),
        ("mental health first aid training", {"pupil-mental-health"}),
    ],
)
def test_overlapping_and_nested_phrases(text: str, concepts: set[str]) -> None:
    v = default_vocabulary()
    assert set(v.concept_ids(text)) == concepts
    assert set(m.concept.id for m in v.find_exact(text)) == concepts  # documents are read the same way


@pytest.mark.parametrize(
    ("text", "meant", "not_meant"),
    [
        ("does anyone run their own breakfast club?", "wraparound", "childcare"),
        ("funded places for two year olds", "childcare", "wraparound"),
        ("Early help assessments and team around the family meetings", "early-help", "data-tracking"),
        ("SEND funding", "la-send-team", None),
        ("Retention of students in Year 12", "post16-retention", "recruitment"),
        ("Year 12 retention", "post16-retention", "recruitment"),
        ("staff retention", "recruitment", "post16-retention"),
        ("Writing at greater depth", "ks2-sats", None),
        ("Safer recruitment training", "safer-recruitment", "recruitment"),
    ],
)
def test_what_a_phrase_means(text: str, meant: str, not_meant: str | None) -> None:
    found = default_vocabulary().concept_ids(text)
    assert meant in found and not_meant not in found


def test_a_typo_in_a_longer_phrase_leaves_the_exact_shorter_one() -> None:
    """ "early help assesment": the typo reading is "early help assessment"; "early help"
    itself is read as written, so search can trust it even if it drops the typo reading."""
    mentions = default_vocabulary().find("early help assesment")
    assert {(m.concept.id, m.fuzzy) for m in mentions} == {("early-help", True), ("early-help", False)}


@pytest.mark.parametrize(
    ("text", "concept", "found"),
    [
        ("how have you changed TA deployment?", "intimate-care", False),
        ("nappy changing and intimate care", "intimate-care", True),
        ("how do you write a provision map?", "writing", False),
        ("greater depth in writing", "writing", True),
        ("has anyone read the new guidance?", "reading", False),
        ("reading for pleasure", "reading", True),
        ("we keep track of it on a spreadsheet", "data-tracking", False),
        ("tracking progress in foundation subjects", "data-tracking", True),
    ],
)
def test_an_ing_noun_is_not_its_verb(text: str, concept: str, found: bool) -> None:
    v = default_vocabulary()
    assert (concept in v.concept_ids(text)) is found
    assert (concept in {m.concept.id for m in v.find_exact(text)}) is found


def test_topics_and_related() -> None:
    v = default_vocabulary()
    assert v.topic_ids("EHCP and school refusal") == ["send", "attendance"]
    assert "annual-review" in v.related(["ehcp"]) and "ehcp" in v.related(["annual-review"])
    assert v.topics["safeguarding"].groups == ("dsl",)


def test_short_words_are_not_fuzzily_corrected() -> None:
    assert default_vocabulary().concept_ids("the dog ran round the garden") == []


@pytest.mark.parametrize(
    ("text", "not_meant"),
    [
        ("we got hit by a ransomware attack last night", "attachment"),  # attack is not attach(ment)
        ("any tiny schools managed the SENCO role with a part timer?", "timetabling"),
        ("has anyone recently had a visit?", "eyfs"),  # recently is not reception
        ("our new caretaker started recently", "eyfs"),
    ],
)
def test_english_words_are_not_corrected_into_sector_terms(text: str, not_meant: str) -> None:
    v = default_vocabulary()
    assert not_meant not in v.concept_ids(text)
    assert not any(m.fuzzy for m in v.find(text))


def test_the_english_word_list_is_shipped_small_and_licensed() -> None:
    lines = english.PATH.read_text(encoding="utf-8").splitlines()
    stems = [line for line in lines if not line.startswith("#")]
    assert 10_000 < len(stems) < 40_000 and stems == sorted(set(stems))
    assert all(s.isascii() and s.isalpha() and s.islower() and len(s) >= english.MIN_STEM for s in stems)
    assert "SCOWL" in lines[1] and "Kevin Atkinson" in english.PATH.with_suffix(".LICENSE").read_text(encoding="utf-8")
    assert all(english.is_english_stem(stem(w)) for w in ("recently", "attack", "changing", "timer"))
    assert not any(english.is_english_stem(stem(w)) for w in ("reveiw", "saftey", "phonix", "ehcps", "ofsted"))


def test_the_english_word_list_is_built_from_a_dictionary_file() -> None:
    assert english.build(["Recently", "recently\n", "recent", "cat", "Attack", "naïve", "o'clock", "attacks"]) == [
        "attack",
        "recent",
    ]


def test_a_network_can_add_terms(tmp_path: Path) -> None:
    extra = tmp_path / "ours.toml"
    extra.write_text(
        '[concepts.ebsa]\nphrases = ["non-attenders club"]\n'
        '[topics.local]\nlabel = "Local"\n[concepts.hub]\ntopic = "local"\nlabel = "The Hub"\n'
        'phrases = ["the hub"]\n',
        encoding="utf-8",
    )
    v = Vocabulary.load(extra)
    assert v.concept_ids("our non attenders club") == ["ebsa", "attendance"]  # "attenders": related, nested
    assert "school refusal" in v.concepts["ebsa"].phrases  # merged, not replaced
    assert v.concept_ids("a referral to the hub") == ["hub"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"concepts": {"x": {"topic": "nope", "phrases": ["x"]}}}, "topic 'nope' is not defined"),
        ({"topics": {"t": {"label": "T"}}, "concepts": {"x": {"topic": "t", "phrases": []}}}, "needs a list"),
        (
            {"topics": {"t": {"label": "T"}}, "concepts": {"x": {"topic": "t", "phrases": ["a"], "colour": 1}}},
            "unknown key",
        ),
        (
            {"topics": {"t": {"label": "T"}}, "concepts": {"x": {"topic": "t", "phrases": ["a"], "related": ["y"]}}},
            "related concept 'y'",
        ),
        ({"synonyms": {}}, "unknown section"),
    ],
)
def test_bad_vocabulary_is_named(data: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(VocabularyError, match=message):
        Vocabulary.from_dict(data)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_text_is_safe(text: str) -> None:
    v = default_vocabulary()
    for m in v.find(text):
        assert 0 <= m.start < m.end
    terms(text)
