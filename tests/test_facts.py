"""Every shipped fact is complete, sourced, reviewed, and safe to show."""
import datetime as dt
import re

import pytest
import yaml

from bot import facts
from bot.paths import ROOT

SEEDS_DIR = ROOT.parent / "shared" / "seeds"
DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text())
CRISIS = {"crisis_suicidal", "crisis_overdose", "crisis_medical"}
CONVERSATION = {"greet", "goodbye", "thank", "affirm", "deny", "bot_challenge", "ask_human",
                "out_of_scope", "inform"}
TOPICS = sorted(set(DOMAIN["intents"]) - CRISIS - CONVERSATION)
FACTS = facts.load()
# words that would turn information into a prescription
DOSE_PATTERN = re.compile(r"\b\d+(\.\d+)?\s?(mg|milligrams?|ml|mcg|micrograms?)\b", re.I)


def test_every_topic_intent_has_a_fact_and_no_fact_is_orphaned():
    assert len(TOPICS) == 25
    assert sorted(FACTS) == TOPICS


@pytest.mark.parametrize("topic", TOPICS)
def test_fact_is_sourced_reviewed_and_well_formed(topic):
    fact = FACTS[topic]
    assert fact.title and len(fact.title) <= 30
    assert 1 <= len(fact.sources) <= 4
    for source in fact.sources:
        if source.endswith(".txt"):
            assert (SEEDS_DIR / source).exists() or not SEEDS_DIR.exists(), source
        else:
            assert len(source) > 10, f"{topic}: name the clinical reference fully: {source!r}"
    reviewed = dt.date.fromisoformat(fact.reviewed)
    assert reviewed <= dt.date.today()
    assert 2 <= len(fact.related) <= 4
    assert topic not in fact.related


@pytest.mark.parametrize("topic", TOPICS)
def test_related_buttons_point_to_real_topics(topic):
    answer = facts.compose(topic)
    assert [b["payload"] for b in answer.buttons] == [f"/{r}" for r in FACTS[topic].related]
    for button in answer.buttons:
        assert button["payload"][1:] in FACTS


@pytest.mark.parametrize("topic", TOPICS)
def test_no_doses_and_plain_text(topic):
    fact = FACTS[topic]
    texts = [fact.answer, fact.family or ""] + [t for e in fact.extra.values() for t in e.values()]
    for text in texts:
        assert not DOSE_PATTERN.search(text), f"{topic} gives a dose: {DOSE_PATTERN.search(text)[0]}"
        assert "<" not in text and "#" not in text, f"{topic}: plain text only"


def test_medication_topics_end_with_the_prescriber_line():
    for topic in ("detox_medications", "buprenorphine_timing", "methadone_info",
                  "buprenorphine_info", "methadone_vs_buprenorphine"):
        assert FACTS[topic].prescriber
        for audience in ("self", "family"):
            assert facts.compose(topic, audience).text.endswith(facts.PRESCRIBER_LINE)


def test_family_framing_differs_where_written():
    with_family = [t for t in TOPICS if FACTS[t].family]
    assert len(with_family) >= 15
    for topic in with_family:
        assert facts.compose(topic, "family").text != facts.compose(topic, "self").text


def test_entity_extras_are_added_once():
    methadone = FACTS["buprenorphine_timing"].extra["substance"]["methadone"].strip()
    text = facts.compose("buprenorphine_timing", entities={"substance": ["methadone", "methadone"]}).text
    assert text.count(methadone) == 1
    assert methadone not in facts.compose("buprenorphine_timing", entities={"substance": ["heroin"]}).text


def test_extras_are_keyed_by_canonical_entity_values():
    from bot.nlp.vocabulary import canonical, lookups
    canonical_values = {canonical(word) for words in lookups().values() for word in words}
    for topic, fact in FACTS.items():
        for entity, extras in fact.extra.items():
            assert entity in {"substance", "medication", "family_member"}, topic
            for value in extras:
                assert value in canonical_values, f"{topic}: {entity}={value} is not canonical"
