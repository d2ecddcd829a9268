"""Custom actions, run with the SDK's CollectingDispatcher against hand-made trackers."""

import asyncio

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.buprenorphine import ActionExplainBuprenorphineTiming, ValidateBuprenorphineTimingForm
from actions.crisis import ActionFlagCrisis
from actions.topics import ActionAnswerTopic, ActionTellMeMore
from bot import contacts, facts
from tests.conftest import first_paragraph

FACTS = facts.load()


def tracker(intent="withdrawal_timeline", entities=(), slots=None, text="hello"):
    base = {"region": "uk", "audience": "self", "crisis_seen": False}
    base.update(slots or {})
    return Tracker(
        sender_id="test",
        slots=base,
        latest_message={"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": list(entities)},
        events=[],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name=None,
    )


def run(action, t):
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, t, {}))
    return dispatcher.messages, events


def related(topic):
    return [f"/{r}" for r in FACTS[topic].related]


@pytest.mark.parametrize("topic", sorted(FACTS))
def test_every_topic_is_answered_from_its_fact_with_related_buttons(topic):
    messages, events = run(ActionAnswerTopic(), tracker(topic))
    assert len(messages) == 1
    assert messages[0]["text"].startswith(first_paragraph(FACTS[topic].answer))
    payloads = [b["payload"] for b in messages[0]["buttons"]]
    more = ["/tell_me_more"] if facts.compose(topic).more else []
    assert payloads == more + related(topic)
    assert messages[0]["fact"] == topic  # staff can see which fact answered
    assert events == [SlotSet("last_topic", topic)]  # what "Tell me more" will expand


@pytest.mark.parametrize("region", ["uk", "us"])
@pytest.mark.parametrize("topic", sorted(FACTS))
def test_answers_follow_the_region_slot(topic, region):
    messages, _ = run(ActionAnswerTopic(), tracker(topic, slots={"region": region}))
    assert messages[0]["text"] == facts.compose(topic, region=region).text


def test_unknown_region_slot_gets_the_default_preset():
    messages, _ = run(ActionAnswerTopic(), tracker("naloxone", slots={"region": "mars"}))
    assert messages[0]["text"] == facts.compose("naloxone", region="uk").text


@pytest.mark.parametrize("region", ["uk", "us"])
def test_tell_me_more_sends_the_rest_of_the_last_topic(region):
    t = tracker("tell_me_more", slots={"last_topic": "naloxone", "region": region, "audience": "family"})
    messages, events = run(ActionTellMeMore(), t)
    expected = facts.detail("naloxone", "family", region=region)
    assert messages[0]["text"] == expected.text
    assert [b["payload"] for b in messages[0]["buttons"]] == related("naloxone")
    assert events == [SlotSet("last_topic", None)]


def test_tell_me_more_with_nothing_to_expand_says_so_kindly():
    for slots in ({}, {"last_topic": None}, {"last_topic": "not_a_topic"}):
        messages, _ = run(ActionTellMeMore(), tracker("tell_me_more", slots=slots))
        assert messages[0]["response"] == "utter_no_more_detail"


def test_tell_me_more_after_the_buprenorphine_form_expands_timing():
    t = tracker("inform", slots={"last_substance": "heroin", "last_use": "8 hours ago"})
    _, events = run(ActionExplainBuprenorphineTiming(), t)
    assert SlotSet("last_topic", "buprenorphine_timing") in events
    messages, _ = run(ActionTellMeMore(), tracker("tell_me_more", slots={"last_topic": "buprenorphine_timing"}))
    assert messages[0]["text"] == facts.detail("buprenorphine_timing").text
    assert messages[0]["text"].endswith(facts.PRESCRIBER_LINE)


def test_after_a_crisis_tell_me_more_keeps_the_contacts_line():
    t = tracker("tell_me_more", slots={"last_topic": "cravings", "crisis_seen": True, "region": "us"})
    messages, _ = run(ActionTellMeMore(), t)
    assert messages[0]["text"].endswith(contacts.reminder_line("us"))


def test_family_member_switches_to_family_framing_and_sets_audience():
    ent = [{"entity": "family_member", "value": "son"}]
    messages, events = run(ActionAnswerTopic(), tracker("withdrawal_symptoms", ent))
    assert messages[0]["text"].startswith(first_paragraph(FACTS["withdrawal_symptoms"].family))
    assert SlotSet("audience", "family") in events
    assert SlotSet("last_topic", "withdrawal_symptoms") in events


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
    assert (
        messages
        == [
            {
                "response": "utter_fallback",
                "text": None,
                "buttons": [],
                "elements": [],
                "custom": {},
                "template": "utter_fallback",
                "image": None,
                "attachment": None,
            }
        ]
        or messages[0].get("response") == "utter_fallback"
    )


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
    crisis = tracker(
        "crisis_overdose", [{"entity": "duration", "value": "2 hours ago"}], slots={"requested_slot": "last_use"}
    )
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
