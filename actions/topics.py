"""Answers a topic intent from the curated facts, and "Tell me more" after it.

The answer is phone-short: bubble 1 (at most 80 words) plus any entity-specific paragraph
and the prescriber line; the rest of the fact waits behind the "Tell me more" button.
Everything is in the visitor's region (the `region` slot) and framing (`audience`).
"""

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot import contacts, dialogue, facts


def region_of(tracker: Tracker) -> str:
    return dialogue.region(tracker.get_slot("region"))


def say_answer(dispatcher: CollectingDispatcher, tracker: Tracker, answer: facts.Answer) -> None:
    text = answer.text
    if tracker.get_slot("crisis_seen"):
        text += "\n\n" + contacts.reminder_line(region_of(tracker))
    # extra keyword arguments become the bot event's metadata: staff see which fact answered
    dispatcher.utter_message(text=text, buttons=answer.buttons, fact=answer.topic, sources=answer.sources)


def answered(topic: str, audience: str, previous_audience: Optional[str]) -> List[Dict[Text, Any]]:
    """Slots to set after answering `topic`: what "Tell me more" expands, and the framing."""
    events = [SlotSet("last_topic", topic)]
    if audience != previous_audience:
        events.append(SlotSet("audience", audience))
    return events


class ActionAnswerTopic(Action):
    def name(self) -> Text:
        return "action_answer_topic"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        topic = (tracker.latest_message.get("intent") or {}).get("name")
        if topic not in facts.facts():
            dispatcher.utter_message(response="utter_fallback")
            return []
        values = dialogue.entity_values(tracker.latest_message)
        audience = dialogue.audience(tracker.get_slot("audience"), values, tracker.get_slot("family_member"))
        answer = facts.compose(topic, audience, values, region=region_of(tracker))
        say_answer(dispatcher, tracker, answer)
        return answered(topic, audience, tracker.get_slot("audience"))


class ActionTellMeMore(Action):
    """The rest of the last topic's answer; kindly says so when there is no more."""

    def name(self) -> Text:
        return "action_tell_me_more"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        topic = tracker.get_slot("last_topic")
        audience = dialogue.audience(tracker.get_slot("audience"), {}, tracker.get_slot("family_member"))
        more = None
        if topic in facts.facts():
            more = facts.detail(topic, audience, region=region_of(tracker))
        if more is None:
            dispatcher.utter_message(response="utter_no_more_detail")
            return [SlotSet("last_topic", None)] if topic else []
        say_answer(dispatcher, tracker, more)
        # said in full: a second "Tell me more" gets the kind "that's everything" reply
        return [SlotSet("last_topic", None)]
