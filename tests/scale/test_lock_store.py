"""The lock store hands out each ticket once, even to servers asking at the same moment."""

from __future__ import annotations

import asyncio
import threading
import uuid
from urllib.parse import urlparse

import pytest
from rasa.utils.endpoints import EndpointConfig

from bot.lock_store import AtomicRedisLockStore
from tests.services import running_redis

pytestmark = pytest.mark.redis  # a real Redis server, started on loopback by tests/services.py


@pytest.fixture(scope="module")
def redis_url():
    with running_redis() as url:
        yield url


def store(url: str) -> AtomicRedisLockStore:
    parsed = urlparse(url)
    # as Rasa builds it from endpoints.scale-out.yml: values from the environment are text
    return AtomicRedisLockStore(
        EndpointConfig(url=parsed.hostname, type="x", port=str(parsed.port), db="0", key_prefix="test")
    )


def test_simultaneous_tickets_for_one_conversation_are_all_different(redis_url):
    conversation = uuid.uuid4().hex
    stores = [store(redis_url) for _ in range(8)]  # one connection per "server"
    tickets, start = [], threading.Barrier(len(stores))

    def ask(s):
        start.wait()
        for _ in range(5):
            tickets.append(s.issue_ticket(conversation))

    threads = [threading.Thread(target=ask, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(tickets) == list(range(len(stores) * 5))


def test_the_lock_is_released_after_use(redis_url):
    s = store(redis_url)
    conversation = uuid.uuid4().hex

    async def use_twice():
        async with s.lock(conversation):
            pass
        async with s.lock(conversation):
            pass

    asyncio.run(use_twice())
    assert s.get_lock(conversation) is None
