"""Scale-out mode: two Rasa servers share a PostgreSQL tracker store and a Redis lock
store, behind one web app that knows both (BOT_RASA_URLS).

- Redis stopped and started again: the visitor still gets the numbers and the contacts,
  and the conversation goes on with nothing stored lost once Redis is back.
- One Rasa server killed under load: the web app sends each message on to the other. A
  message caught in the dead server's hands may wait past the web app's patience (the
  conversation's lock outlives the server) and get the contacts with a 503, which the
  widget retries; at most one such message per conversation, and every answered message
  is stored. (Issue 9 asks for none: not met yet, see the README's faults table.)
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator, List, Tuple

import pytest

from bot import settings as settings_module
from bot.stack import Stack
from tests.conftest import ARTIFACTS
from tests.faults.conftest import (
    Visitor,
    conversation_goes_on,
    crisis_during_fault,
    started_conversation,
    useful,
    user_events,
)
from tests.services import RedisServer, free_port, redis_server, running_postgres

pytestmark = [pytest.mark.stack, pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture(scope="module")
def scaled() -> Iterator[Tuple[Stack, Stack, RedisServer]]:
    """Stack `a`: actions, Rasa and the web app; stack `b`: a second Rasa server."""
    with running_postgres("bot_faults") as pg_url, redis_server() as redis:
        first = settings_module.load().replace(
            db_url=pg_url, redis_url=redis.url, rasa_port=free_port(), actions_port=free_port(), web_port=free_port()
        )
        second = first.replace(rasa_port=free_port())
        first = first.replace(rasa_urls=(first.rasa_url, second.rasa_url))
        a = Stack(first, log_dir=ARTIFACTS / "logs" / "faults-scale-a")
        b = Stack(second, log_dir=ARTIFACTS / "logs" / "faults-scale-b")
        try:
            a.start_actions()
            with ThreadPoolExecutor(2) as pool:
                list(pool.map(lambda s: s.start_rasa(), (a, b)))
            a.start_web()
            yield a, b, redis
        finally:
            b.stop()
            a.stop()


def test_redis_stopped(scaled):
    stack, _, redis = scaled
    visitor = Visitor(stack.settings.web_url)
    conversation_id, kept = started_conversation(stack, visitor)
    redis.stop()
    try:
        crisis_during_fault(visitor, "Redis stopped", size=10)
        status, payload = visitor.say("what are the signs of an overdose", conversation_id)
        assert useful(status, payload), f"Redis stopped: {status} {payload}"
    finally:
        redis.start()
    conversation_goes_on(stack, visitor, conversation_id, kept, "Redis came back")


def test_one_rasa_killed_under_load_loses_no_answered_message(scaled):
    a, b, _ = scaled
    visitor = Visitor(a.settings.web_url)
    stop = threading.Event()
    sent: List[Tuple[str, int]] = []
    conversations = [uuid.uuid4().hex for _ in range(8)]
    questions = ["what is naloxone", "how long does withdrawal last", "what helps with cravings", "what is methadone"]

    def talk(conversation_id: str) -> None:
        turn = 0
        while not stop.is_set():
            status, _ = visitor.say(questions[turn % len(questions)], conversation_id)
            sent.append((conversation_id, status))
            turn += 1

    threads = [threading.Thread(target=talk, args=(c,)) for c in conversations]
    for thread in threads:
        thread.start()
    try:
        time.sleep(6)
        os.killpg(b.procs["rasa"].pid, signal.SIGKILL)
        b.procs["rasa"].wait(timeout=30)
        time.sleep(8)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=90)
        b.stop("rasa")
        b.start_rasa()
    statuses = Counter(status for _, status in sent)
    answered = Counter(c for c, status in sent if status == 200)
    failed = Counter(c for c, status in sent if status != 200)
    stored = {c: user_events(a, c) for c in conversations}
    unstored = {c: answered[c] - stored[c] for c in conversations if stored[c] < answered[c]}
    print(
        f"\none of two Rasa servers killed under load: {len(sent)} messages, statuses {dict(statuses)}, "
        f"stored {sum(stored.values())}; answered but not stored: {unstored}"
    )
    assert set(statuses) <= {200, 503}, "a visitor got neither an answer nor the contacts"
    assert statuses[200] > len(sent) - len(conversations), "the other Rasa server did not take over"
    assert all(n <= 1 for n in failed.values()), f"more than the message caught in the failover failed: {failed}"
    assert not unstored, f"messages answered but not stored: {unstored}"
