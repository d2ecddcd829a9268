"""The redacting tracker store on its own (SQLite file): what is written, and what is not."""
from __future__ import annotations

import asyncio
import json

import sqlalchemy as sa
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.transcripts.tracker_store import RedactingTrackerStore

MODEL_ID = "b044f1778d5840978e8043e6947ec79b"


def rows(store, sender):
    with store.engine.connect() as c:
        return [json.loads(d) for (d,) in c.execute(
            sa.text("SELECT data FROM events WHERE sender_id = :s ORDER BY id"), {"s": sender})]


def test_store_redacts_text_entities_slots_and_echoes_but_not_the_live_tracker(tmp_path):
    db_file = tmp_path / "store.db"
    store = RedactingTrackerStore(domain=Domain.empty(), host=f"sqlite:///{db_file}")
    text = "I'm called Maisie Quinn, ring 07700 900777, my son takes methadone"
    name_at, med_at, son_at = text.index("Maisie"), text.index("methadone"), text.index("son")
    entities = [
        {"entity": "person", "value": "Maisie Quinn", "start": name_at, "end": name_at + 12},
        {"entity": "family_member", "value": "son", "start": son_at, "end": son_at + 3},
        {"entity": "medication", "value": "methadone", "start": med_at, "end": med_at + 9},
    ]
    user = UserUttered(text, {"name": "family_support", "confidence": 0.8}, entities,
                       metadata={"model_id": MODEL_ID, "note": "from 07700 900777"})
    tracker = DialogueStateTracker.from_events("s1", [
        ActionExecuted("action_listen"), user, SlotSet("person", "Maisie Quinn"),  # slot not in domain: only stored
        ActionExecuted("action_answer_topic"),
        BotUttered("Thanks Maisie Quinn. Families can call FRANK on 0300 123 6600.", metadata={"fact": "family_support"}),
        ActionExecuted("action_listen"),
    ], slots=[])
    asyncio.run(store.save(tracker))

    # the live tracker (what NLU, policies and actions used) still holds the original
    assert tracker.latest_message.text == text
    raw = db_file.read_bytes()
    for secret in (b"Maisie", b"Quinn", b"07700", b"900777"):
        assert secret not in raw
    data = rows(store, "s1")
    stored_user = data[1]
    redacted = "I'm called [NAME], ring [PHONE], my son takes methadone"
    assert stored_user["text"] == stored_user["parse_data"]["text"] == redacted
    ents = {e["entity"]: e for e in stored_user["parse_data"]["entities"]}
    assert ents["person"]["value"] == "[NAME]"
    for name in ("person", "family_member", "medication"):  # offsets point into the redacted text
        e = ents[name]
        assert redacted[e["start"]:e["end"]] == e["value"]
    assert stored_user["metadata"] == {"model_id": MODEL_ID, "note": "from [PHONE]"}
    assert data[2] == {**data[2], "event": "slot", "value": "[NAME]"}
    assert data[4]["text"] == "Thanks [NAME]. Families can call FRANK on 0300 123 6600."
    assert data[4]["metadata"] == {"fact": "family_support"}

    # next turn: only new events are appended; the echo of a name given in an earlier turn is caught
    loaded = asyncio.run(store.retrieve("s1"))
    assert loaded.latest_message.text == redacted
    tracker.update(UserUttered("thanks", {"name": "thank", "confidence": 0.99}))
    tracker.update(BotUttered("You're welcome, Maisie."))
    asyncio.run(store.save(tracker))
    data = rows(store, "s1")
    assert len(data) == 8 and data[-1]["text"] == "You're welcome, [NAME]."
    assert b"Maisie" not in db_file.read_bytes()
    store.engine.dispose()
