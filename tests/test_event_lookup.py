"""bot.event_lookup: Rasa's event-type lookup from a table; every answer must stay Rasa's."""

from __future__ import annotations

import time

import pytest
from rasa.shared.core.events import ActionExecuted, Event, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.utils.common import all_subclasses

from bot import event_lookup


@pytest.fixture
def installed(monkeypatch):
    monkeypatch.setattr(Event, "resolve_by_type", Event.__dict__["resolve_by_type"])
    monkeypatch.setattr(Event, "__init_subclass__", Event.__dict__.get("__init_subclass__", object.__init_subclass__))
    event_lookup.install()
    yield
    event_lookup._table.clear()


def names():
    return sorted({cls.type_name for cls in all_subclasses(Event)})


def test_every_event_type_resolves_to_the_class_rasa_finds(installed):
    assert len(names()) >= 15
    for name in names():
        assert Event.resolve_by_type(name) is event_lookup._original_resolve(name), name


def test_unknown_names_topic_and_defaults_are_rasa_s(installed):
    with pytest.raises(ValueError, match="Unknown event name 'no-such-event'"):
        Event.resolve_by_type("no-such-event")
    assert Event.resolve_by_type("topic") is None
    assert Event.resolve_by_type("no-such-event", default=SlotSet) is SlotSet


def test_a_subclass_defined_later_is_found(installed):
    assert Event.resolve_by_type("user") is UserUttered  # the table is built now

    class LateEvent(SlotSet):
        type_name = "late_event_for_test"

    assert Event.resolve_by_type("late_event_for_test") is LateEvent


def test_a_stored_conversation_reads_back_the_same_and_faster(installed):
    events = []
    for turn in range(200):
        events += [
            ActionExecuted("action_listen"),
            UserUttered(f"message {turn}", {"name": "greet", "confidence": 0.9}),
            SlotSet("region", "uk"),
            ActionExecuted("utter_greet"),
        ]
    stored = [e.as_dict() for e in events]

    def read(resolve) -> tuple:
        Event.resolve_by_type = staticmethod(resolve)
        started = time.perf_counter()
        tracker = DialogueStateTracker.from_dict("someone", stored)
        return tracker, (time.perf_counter() - started) * 1000

    original, slow = read(event_lookup._original_resolve)
    cached, fast = read(event_lookup.resolve_by_type)
    assert [e.as_dict() for e in cached.events] == [e.as_dict() for e in original.events] == stored
    print(f"\n800 stored events read back: Rasa's lookup {slow:.1f} ms, the table {fast:.1f} ms")
