"""Nothing leaves the tracker store unredacted: a real event broker, configured as an operator
would in endpoints.yml (Rasa's SQL broker on a SQLite file), receives only the redacted copies
the store writes. Conversations full of personal data are saved, then every byte of both
SQLite files (journal and WAL included) is read back and searched."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import sqlalchemy as sa
import yaml
from rasa.core.brokers.broker import EventBroker
from rasa.core.brokers.sql import SQLEventBroker
from rasa.core.tracker_store import SQLTrackerStore, TrackerStore
from rasa.core.utils import AvailableEndpoints
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot import contacts
from bot.paths import ROOT
from bot.redact import redact
from bot.transcripts.tracker_store import RedactingTrackerStore

# (what the visitor types, the personal data in it that must never reach either file)
UK_TURNS = [
    ("im called priya, 19, two days off the gear and rattling", ["priya"]),
    (
        "my mobile is 07700 900582 or the landline 0113 496 0471",
        ["07700 900582", "07700900582", "0113 496 0471", "01134960471"],
    ),
    ("email me at priya.k.suri@example.co.uk", ["priya.k.suri@example.co.uk", "suri"]),
    ("I live at 27 Harrowgate Crescent, Bradford BD7 4QJ", ["27 Harrowgate Crescent", "Harrowgate", "BD7 4QJ"]),
    ("my NHS number is 485 777 3456 and i was born 23/11/1987", ["485 777 3456", "4857773456", "23/11/1987"]),
    ("my card is 4539 1488 0343 6467, can you pay for my script", ["4539 1488 0343 6467", "4539148803436467"]),
    ("+44 7700 900 611 is my sisters phone", ["+44 7700 900 611", "447700900611"]),
]
US_TURNS = [
    ("hey this is Dwayne Okafor, 34, been using 6 years", ["Dwayne", "Okafor"]),
    ("my cell is (312) 555-0187, or text 646.555.0143", ["(312) 555-0187", "3125550187", "646.555.0143", "6465550143"]),
    ("ssn 512-44-7788, date of birth March 8, 1979", ["512-44-7788", "512447788", "March 8, 1979"]),
    ("I'm at 4410 W Belmont Ave, Chicago, IL 60641", ["4410 W Belmont Ave", "Belmont", "60641"]),
    ("reach me on d.okafor.reyes@mailbox.example.com", ["d.okafor.reyes@mailbox.example.com", "okafor.reyes"]),
    ("card 5425 2334 3010 9903, exp soon", ["5425 2334 3010 9903", "5425233430109903"]),
    (
        "my name is Tamsin Ashdown-Pryce and my social security number is 601 38 2294",
        ["Tamsin", "Ashdown", "601382294"],
    ),
]
SECRETS = [secret for _, secrets in UK_TURNS + US_TURNS for secret in secrets]


def digit_runs(secret: str) -> List[str]:
    """The digits of a secret as they could leak: each run of four or more, and all of them."""
    runs = re.findall(r"\d{4,}", secret)
    digits = re.sub(r"\D", "", secret)
    return runs + ([digits] if len(digits) >= 4 else [])


DIGIT_RUNS = sorted({run for secret in SECRETS for run in digit_runs(secret)})

# the slots a turn sets with personal data in them (an action or a form could)
DOMAIN = Domain.from_dict(
    {"slots": {name: {"type": "text", "mappings": [{"type": "custom"}]} for name in ("person", "callback")}}
)
T0 = 1_700_000_000.0  # fixed timestamps: no clock digits in the files that a run could match


def broker_example() -> Dict[str, Any]:
    """The commented `event_broker:` example of endpoints.yml, uncommented: what an operator enables."""
    lines = (ROOT / "endpoints.yml").read_text(encoding="utf-8").splitlines()
    start = lines.index("# event_broker:")
    block = [lines[start][2:]]
    for line in lines[start + 1 :]:
        if not line.startswith("#   "):
            break
        block.append(line[2:])
    return yaml.safe_load("\n".join(block))


def build_from_endpoints(tmp_path: Path) -> Tuple[TrackerStore, EventBroker, Path, Path]:
    """Broker and tracker store built the way `rasa run` builds them from an endpoints file."""
    store_db, broker_db = tmp_path / "store.db", tmp_path / "broker.db"
    example = broker_example()
    assert example["event_broker"]["type"] == "SQL" and example["event_broker"]["dialect"] == "sqlite"
    example["event_broker"]["db"] = str(broker_db)
    endpoints_file = tmp_path / "endpoints.yml"
    endpoints_file.write_text(
        yaml.safe_dump(
            {
                "tracker_store": {
                    "type": "bot.transcripts.tracker_store.RedactingTrackerStore",
                    "url": f"sqlite:///{store_db}",
                },
                **example,
            }
        ),
        encoding="utf-8",
    )
    endpoints = AvailableEndpoints.read_endpoints(str(endpoints_file))
    broker = asyncio.run(EventBroker.create(endpoints.event_broker))
    assert isinstance(broker, SQLEventBroker)
    store = TrackerStore.create(endpoints.tracker_store, DOMAIN, broker)
    assert isinstance(store, RedactingTrackerStore) and store.event_broker is broker
    return store, broker, store_db, broker_db


def helpline_reply(region: str) -> str:
    lines = [contacts.reminder_line(region)]
    lines += [f"{c['name']}: {c['number']}" for c in contacts.for_region(region).values()]
    return "\n".join(lines)


def turn(index: int, text: str, region: str, reply: str, slots: Optional[Dict[str, str]] = None) -> List[Event]:
    """One turn as Rasa records it; the NLU found entities in the original text."""
    at = T0 + index * 10
    entities = []
    for entity, pattern in (("person", r"(?<=called )\w+|(?<=this is )\w+ \w+|(?<=name is )[\w-]+ [\w-]+"),):
        m = re.search(pattern, text)
        if m:
            entities.append({"entity": entity, "value": m.group(0), "start": m.start(), "end": m.end()})
    m = re.search(r"\+?\(?\d[\d ().-]{8,}\d", text)
    if m:
        entities.append({"entity": "phone", "value": m.group(0), "start": m.start(), "end": m.end()})
    events: List[Event] = [
        UserUttered(
            text,
            {"name": "share_details", "confidence": 0.9},
            entities,
            timestamp=at,
            message_id=f"m{index}",
            metadata={"region": region},
        )
    ]
    events += [SlotSet(k, v, timestamp=at + 1) for k, v in (slots or {}).items()]
    events += [
        ActionExecuted("action_answer_topic", timestamp=at + 2),
        BotUttered(reply, metadata={"fact": "helplines"}, timestamp=at + 3),
        ActionExecuted("action_listen", timestamp=at + 4),
    ]
    return events


async def converse(store: TrackerStore, sender: str, region: str, turns, name: str, phone: str) -> DialogueStateTracker:
    """Saves the conversation turn by turn, as Rasa does, with the bot echoing earlier data."""
    tracker = DialogueStateTracker.from_events(
        sender, [ActionExecuted("action_listen", timestamp=T0)], slots=DOMAIN.slots
    )
    for i, (text, _) in enumerate(turns):
        # from the second turn on, the reply and a slot echo personal data given in the first turns
        reply = helpline_reply(region) if i < 2 else f"Thanks {name}, we won't ring {phone}.\n{helpline_reply(region)}"
        slots = {"person": name, "callback": phone} if i >= 2 else None
        for event in turn(i + 1, text, region, reply, slots):
            tracker.update(event)
        await store.save(tracker)
    return tracker


def disk_bytes(path: Path) -> bytes:
    """The SQLite file plus any rollback journal or WAL beside it."""
    data = b""
    for candidate in (path, Path(f"{path}-journal"), Path(f"{path}-wal")):
        if candidate.exists():
            data += candidate.read_bytes()
    return data


def rows(engine: sa.engine.Engine, table_query: str, sender: str) -> List[Dict[str, Any]]:
    with engine.connect() as c:
        return [json.loads(d) for (d,) in c.execute(sa.text(table_query), {"s": sender})]


BROKER_ROWS = "SELECT data FROM events WHERE sender_id = :s ORDER BY id"
STORE_ROWS = "SELECT data FROM events WHERE sender_id = :s ORDER BY id"


def test_the_event_broker_and_the_disk_receive_only_redacted_events(tmp_path):
    store, broker, store_db, broker_db = build_from_endpoints(tmp_path)
    uk = asyncio.run(converse(store, "uk-visitor", "uk", UK_TURNS, "priya", "07700 900582"))
    us = asyncio.run(converse(store, "us-visitor", "us", US_TURNS, "Dwayne", "(312) 555-0187"))

    # the live trackers (what NLU, policies and actions used) kept the original text
    assert [e.text for e in uk.events if isinstance(e, UserUttered)] == [t for t, _ in UK_TURNS]

    for tracker, turns, region in ((uk, UK_TURNS, "uk"), (us, US_TURNS, "us")):
        sender = tracker.sender_id
        streamed = rows(broker.engine, BROKER_ROWS, sender)
        stored = rows(store.engine, STORE_ROWS, sender)
        # the broker got every event once, in order, and each is exactly the copy that was saved
        assert len(streamed) == len(tracker.events) == len(stored)
        assert all(body.pop("sender_id") == sender for body in streamed)
        assert streamed == stored
        user_texts = [b["text"] for b in streamed if b["event"] == "user"]
        assert user_texts == [redact(t) for t, _ in turns]
        assert all("[" in t for t in user_texts)
        for body in streamed:
            if body["event"] == "user":
                assert body["parse_data"]["text"] == body["text"]
                for e in body["parse_data"]["entities"]:
                    assert body["text"][e["start"] : e["end"]] == e["value"], e
            if body["event"] == "slot":
                assert body["value"] in ("[NAME]", "[PHONE]"), body
        bot_texts = [b["text"] for b in streamed if b["event"] == "bot"]
        assert "Thanks [NAME], we won't ring [PHONE]." in bot_texts[-1]
        # the public helplines the bot gives out survive, as written in data/contacts.yml
        for _region, _kind, number in contacts.numbers(region):
            assert all(number in text for text in bot_texts), number
    broker.engine.dispose()
    store.engine.dispose()

    for path in (broker_db, store_db):
        raw = disk_bytes(path)
        assert b"uk-visitor" in raw and b"[PHONE]" in raw, f"nothing was written to {path}"
        lowered = raw.lower()
        for secret in SECRETS:
            assert secret.lower().encode() not in lowered, f"{secret!r} is in {path.name}"
        for run in DIGIT_RUNS:
            assert not re.search(rb"(?<![0-9])" + run.encode() + rb"(?![0-9])", raw), f"{run} is in {path.name}"
        for _region, _kind, number in contacts.numbers():
            assert number.encode() in raw, f"helpline {number} is missing from {path.name}"


def test_the_check_sees_a_leak_when_the_store_streams_unredacted_events(tmp_path):
    """Rasa's own SQLTrackerStore, with the same broker: the search above would catch it."""
    broker = SQLEventBroker(dialect="sqlite", db=str(tmp_path / "broker.db"))
    store = SQLTrackerStore(DOMAIN, host=f"sqlite:///{tmp_path / 'plain.db'}", event_broker=broker)
    asyncio.run(converse(store, "uk-visitor", "uk", UK_TURNS[:2], "priya", "07700 900582"))
    broker.engine.dispose()
    store.engine.dispose()
    raw = disk_bytes(tmp_path / "broker.db")
    assert b"priya" in raw and b"07700 900582" in raw
