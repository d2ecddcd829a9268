"""The crisis safety net against phrasings written independently of its rules."""

from pathlib import Path

import pytest
import spacy
import yaml

from bot.nlp.crisis_matcher import CRISIS_PRIORITY, CrisisMatcher, compile_pattern
from bot.paths import SPACY_MODEL_DIR

PHRASINGS = yaml.safe_load((Path(__file__).parent / "phrasings.yml").read_text())
MUST_FIRE = [(intent, text) for intent, texts in PHRASINGS["must_fire"].items() for text in texts]
MUST_NOT_FIRE = PHRASINGS["must_not_fire"]


@pytest.fixture(scope="module")
def matcher() -> CrisisMatcher:
    return CrisisMatcher(spacy.load(SPACY_MODEL_DIR))


def test_the_phrasing_sets_are_big_enough():
    assert len(MUST_FIRE) >= 150 and len(MUST_NOT_FIRE) >= 60
    assert set(PHRASINGS["must_fire"]) == set(CRISIS_PRIORITY)


@pytest.mark.parametrize("intent,text", MUST_FIRE)
def test_crisis_phrasing_fires_its_intent(matcher, intent, text):
    hit = matcher.match(text)
    assert hit is not None, f"no crisis rule caught {text!r}"
    assert hit.intent == intent, f"{text!r} caught as {hit.intent} by {hit.rule!r}"


@pytest.mark.parametrize("text", MUST_NOT_FIRE)
def test_non_crisis_phrasing_does_not_fire(matcher, text):
    hit = matcher.match(text)
    assert hit is None, f"{text!r} wrongly caught as {hit.intent} by {hit.rule!r} ({hit.matched_text!r})"


def test_crisis_inside_a_long_message_still_fires(matcher):
    long = ("hi, sorry for the long message. " * 30) + "my son is not breathing. " + ("thanks " * 30)
    assert matcher.match(long).intent == "crisis_overdose"


def test_text_speak_and_typos_are_normalised(matcher):
    assert "kill myself" in matcher.normalise("kms")
    assert "can not" in matcher.normalise("i cant")
    assert "overdosed" in matcher.normalise("he OD'd")


def test_pattern_syntax_expands_mixed_alternatives():
    patterns = compile_pattern("~die|dead now? ...")
    assert len(patterns) == 2  # a lemma alternative and a word alternative
    assert patterns[0][0] == {"LEMMA": {"IN": ["die"]}}
    assert patterns[1][0] == {"LOWER": {"IN": ["dead"]}}
    assert patterns[0][1] == {"LOWER": {"IN": ["now"]}, "OP": "?"}
    assert len(patterns[0]) == 2 + 4  # "..." is four optional wildcard tokens


def test_rules_file_rejects_unknown_intents(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("intents:\n  crisis_boredom:\n    - note: x\n      patterns: ['bored']\n")
    with pytest.raises(ValueError, match="unknown crisis intent"):
        CrisisMatcher(spacy.load(SPACY_MODEL_DIR), bad)


def test_together_rules_match_in_any_order_and_across_sentences(matcher):
    assert matcher.match("my toddler got into my bag. i think she drank some methadone").intent == "crisis_medical"
    assert matcher.match("some of my subutex was eaten by the dog").intent == "crisis_medical"
    # all groups must be present: a child and a medicine without anything swallowed is no crisis
    assert matcher.match("is methadone dangerous for children") is None


def test_together_rules_need_their_groups_close_together(tmp_path):
    rules = tmp_path / "rules.yml"
    rules.write_text(
        "intents:\n  crisis_medical:\n    - note: near\n      within: 5\n      together: [['toddler'], ['~swallow']]\n"
    )
    near = CrisisMatcher(spacy.load(SPACY_MODEL_DIR), rules)
    assert near.match("toddler swallowed it") is not None
    assert near.match("toddler is at nursery and i am at work and my friend swallowed a fly") is None


def test_a_guard_anywhere_in_a_together_span_drops_it(matcher):
    assert matcher.match("how do i keep my suboxone away from my toddler so he never swallows one") is None


def test_rules_need_patterns_or_together(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("intents:\n  crisis_medical:\n    - note: x\n")
    with pytest.raises(ValueError, match="needs either"):
        CrisisMatcher(spacy.load(SPACY_MODEL_DIR), bad)


def test_lemma_corrections_apply(matcher):
    # the lookup lemmatizer says "dying" is "dye"; the rules file corrects it
    assert [t.lemma_ for t in matcher.doc("dying")] == ["die"]
    assert matcher.match("i am dying of boredom") is None  # the idiom is excluded again


def test_an_idiom_exclusion_can_be_overridden_by_a_rule(matcher):
    assert matcher.match("this queue is killing me") is None
    assert matcher.match("my chest is killing me").intent == "crisis_medical"


def test_crisis_language_ignores_idioms_but_keeps_guarded_rule_matches(matcher):
    assert matcher.crisis_language("my phone is dying") == []
    assert matcher.crisis_language("can withdrawal cause a seizure?")  # guarded rule, still crisis words
    assert matcher.match("can withdrawal cause a seizure?") is None


def test_the_first_token_of_every_pattern_is_a_plain_equality(matcher):
    # spaCy tests the first token of every pattern at every token of a message; a set
    # (`IN`) there is a Python call each time, which made long messages slow
    from bot.nlp.crisis_matcher import _plain_first

    split = _plain_first(compile_pattern("~die|dying now")[0])
    assert split == [[{"LEMMA": "die"}, {"LOWER": {"IN": ["now"]}}]]
    split = _plain_first(compile_pattern("a|b c")[0])
    assert [p[0] for p in split] == [{"LOWER": "a"}, {"LOWER": "b"}]
    optional_first = compile_pattern("a? b")[0]
    assert _plain_first(optional_first) == [optional_first]


@pytest.mark.parametrize(
    "text",
    [
        "can i take liquids in my hand luggage",
        "What did the Crocodile swallow in Peter Pan?",
        "i had my methadone this morning",
        "my mum is coming round for tea",
        "the car in front of me braked",
        "i sprained my wrist",
        "help me write a cover letter",
        "i got food poisoning",
        "what's a pulse oximeter",
        "the price jumped from 5 to 10 pounds",
        "go over the bridge and turn left",
        "at what point do withdrawals peak",
        "my baby is kicking a lot today",
        "the doctor wants to see me again next week",
        "i need an emergency plumber",
        "he has a gun licence",
    ],
)
def test_generic_words_alone_are_not_crisis_language(matcher, text):
    assert matcher.crisis_language(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "i swallowed all my pills",
        "my toddler swallowed something",
        "the pills are in my hand",
        "i have a knife in front of me",
        "help me please",
        "i can barely breathe",
        "he's gone all floppy",
        "i feel faint",
        "i'm pregnant and bleeding",
    ],
)
def test_tightened_crisis_language_still_finds_crisis_words(matcher, text):
    assert matcher.crisis_language(text)


def test_informational_questions_are_crisis_language_but_not_rule_hits(matcher):
    for text in (
        "what are the signs of an overdose, like blue lips",
        "does narcan still work if the person has already stopped breathing",
        "is suicide risk higher for people with depression who use heroin",
    ):
        assert matcher.match(text) is None
        assert matcher.crisis_language(text), text
