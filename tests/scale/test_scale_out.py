"""Scale-out mode: two Rasa servers share a PostgreSQL tracker store and a Redis lock store.

A visitor's messages may reach either server (a load balancer does not know about
conversations); the conversation must carry on as if there were one server.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot import facts
from bot import settings as settings_module
from bot.stack import Stack
from tests.conftest import ARTIFACTS, first_paragraph, post_json
from tests.services import free_port, running_postgres, running_redis

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.stack]
FACTS = facts.load()


@pytest.fixture(scope="module")
def servers():
    with running_postgres("bot_scale") as pg_url, running_redis() as redis_url:
        first = settings_module.load().replace(
            db_url=pg_url,
            redis_url=redis_url,
            rasa_port=free_port(),
            actions_port=free_port(),
            web_port=free_port(),
        )
        second = first.replace(rasa_port=free_port())
        a = Stack(first, log_dir=ARTIFACTS / "logs" / "scale-a")
        b = Stack(second, log_dir=ARTIFACTS / "logs" / "scale-b")
        try:
            a.start_actions()
            with ThreadPoolExecutor(2) as pool:  # both servers boot at once, as in a deployment
                list(pool.map(lambda s: s.start_rasa(), (a, b)))
            yield a.settings, b.settings
        finally:
            b.stop()
            a.stop()


def say(settings, sender, text):
    return post_json(settings.rasa_webhook_url, {"sender": sender, "message": text})


def tracker_events(settings, sender):
    url = f"{settings.rasa_url}/conversations/{sender}/tracker?token={settings.rasa_token}"
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())["events"]


def test_a_conversation_carries_on_across_servers(servers):
    a, b = servers
    sender = uuid.uuid4().hex
    say(a, sender, "my daughter uses heroin, what withdrawal symptoms will she have")
    replies = say(b, sender, "how long does withdrawal last")
    assert replies[0]["text"].startswith(first_paragraph(FACTS["withdrawal_timeline"].family))


def test_simultaneous_messages_to_both_servers_are_all_kept(servers):
    a, b = servers
    sender = uuid.uuid4().hex
    questions = [
        "what is naloxone",
        "what is methadone",
        "what helps with cravings",
        "what are the signs of an overdose",
        "what is buvidal",
        "what happens after detox",
    ]
    targets = [a if i % 2 == 0 else b for i in range(len(questions))]
    with ThreadPoolExecutor(len(questions)) as pool:
        replies = list(pool.map(lambda pair: say(pair[0], sender, pair[1]), zip(targets, questions)))
    assert all(replies), "a message went unanswered"
    events = tracker_events(a, sender)
    user_texts = [e["text"] for e in events if e["event"] == "user"]
    assert sorted(user_texts) == sorted(questions)  # the lock store lost no turn
    assert tracker_events(b, sender) == events
