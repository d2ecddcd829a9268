"""Custom actions, run with the SDK's CollectingDispatcher against hand-made trackers."""
import asyncio

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.buprenorphine import ActionExplainBuprenorphineTiming, ValidateBuprenorphineTimingForm
from actions.crisis import ActionFlagCrisis
from actions.topics import ActionAnswerTopic
from bot import contacts, facts
from tests.conftest import first_paragraph

FACTS = facts.load()


def tracker(intent="withdrawal_timeline", entities=(), slots=None, text="hello"):
    base = {"region": "uk", "audience": "self", "crisis_seen": False}
    base.update(slots or {})
    return Tracker(
        sender_id="test", slots=base,
        latest_message={"text": text, "intent": {"name": intent, "confidence": 0.9},
                        "entities": list(entities)},
        events=[], paused=False, followup_action=None, active_loop={}, latest_action_name=None,
    )


def run(action, t):
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, t, {}))
    return dispatcher.messages, events


@pytest.mark.parametrize("topic", sorted(FACTS))
def test_every_topic_is_answered_from_its_fact_with_related_buttons(topic):
    messages, events = run(ActionAnswerTopic(), tracker(topic))
    assert len(messages) == 1
    assert messages[0]["text"].startswith(first_paragraph(FACTS[topic].answer))
    assert [b["payload"] for b in messages[0]["buttons"]] == [f"/{r}" for r in FACTS[topic].related]
    assert messages[0]["fact"] == topic  # staff can see which fact answered
    assert events == []


def test_family_member_switches_to_family_framing_and_sets_audience():
    ent = [{"entity": "family_member", "value": "son"}]
    messages, events = run(ActionAnswerTopic(), tracker("withdrawal_symptoms", ent))
    assert messages[0]["text"].startswith(first_paragraph(FACTS["withdrawal_symptoms"].family))
    assert SlotSet("audience", "family") in events


def test_family_framing_persists_through_the_slot():
    messages, _ = run(ActionAnswerTopic(), tracker("relapse", slots={"audience": "family"}))
    assert messages[0]["text"].startswith(first_paragraph(FACTS["relapse"].family))


def test_family_member_mentioned_in_an_earlier_unanswered_message_still_counts():
    # "hi, my son uses gear" got a greeting or the fallback, so only the slot remembers it
    messages, events = run(ActionAnswerTopic(), tracker("withdrawal_timeline", slots={"family_member": "son"}))
    assert messages[0]["text"].startswith(first_paragraph(FACTS["withdrawal_timeline"].family))
    assert SlotSet("audience", "family") in events


def test_after_a_crisis_answers_keep_a_line_with_human_contacts():
    for region in ("uk", "us"):
        t = tracker("cravings", slots={"crisis_seen": True, "region": region})
        messages, _ = run(ActionAnswerTopic(), t)
        assert messages[0]["text"].endswith(contacts.reminder_line(region))
        assert contacts.for_region(region)["emergency"]["number"] in messages[0]["text"]


def test_unknown_intent_falls_back_instead_of_guessing():
    messages, _ = run(ActionAnswerTopic(), tracker("greet"))
    assert messages == [{"response": "utter_fallback", "text": None, "buttons": [], "elements": [],
                         "custom": {}, "template": "utter_fallback", "image": None,
                         "attachment": None}] or messages[0].get("response") == "utter_fallback"


def test_flag_crisis_records_the_kind():
    _, events = run(ActionFlagCrisis(), tracker("crisis_overdose"))
    assert SlotSet("crisis_flagged", True) in events
    assert SlotSet("crisis_kind", "crisis_overdose") in events


def extract(slot, t):
    form = ValidateBuprenorphineTimingForm()
    return asyncio.run(getattr(form, f"extract_{slot}")(CollectingDispatcher(), t, {}))


def test_form_takes_what_was_used_but_not_the_buprenorphine_asked_about():
    ents = [{"entity": "medication", "value": "subutex"}, {"entity": "medication", "value": "methadone"}]
    assert extract("last_substance", tracker("buprenorphine_timing", ents)) == {"last_substance": "methadone"}
    only_bupe = [{"entity": "medication", "value": "suboxone"}]
    assert extract("last_substance", tracker("buprenorphine_timing", only_bupe)) == {}


def test_form_accepts_not_sure_when_asked_and_ignores_crisis_messages():
    asked = tracker("inform", slots={"requested_slot": "last_use"}, text="no idea")
    assert extract("last_use", asked) == {"last_use": "not sure"}
    crisis = tracker("crisis_overdose", [{"entity": "duration", "value": "2 hours ago"}],
                     slots={"requested_slot": "last_use"})
    assert extract("last_use", crisis) == {}


@pytest.mark.parametrize("used", ["heroin", "methadone", "fentanyl"])
def test_timing_explanation_depends_on_what_was_used(used):
    t = tracker("inform", slots={"last_substance": used, "last_use": "8 hours ago"})
    messages, events = run(ActionExplainBuprenorphineTiming(), t)
    text = messages[-1]["text"]
    assert FACTS["buprenorphine_timing"].extra["substance"][used].strip() in text
    for other in {"heroin", "methadone", "fentanyl"} - {used}:
        assert FACTS["buprenorphine_timing"].extra["substance"][other].strip() not in text
    assert text.endswith(facts.PRESCRIBER_LINE)
    assert used in messages[0]["text"] and "8 hours ago" in messages[0]["text"]
    assert SlotSet("last_substance", None) in events
