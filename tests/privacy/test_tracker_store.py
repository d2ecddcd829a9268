"""The redacting tracker store on its own (SQLite file): what is written, and what is not."""

from __future__ import annotations

import asyncio
import json

import sqlalchemy as sa
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot import contacts
from bot.transcripts import summary
from bot.transcripts.tracker_store import RedactingTrackerStore

MODEL_ID = "b044f1778d5840978e8043e6947ec79b"
FRANK = contacts.for_region("uk")["helpline"]


def rows(store, sender):
    with store.engine.connect() as c:
        return [
            json.loads(d)
            for (d,) in c.execute(sa.text("SELECT data FROM events WHERE sender_id = :s ORDER BY id"), {"s": sender})
        ]


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
    user = UserUttered(
        text,
        {"name": "family_support", "confidence": 0.8},
        entities,
        metadata={"model_id": MODEL_ID, "note": "from 07700 900777"},
    )
    tracker = DialogueStateTracker.from_events(
        "s1",
        [
            ActionExecuted("action_listen"),
            user,
            SlotSet("person", "Maisie Quinn"),  # slot not in domain: only stored
            ActionExecuted("action_answer_topic"),
            BotUttered(
                f"Thanks Maisie Quinn. Families can call {FRANK['name']} on {FRANK['number']}.",
                metadata={"fact": "family_support"},
            ),
            ActionExecuted("action_listen"),
        ],
        slots=[],
    )
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
        assert redacted[e["start"] : e["end"]] == e["value"]
    assert stored_user["metadata"] == {"model_id": MODEL_ID, "note": "from [PHONE]"}
    assert data[2] == {**data[2], "event": "slot", "value": "[NAME]"}
    assert data[4]["text"] == f"Thanks [NAME]. Families can call {FRANK['name']} on {FRANK['number']}."
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

    # the summary the staff list reads was kept up to date by both saves, from redacted text only
    with store.engine.begin() as c:
        kept = c.execute(sa.text("SELECT * FROM conversation_summaries WHERE sender_id = 's1'")).mappings().one()
        intents = c.execute(sa.text("SELECT intent, count FROM conversation_intents ORDER BY intent")).all()
        assert kept["preview"] == redacted and kept["search_text"].startswith("s1\n" + redacted.lower())
        assert "[name]" in kept["search_text"] and "maisie" not in kept["search_text"]
        assert "07700" not in kept["search_text"]
        assert (kept["user_messages"], kept["bot_messages"]) == (2, 2)
        assert intents == [("family_support", 1), ("thank", 1)]
        # folding both turns at once gives the same summary as folding them save by save
        c.execute(sa.text("DELETE FROM conversation_summaries"))
        c.execute(sa.text("DELETE FROM conversation_intents"))
        summary.refresh(c, "s1")
        assert c.execute(sa.text("SELECT * FROM conversation_summaries")).mappings().one() == kept
        assert c.execute(sa.text("SELECT intent, count FROM conversation_intents ORDER BY intent")).all() == intents
    store.engine.dispose()


def one_turn(sender, text, intent, answer):
    return DialogueStateTracker.from_events(
        sender,
        [
            ActionExecuted("action_listen"),
            UserUttered(text, {"name": intent, "confidence": 0.9}),
            BotUttered(answer),
            ActionExecuted("action_listen"),
        ],
        slots=[],
    )


def test_a_failing_summary_never_loses_the_turn(tmp_path, monkeypatch, caplog):
    store = RedactingTrackerStore(domain=Domain.empty(), host=f"sqlite:///{tmp_path / 'store.db'}")
    tracker = one_turn("s2", "i took too much", "crisis_overdose", "Call 999 now.")

    def broken(connection, sender_id):
        raise RuntimeError("summary table missing")

    monkeypatch.setattr(summary, "refresh", broken)
    asyncio.run(store.save(tracker))
    assert len(rows(store, "s2")) == 4 and "could not update the conversation summary" in caplog.text
    monkeypatch.undo()
    # the next save catches up with the turn the failed update missed
    tracker.update(UserUttered("thanks", {"name": "thank", "confidence": 0.99}))
    asyncio.run(store.save(tracker))
    with store.engine.connect() as c:
        kept = c.execute(
            sa.text(
                "SELECT user_messages, bot_messages, crisis_auto FROM conversation_summaries WHERE sender_id = 's2'"
            )
        ).one()
    assert tuple(kept) == (2, 1, 1)
    store.engine.dispose()


def test_a_summary_failing_halfway_is_undone_and_the_turn_kept(tmp_path, monkeypatch, caplog):
    store = RedactingTrackerStore(domain=Domain.empty(), host=f"sqlite:///{tmp_path / 'store.db'}")
    tracker = one_turn("s3", "what is naloxone", "naloxone", "Naloxone reverses an opioid overdose.")

    def halfway(connection, sender_id):
        connection.execute(sa.insert(summary.INTENTS).values(sender_id=sender_id, intent="half", count=1))
        raise RuntimeError("the disk filled up halfway")

    monkeypatch.setattr(summary, "refresh", halfway)
    asyncio.run(store.save(tracker))
    assert len(rows(store, "s3")) == 4 and "could not update the conversation summary" in caplog.text
    with store.engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM conversation_intents")).scalar() == 0
    store.engine.dispose()


def test_trackers_loaded_from_the_store_save_each_event_once(tmp_path):
    store = RedactingTrackerStore(domain=Domain.empty(), host=f"sqlite:///{tmp_path / 'store.db'}")
    first = DialogueStateTracker.from_events(
        "s4", [ActionExecuted("action_listen"), UserUttered("hi", {"name": "greet", "confidence": 0.9})], slots=[]
    )
    asyncio.run(store.save(first))
    for turn in range(3):
        loaded = asyncio.run(store.retrieve("s4"))
        loaded.update(BotUttered(f"answer {turn}"))
        asyncio.run(store.save(loaded))
        asyncio.run(store.save(loaded))  # saved twice: nothing new the second time
        loaded.update(UserUttered(f"question {turn}", {"name": "naloxone", "confidence": 0.9}))
        asyncio.run(store.save(loaded))
    texts = [row.get("text") for row in rows(store, "s4") if row["event"] in ("user", "bot")]
    assert texts == ["hi"] + [t for turn in range(3) for t in (f"answer {turn}", f"question {turn}")]
    store.engine.dispose()
