"""Region-true answers (PRODUCT.md rule 6): a visitor only ever sees their own region's
services, numbers, medicines, guidance and spelling.

Every topic is walked for each region, in both framings, with every entity extra, and
through "Tell me more". The forbidden strings are derived from data/contacts.yml (the
other region's numbers and service names) plus a short list per region of service
names, brands, guideline bodies and spellings below; no answer text is hard-coded.
"""

from __future__ import annotations

import re
from typing import Dict, Iterator, List, Tuple

import pytest
import yaml

from bot import contacts, facts
from bot.paths import ROOT

FACTS = facts.load()
REGIONS = sorted(contacts.all_regions())
DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text())

# Names that belong to one region only, beyond what contacts.yml lists. Matched as whole
# words, case-sensitively ("ER" the department, not "er" inside a word; "NICE" the body).
# No numbers: forbidden_for takes every number from contacts.yml, so they can't drift.
REGION_ONLY: Dict[str, List[str]] = {
    "uk": [
        "NHS",
        "FRANK",
        "A&E",
        "GP",
        "GPs",
        "Prenoxad",
        "Nyxoid",
        "Espranor",
        "Buvidal",
        "NICE",
        "Samaritans",
        "SHOUT",
        "Adfam",
        "keyworker",
        "keywork",
        "UK",
        # spelling and medicine names a US reader would not use
        "programme",
        "programmes",
        "diarrhoea",
        "paracetamol",
        "anaesthesia",
        "centre",
    ],
    "us": [
        "SAMHSA",
        "Narcan",
        "Sublocade",
        "Brixadi",
        "Lucemyra",
        "ER",
        "Medicaid",
        "Vivitrol",
        "FindTreatment.gov",
        "DEA",
        "ASAM",
        "FDA",
        "US",
        "OB-GYN",
        "Poison Control",
        "program",
        "programs",
        "diarrhea",
        "acetaminophen",
        "anesthesia",
        "center",
    ],
}


def _number_pattern(number: str) -> str:
    return r"(?<![\d-])" + re.escape(number) + r"(?![\d-])"


def _word_pattern(word: str) -> str:
    return r"(?<![\w&-])" + re.escape(word) + r"(?![\w&-])"


def forbidden_for(region: str) -> List[Tuple[str, re.Pattern[str]]]:
    """(label, pattern) for everything that belongs to another region only."""
    own = contacts.for_region(region)
    own_numbers = {c["number"] for c in own.values()}
    own_names = {c["name"] for c in own.values()}
    found: List[Tuple[str, re.Pattern]] = []
    for other in REGIONS:
        if other == region:
            continue
        for kind, c in contacts.for_region(other).items():
            if c["number"] not in own_numbers:
                found.append((f"{other} {kind} number {c['number']}", re.compile(_number_pattern(c["number"]))))
            if c["name"] not in own_names:
                found.append((f"{other} {kind} name {c['name']}", re.compile(_word_pattern(c["name"]))))
        for word in REGION_ONLY[other]:
            found.append((f"{other}-only {word!r}", re.compile(_word_pattern(word))))
    return found


def texts_for(region: str) -> Iterator[Tuple[str, str]]:
    """(where, text) for every answer a visitor in `region` can be sent."""
    for topic, fact in FACTS.items():
        variant = fact.variant(region)
        entity_sets = [{}] + [{entity: [value]} for entity, values in variant.extra.items() for value in values]
        for audience in ("self", "family"):
            for entities in entity_sets:
                answer = facts.compose(topic, audience, entities, FACTS, region=region)
                yield f"{topic}/{region}/{audience}/{entities or '-'}", answer.text
                yield f"{topic}/{region}/{audience}/buttons", " ".join(b["title"] for b in answer.buttons)
            more = facts.detail(topic, audience, FACTS, region=region)
            if more:
                yield f"{topic}/{region}/{audience}/more", more.text


@pytest.mark.parametrize("region", REGIONS)
def test_answers_never_show_another_regions_services_numbers_or_spelling(region):
    forbidden = forbidden_for(region)
    assert len(forbidden) > 10
    problems = []
    for where, text in texts_for(region):
        for label, pattern in forbidden:
            if pattern.search(text):
                problems.append(f"{where}: {label}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("region", REGIONS)
def test_emergency_topics_carry_the_regions_emergency_number_in_bubble_one(region):
    number = contacts.for_region(region)["emergency"]["number"]
    for topic in ("overdose_signs", "naloxone", "pregnancy"):
        for audience in ("self", "family"):
            first = facts.compose(topic, audience, region=region).bubbles[0]
            assert re.search(_number_pattern(number), first), f"{topic}/{audience}/{region}"


@pytest.mark.parametrize("region", REGIONS)
def test_every_placeholder_is_filled(region):
    for where, text in texts_for(region):
        assert "{" not in text and "}" not in text, where


def test_no_phone_numbers_are_written_in_facts_yml():
    """Numbers come from contacts.yml through placeholders, so they can't drift."""
    raw = (ROOT / "data" / "facts.yml").read_text(encoding="utf-8")
    for region in REGIONS:
        for c in contacts.for_region(region).values():
            assert not re.search(_number_pattern(c["number"]), raw), c["number"]
    assert not re.search(r"\b\d{3,4}[ -]\d{3}[ -]\d{3,4}\b", raw)


@pytest.mark.parametrize(
    "field,text,placeholder",
    [
        ("answer", "Call {ambulance_number} now.", "ambulance_number"),  # unknown anywhere
        # {poison_control} exists only in the US preset, so shared text can't use it
        ("more", "Poison line: {poison_control}.", "poison_control"),
    ],
)
def test_a_placeholder_a_region_cannot_fill_fails_at_load(tmp_path, field, text, placeholder):
    broken = facts.load_raw()
    broken["facts"]["naloxone"][field] = text
    path = tmp_path / "facts.yml"
    path.write_text(yaml.safe_dump(broken), encoding="utf-8")
    with pytest.raises(facts.FactsError, match=placeholder):
        facts.load(path)


def test_unknown_region_falls_back_to_the_default_preset():
    assert facts.compose("naloxone", region="xx").text == facts.compose("naloxone", region="uk").text
    assert facts.compose("naloxone", region=None).text == facts.compose("naloxone", region="uk").text


def _variants(response: str) -> Dict[str, str]:
    """region -> text of a region-conditional domain response ('*' for unconditioned)."""
    out: Dict[str, str] = {}
    for v in DOMAIN["responses"][response]:
        regions = [c["value"] for c in v.get("condition") or [] if c.get("name") == "region"]
        for region in regions or ["*"]:
            out.setdefault(region, v["text"])
    return out


@pytest.mark.parametrize("region", REGIONS)
def test_domain_responses_are_region_true(region):
    forbidden = forbidden_for(region)
    problems = []
    for name in DOMAIN["responses"]:
        variants = _variants(name)
        text = variants.get(region, variants.get("*"))
        for label, pattern in forbidden:
            if pattern.search(text):
                problems.append(f"{name}/{region}: {label}")
    assert not problems, "\n".join(problems)
