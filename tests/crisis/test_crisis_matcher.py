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
