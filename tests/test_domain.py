"""The domain keeps the intent contract and its crisis replies carry the right numbers."""

import pytest
import yaml
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.training_data.structures import RuleStep

from bot import contacts, facts
from bot.paths import ROOT
from bot.topic_importer import TopicImporter, project_importer

DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text())
# as Rasa trains on it: domain.yml plus one intent per fact (bot/topic_importer.py)
PROJECT = project_importer()
INTENTS = set(PROJECT.get_domain().intents)
CRISIS = ["crisis_suicidal", "crisis_overdose", "crisis_medical"]
TOPIC_CONTRACT = """what_is_heroin why_addictive withdrawal_symptoms withdrawal_timeline home_detox_risks
medical_detox detox_medications methadone_info methadone_myths buprenorphine_info buprenorphine_timing
methadone_vs_buprenorphine inpatient_vs_outpatient after_detox relapse cravings overdose_risk
overdose_signs naloxone co_occurring_disorders family_support signs_need_detox injection_risks
street_heroin_contents finding_treatment pregnancy""".split()
CONTRACT = (
    TOPIC_CONTRACT
    + """crisis_suicidal crisis_overdose crisis_medical greet goodbye
thank affirm deny bot_challenge ask_human out_of_scope""".split()
)


def variant_for(response: str, region: str) -> str:
    variants = DOMAIN["responses"][response]
    for v in variants:
        conditions = v.get("condition") or []
        if any(c["name"] == "region" and c["value"] == region for c in conditions):
            return v["text"]
    return next(v["text"] for v in variants if not v.get("condition"))


def test_every_contract_intent_and_entity_is_in_the_domain():
    assert set(CONTRACT) <= INTENTS
    # an entry is a name, or {name: its settings}
    entities = {e if isinstance(e, str) else next(iter(e)) for e in DOMAIN["entities"]}
    assert {"medication", "substance", "family_member", "duration"} <= entities
    assert {"region", "audience"} <= set(DOMAIN["slots"])


@pytest.mark.parametrize("region", sorted(contacts.all_regions()))
@pytest.mark.parametrize("intent", CRISIS)
def test_crisis_reply_has_emergency_crisis_line_and_helpline(intent, region):
    text = variant_for(f"utter_{intent}", region)
    c = contacts.for_region(region)
    for kind in ("emergency", "crisis_line", "helpline"):
        assert c[kind]["number"] in text, f"{intent}/{region} lacks {kind} {c[kind]['number']}"
    others = [r for r in contacts.all_regions() if r != region]
    for other in others:
        assert contacts.for_region(other)["emergency"]["number"] not in text


@pytest.mark.parametrize("region", sorted(contacts.all_regions()))
def test_ask_human_and_fallback_offer_people(region):
    c = contacts.for_region(region)
    assert c["helpline"]["number"] in variant_for("utter_ask_human", region)
    assert c["emergency"]["number"] in variant_for("utter_fallback", region)


def test_crisis_rules_answer_with_static_responses_first():
    rules = yaml.safe_load((ROOT / "data" / "rules" / "crisis.yml").read_text())["rules"]
    for intent in CRISIS:
        own = [r for r in rules if r["steps"][0].get("intent") == intent]
        assert len(own) == 2  # plain, and interrupting the form
        for rule in own:
            assert rule["steps"][1] == {"action": f"utter_{intent}"}


def _first_replies(project=PROJECT):
    """The first action of every rule, by the intent that starts it."""
    routed = {}
    for step in project.get_stories().story_steps:
        if not isinstance(step, RuleStep) or step.condition_events_indices:
            continue
        events = [e for e in step.events if isinstance(e, (UserUttered, ActionExecuted))]
        for said, reply in zip(events, events[1:]):
            if isinstance(said, UserUttered) and isinstance(reply, ActionExecuted):
                routed.setdefault(said.intent_name, []).append(reply.action_name)
                break
    return routed


def test_every_topic_is_routed():
    routed = _first_replies()
    topics = set(facts.facts())
    assert set(TOPIC_CONTRACT) <= topics
    for topic in topics - {"buprenorphine_timing"}:
        assert routed[topic] == ["action_answer_topic"], topic
    assert routed["buprenorphine_timing"] == ["buprenorphine_timing_form"]
    assert routed["tell_me_more"] == ["action_tell_me_more"]
    assert "tell_me_more" in INTENTS and "action_tell_me_more" in DOMAIN["actions"]
    assert "last_topic" in DOMAIN["slots"]


def test_no_more_detail_reply_is_kind_and_offers_topics():
    reply = DOMAIN["responses"]["utter_no_more_detail"][0]
    assert len(reply["buttons"]) >= 4


def test_uk_suicidal_reply_offers_the_text_line():
    uk = contacts.for_region("uk")
    text = variant_for("utter_crisis_suicidal", "uk")
    assert uk["text_line"]["number"] in text and uk["text_line"]["name"] in text


@pytest.mark.parametrize("region", sorted(contacts.all_regions()))
def test_medical_reply_covers_a_child_who_swallowed_medicine_and_pregnancy(region):
    c = contacts.for_region(region)
    text = variant_for("utter_crisis_medical", region)
    child = next(line for line in text.splitlines() if "child" in line)
    assert c["emergency"]["number"] in child and "even if they seem fine" in child
    assert "methadone" in child and "buprenorphine" in child and "pet" in child
    assert "delayed" in child
    if "poison_control" in c:
        assert c["poison_control"]["number"] in child
    pregnant = next(line for line in text.splitlines() if "pregnant" in line)
    assert "bleeding" in pregnant and c["emergency"]["number"] in pregnant


@pytest.mark.parametrize("region", sorted(contacts.all_regions()))
def test_overdose_reply_covers_compressions_and_breathing_slowing_again(region):
    text = variant_for("utter_crisis_overdose", region)
    assert "chest compressions" in text
    again = next(line for line in text.splitlines() if "slows again" in line)
    assert "another dose" in again and contacts.for_region(region)["emergency"]["number"] in again


def test_text_only_responses_stay_one_message():
    """Rasa's channels split text at blank lines; a crisis reply must arrive whole."""
    for name, variants in DOMAIN["responses"].items():
        for v in variants:
            if not v.get("buttons"):
                assert "\n\n" not in v["text"], f"{name} would be split into several messages"


def test_a_new_topic_needs_only_a_fact_and_its_examples(tmp_path):
    """Adding a topic touches data/facts.yml and data/nlu/: Rasa then knows its intent and rule."""
    raw = facts.load_raw()
    raw["facts"]["sleep_after_detox"] = dict(raw["facts"]["cravings"], title="Sleep after detox")
    facts_file = tmp_path / "facts.yml"
    facts_file.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    nlu = tmp_path / "nlu.yml"
    nlu.write_text(
        'version: "3.1"\nnlu:\n- intent: sleep_after_detox\n  examples: |\n'
        "    - why can't I sleep since I stopped\n    - no sleep for a week after detox\n",
        encoding="utf-8",
    )
    project = TopicImporter(
        str(ROOT / "config.yml"), str(ROOT / "domain.yml"), [str(ROOT / "data"), str(nlu)], facts_file=str(facts_file)
    )
    assert "sleep_after_detox" in project.get_domain().intents
    routed = _first_replies(project)
    assert routed["sleep_after_detox"] == ["action_answer_topic"]
    assert routed["buprenorphine_timing"] == ["buprenorphine_timing_form"]
