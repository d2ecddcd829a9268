"""Answers a topic intent from the curated facts."""
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot import contacts, dialogue, facts


def say_answer(dispatcher: CollectingDispatcher, tracker: Tracker, answer: facts.Answer) -> None:
    text = answer.text
    if tracker.get_slot("crisis_seen"):
        text += "\n\n" + contacts.reminder_line(tracker.get_slot("region"))
    # extra keyword arguments become the bot event's metadata: staff see which fact answered
    dispatcher.utter_message(text=text, buttons=answer.buttons, fact=answer.topic,
                             sources=answer.sources)


class ActionAnswerTopic(Action):
    def name(self) -> Text:
        return "action_answer_topic"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        topic = (tracker.latest_message.get("intent") or {}).get("name")
        if topic not in facts.facts():
            dispatcher.utter_message(response="utter_fallback")
            return []
        values = dialogue.entity_values(tracker.latest_message)
        audience = dialogue.audience(tracker.get_slot("audience"), values,
                                     tracker.get_slot("family_member"))
        say_answer(dispatcher, tracker, facts.compose(topic, audience, values))
        if audience != tracker.get_slot("audience"):
            return [SlotSet("audience", audience)]
        return []
