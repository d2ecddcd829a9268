"""Flags a conversation for staff review after a crisis reply has been sent.

The crisis reply itself is a static domain response sent before this action runs, so a
person in crisis gets the numbers even when this server is down.
"""

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher


class ActionFlagCrisis(Action):
    def name(self) -> Text:
        return "action_flag_crisis"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        kind = (tracker.latest_message.get("intent") or {}).get("name") or "crisis"
        if any(e.get("entity") == "safety_check" for e in tracker.latest_message.get("entities") or []):
            kind = "safety_check"  # asked whether anyone is in danger; staff should look
        return [SlotSet("crisis_flagged", True), SlotSet("crisis_kind", kind)]
