"""bot/web/crisis_guard.py: the web app answers a crisis itself, at once, with the reply
Rasa would have sent, and the message still reaches the transcript."""

from __future__ import annotations

import re
import sqlite3
import time
import uuid
from pathlib import Path

import httpx
import pytest

from bot import contacts
from bot.evaluation import sets
from bot.settings import REGIONS
from bot.web.crisis_guard import CrisisGuard, crisis_replies
from tests.test_crisis_end_to_end import carries_numbers, crisis_examples

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def guard() -> CrisisGuard:
    return CrisisGuard.load()


@pytest.mark.parametrize("region", REGIONS)
def test_each_regions_crisis_reply_shows_only_its_own_emergency_number(region):
    others = {contacts.for_region(r)["emergency"]["number"] for r in REGIONS if r != region}
    for intent, by_region in crisis_replies().items():
        text = by_region[region][0]["text"]
        assert carries_numbers(text, region), (intent, region)
        assert not any(re.search(rf"\b{re.escape(n)}\b", text) for n in others), (intent, region)


def test_the_web_app_sends_the_reply_rasa_sends(stack, web_url, chat, guard):
    """For crisis messages the rules catch, the web app's own answer is the one Rasa gives."""
    caught = [t for t in crisis_examples(sets.MAIN) if guard.check(t)][::6][:20]
    assert len(caught) >= 10
    differ = []
    for text in caught:
        web = httpx.post(
            f"{web_url}/api/chat",
            json={"conversation_id": uuid.uuid4().hex, "message": text, "region": "uk"},
            timeout=60,
        ).json()["messages"]
        rasa = chat(text, region="uk")
        if web[0]["text"] != rasa[0]["text"]:
            differ.append(text)
    assert differ == [], differ


def test_a_crisis_answered_here_still_reaches_the_transcript(stack, web_url, guard):
    text = next(t for t in crisis_examples(sets.MAIN) if guard.check(t))
    conversation_id = uuid.uuid4().hex
    response = httpx.post(f"{web_url}/api/chat", json={"conversation_id": conversation_id, "message": text}, timeout=60)
    assert response.status_code == 200 and carries_numbers(response.json()["messages"][0]["text"], "uk")
    database = Path(stack.settings.db_url.removeprefix("sqlite:///"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # Rasa gets the message after the visitor has the numbers
        with sqlite3.connect(database, timeout=30) as db:
            (stored,) = db.execute(
                "SELECT count(*) FROM events WHERE sender_id = ? AND type_name = 'user'", (conversation_id,)
            ).fetchone()
        if stored:
            return
        time.sleep(0.5)
    pytest.fail("the crisis message never reached the transcript")
