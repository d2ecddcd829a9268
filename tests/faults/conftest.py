"""A stack of its own for breaking things: the faults here stop, kill, lock and hide parts
that the session's shared stack (tests/conftest.py) must keep running for other tests.

Its SQLite file sits alone in its own folder, so a fault can make that folder read-only or
take it away without touching anything else.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

import httpx
import pytest
import sqlalchemy as sa

from bot import contacts
from bot import settings as settings_module
from bot.evaluation import sets
from bot.stack import Stack
from tests.conftest import ARTIFACTS
from tests.services import free_port
from tests.test_crisis_end_to_end import carries_numbers, crisis_examples

pytestmark = pytest.mark.stack


@pytest.fixture(scope="package")
def fault_stack() -> Iterator[Stack]:
    folder = ARTIFACTS / f"faults-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    settings = settings_module.load().replace(
        rasa_port=free_port(),
        actions_port=free_port(),
        web_port=free_port(),
        db_url=f"sqlite:///{folder / 'bot.db'}",
    )
    running = Stack(settings, log_dir=ARTIFACTS / "logs" / "faults")
    try:
        running.start_all()
        yield running
    finally:
        running.stop()


def db_file(stack: Stack) -> Path:
    return Path(stack.settings.db_url.removeprefix("sqlite:///"))


def event_ids(stack: Stack, conversation_id: str) -> Set[int]:
    """The stored events of one conversation (SQLite or PostgreSQL)."""
    engine = sa.create_engine(stack.settings.db_url)
    try:
        with engine.connect() as db:
            rows = db.execute(sa.text("SELECT id FROM events WHERE sender_id = :c"), {"c": conversation_id})
            return {row[0] for row in rows}
    finally:
        engine.dispose()


def user_events(stack: Stack, conversation_id: str) -> int:
    """How many of the visitor's messages the tracker store holds for one conversation."""
    engine = sa.create_engine(stack.settings.db_url)
    try:
        with engine.connect() as db:
            query = sa.text("SELECT count(*) FROM events WHERE sender_id = :c AND type_name = 'user'")
            return int(db.execute(query, {"c": conversation_id}).scalar_one())
    finally:
        engine.dispose()


@dataclass
class Visitor:
    """What the widget does: one POST to /api/chat per message."""

    web_url: str
    region: str = "uk"

    def say(self, text: str, conversation_id: Optional[str] = None, timeout: float = 60) -> Tuple[int, Dict[str, Any]]:
        response = httpx.post(
            f"{self.web_url}/api/chat",
            json={"conversation_id": conversation_id or uuid.uuid4().hex, "message": text, "region": self.region},
            timeout=timeout,
        )
        return response.status_code, response.json()


@pytest.fixture
def visitor(fault_stack) -> Visitor:
    return Visitor(fault_stack.settings.web_url)


def numbers_shown(status: int, payload: Dict[str, Any], region: str) -> bool:
    """Whether the widget shows this region's emergency number and a crisis line: in the
    first reply (200), or from the contacts of a 503 or 429 (widget.js `failed`)."""
    if status == 200:
        messages = payload.get("messages") or []
        return bool(messages) and carries_numbers(messages[0].get("text") or "", region)
    shown = payload.get("contacts") or {}
    expected = contacts.for_region(region)
    lines = [k for k in ("crisis_line", "poison_control", "text_line") if k in expected]
    return shown.get("emergency") == expected["emergency"] and any(shown.get(k) == expected[k] for k in lines)


def useful(status: int, payload: Dict[str, Any]) -> bool:
    """A reply to read, or the contacts to call: never an empty bubble or a bare error."""
    if status == 200:
        return any((m.get("text") or "").strip() for m in payload.get("messages") or [])
    return status in (429, 503) and bool(payload.get("contacts"))


def crisis_sample(size: int) -> List[str]:
    """An even spread of the main suite's crisis messages (evaluation data, never trained on)."""
    examples = crisis_examples(sets.MAIN)
    step = max(1, len(examples) // size)
    return examples[::step][:size]


TOPIC = "how long does heroin withdrawal last"
LATER = "what is naloxone"


def crisis_during_fault(visitor: Visitor, fault: str, size: int = 20) -> None:
    """Every crisis message shows the numbers; prints the statuses they came with."""
    texts = crisis_sample(size)
    answers = [visitor.say(text) for text in texts]
    missed = [t for t, (status, payload) in zip(texts, answers) if not numbers_shown(status, payload, visitor.region)]
    statuses = Counter(status for status, _ in answers)
    print(
        f"\n{fault}: numbers shown for {len(texts) - len(missed)}/{len(texts)} crisis messages; "
        f"statuses {dict(statuses)} (200: the crisis reply itself)"
    )
    assert missed == [], f"{fault}: no numbers for {missed}"


def started_conversation(stack: Stack, visitor: Visitor) -> Tuple[str, Set[int]]:
    conversation_id = uuid.uuid4().hex
    status, payload = visitor.say(TOPIC, conversation_id)
    assert status == 200 and useful(status, payload)
    return conversation_id, event_ids(stack, conversation_id)


def conversation_goes_on(stack: Stack, visitor: Visitor, conversation_id: str, kept: Set[int], fault: str) -> None:
    status, payload = visitor.say(LATER, conversation_id)
    assert status == 200 and useful(status, payload), f"after {fault}: {status} {payload}"
    now = event_ids(stack, conversation_id)
    lost = kept - now
    print(f"after {fault}: {len(kept)} events stored before, {len(lost)} lost, {len(now)} now")
    assert not lost, f"{len(lost)} stored events lost after {fault}"
    assert len(now) > len(kept)
