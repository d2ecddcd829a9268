"""The domain keeps the intent contract and its crisis replies carry the right numbers."""
import pytest
import yaml

from bot import contacts
from bot.paths import ROOT

DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text())
CRISIS = ["crisis_suicidal", "crisis_overdose", "crisis_medical"]
CONTRACT = """what_is_heroin why_addictive withdrawal_symptoms withdrawal_timeline home_detox_risks
medical_detox detox_medications methadone_info methadone_myths buprenorphine_info buprenorphine_timing
methadone_vs_buprenorphine inpatient_vs_outpatient after_detox relapse cravings overdose_risk
overdose_signs naloxone co_occurring_disorders family_support signs_need_detox injection_risks
street_heroin_contents finding_treatment crisis_suicidal crisis_overdose crisis_medical greet goodbye
thank affirm deny bot_challenge ask_human out_of_scope""".split()


def variant_for(response: str, region: str) -> str:
    variants = DOMAIN["responses"][response]
    for v in variants:
        conditions = v.get("condition") or []
        if any(c["name"] == "region" and c["value"] == region for c in conditions):
            return v["text"]
    return next(v["text"] for v in variants if not v.get("condition"))


def test_every_contract_intent_and_entity_is_in_the_domain():
    assert set(CONTRACT) <= set(DOMAIN["intents"])
    assert {"medication", "substance", "family_member", "duration"} <= set(DOMAIN["entities"])
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


def test_every_topic_is_routed():
    rules = yaml.safe_load((ROOT / "data" / "rules" / "topics.yml").read_text())["rules"]
    routed = {r["steps"][0]["intent"] for r in rules}
    topics = set(CONTRACT[:25]) - {"buprenorphine_timing"}
    assert routed == topics


def test_text_only_responses_stay_one_message():
    """Rasa's channels split text at blank lines; a crisis reply must arrive whole."""
    for name, variants in DOMAIN["responses"].items():
        for v in variants:
            if not v.get("buttons"):
                assert "\n\n" not in v["text"], f"{name} would be split into several messages"
