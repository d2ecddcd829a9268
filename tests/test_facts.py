"""Every shipped fact is complete, sourced, reviewed, and safe to show."""

import datetime as dt
import re

import pytest

from bot import contacts, facts
from bot.paths import ROOT
from bot.topic_importer import project_importer

SEEDS_DIR = ROOT.parent / "shared" / "seeds"
FACTS = facts.load()
TOPICS = sorted(FACTS)
REGIONS = sorted(contacts.all_regions())
# words that would turn information into a prescription
DOSE_PATTERN = re.compile(r"\b\d+(\.\d+)?\s?(mg|milligrams?|ml|mcg|micrograms?)\b", re.I)


def test_every_fact_is_an_intent_rasa_trains_on_with_examples():
    """A topic is one facts entry plus its NLU examples: nothing else to keep in step."""
    project = project_importer()
    intents = set(project.get_domain().intents)
    examples = project.get_nlu_data().number_of_examples_per_intent
    assert TOPICS and set(TOPICS) <= intents
    for topic in TOPICS:
        assert examples.get(topic, 0) >= 20, f"{topic} needs NLU examples in data/nlu/"


@pytest.mark.parametrize("topic", TOPICS)
def test_fact_is_sourced_reviewed_and_well_formed(topic):
    fact = FACTS[topic]
    assert fact.title and len(fact.title) <= 30
    assert 1 <= len(fact.sources) <= 5
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
    payloads = [b["payload"] for b in answer.buttons]
    if answer.more:
        assert payloads[0] == facts.TELL_ME_MORE["payload"]
        payloads = payloads[1:]
    assert payloads == [f"/{r}" for r in FACTS[topic].related]
    for payload in payloads:
        assert payload[1:] in FACTS


def _all_text(topic):
    out = []
    for region in REGIONS:
        v = FACTS[topic].variant(region)
        out += [v.answer, v.more, v.family or "", v.family_more or ""]
        out += [t for e in v.extra.values() for t in e.values()]
    return "\n".join(out)


@pytest.mark.parametrize("topic", TOPICS)
def test_no_doses_and_plain_text(topic):
    text = _all_text(topic)
    assert not DOSE_PATTERN.search(text), f"{topic} gives a dose: {DOSE_PATTERN.search(text)[0]}"
    assert "<" not in text and "#" not in text, f"{topic}: plain text only"


MEDICATION_DECISIONS = (
    "detox_medications",
    "buprenorphine_timing",
    "methadone_info",
    "buprenorphine_info",
    "methadone_vs_buprenorphine",
    "medical_detox",
    "pregnancy",
)


def test_medication_topics_end_with_the_prescriber_line():
    for topic in MEDICATION_DECISIONS:
        assert FACTS[topic].prescriber
        for region in REGIONS:
            for audience in ("self", "family"):
                answer = facts.compose(topic, audience, region=region)
                assert answer.text.endswith(facts.PRESCRIBER_LINE)
                if answer.more:  # "Tell me more" still ends with it
                    assert answer.more.endswith(facts.PRESCRIBER_LINE)


def test_prescriber_line_only_where_a_medication_decision_is_discussed():
    """Clinical review, section 4: it was a non-sequitur on these topics."""
    assert {t for t in FACTS if FACTS[t].prescriber} == set(MEDICATION_DECISIONS)
    for topic in ("signs_need_detox", "methadone_myths", "after_detox"):
        assert facts.PRESCRIBER_LINE not in facts.compose(topic, "family").text


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
        for entity, extras in (e for r in REGIONS for e in fact.variant(r).extra.items()):
            assert entity in {"substance", "medication", "family_member"}, topic
            for value in extras:
                assert value in canonical_values, f"{topic}: {entity}={value} is not canonical"


def test_every_fact_names_a_review_date_since_the_clinical_review():
    for topic, fact in FACTS.items():
        assert dt.date.fromisoformat(fact.reviewed) >= dt.date(2026, 11, 23), topic


def _first_sentence(text):
    return re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]


@pytest.mark.parametrize("region", REGIONS)
def test_naloxone_and_relapse_lead_with_the_safety_action(region):
    """Clinical review, section 4: the first sentence is what to do, not a description."""
    emergency = contacts.for_region(region)["emergency"]["number"]
    for audience in ("self", "family"):
        naloxone = facts.compose("naloxone", audience, region=region).bubbles[0]
        assert emergency in _first_sentence(naloxone)
        relapse = _first_sentence(facts.compose("relapse", audience, region=region).bubbles[0])
        assert "tolerance" in relapse.lower()


def test_outdated_claims_from_the_clinical_review_are_gone():
    everything = "\n".join(_all_text(t) for t in FACTS)
    assert "30 to 90 minutes" not in everything  # naloxone wears off sooner
    assert "prefers lofexidine" not in everything  # not available in the UK
    assert "start sooner than with heroin" not in everything  # fentanyl onset is contested
    # Sublocade is monthly only; the weekly-or-monthly US injection is Brixadi
    assert not re.search(r"Sublocade[^.()]*weekly|weekly[^.]*\([^)]*Sublocade", everything)
    assert "monthly injection (Sublocade)" in facts.compose("buprenorphine_info", region="us").text
    assert "many pharmacies give free kits" not in everything  # UK pharmacy naloxone is patchy
    assert "clean equipment" not in everything  # "new, sterile"
    assert "sober-living" not in everything
    assert "for about a day" not in everything  # dehydration: act earlier
