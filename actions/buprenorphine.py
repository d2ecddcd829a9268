"""The buprenorphine-timing form: asks what was last used and when, then explains."""

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.topics import region_of, say_answer
from bot import dialogue, facts

CRISIS_INTENTS = {"crisis_suicidal", "crisis_overdose", "crisis_medical"}


def _requested(tracker: Tracker, slot: str) -> bool:
    return tracker.get_slot("requested_slot") == slot


def _latest_intent(tracker: Tracker) -> Optional[str]:
    return (tracker.latest_message.get("intent") or {}).get("name")


class ValidateBuprenorphineTimingForm(FormValidationAction):
    def name(self) -> Text:
        return "validate_buprenorphine_timing_form"

    async def extract_last_substance(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if tracker.get_slot("last_substance") or _latest_intent(tracker) in CRISIS_INTENTS:
            return {}
        found = dialogue.last_used(dialogue.entity_values(tracker.latest_message))
        if found:
            return {"last_substance": found}
        if _requested(tracker, "last_substance"):
            return {"last_substance": "unknown"}  # "not sure" or something we don't recognise
        return {}

    async def extract_last_use(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if tracker.get_slot("last_use") or _latest_intent(tracker) in CRISIS_INTENTS:
            return {}
        durations = dialogue.entity_values(tracker.latest_message).get("duration")
        if durations:
            return {"last_use": durations[0]}
        if _requested(tracker, "last_use"):
            return {"last_use": "not sure"}
        return {}


class ActionExplainBuprenorphineTiming(Action):
    def name(self) -> Text:
        return "action_explain_buprenorphine_timing"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        used = tracker.get_slot("last_substance") or "unknown"
        when = tracker.get_slot("last_use") or "not sure"
        if used != "unknown":
            said = f"Thanks. You said the last use was {used}"
            said += f", {when}." if when != "not sure" else "."
            dispatcher.utter_message(text=said)
        audience = dialogue.audience(tracker.get_slot("audience"), {}, tracker.get_slot("family_member"))
        values = {"substance": [used]} if used != "unknown" else {}
        say_answer(
            dispatcher, tracker, facts.compose("buprenorphine_timing", audience, values, region=region_of(tracker))
        )
        # cleared so the next question about timing asks afresh; "Tell me more" expands it
        return [
            SlotSet("last_substance", None),
            SlotSet("last_use", None),
            SlotSet("last_topic", "buprenorphine_timing"),
        ]
