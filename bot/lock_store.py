"""A Redis lock store that stays correct when several Rasa servers share conversations.

Rasa's RedisLockStore reads a conversation's ticket lock, changes it and writes it back
in separate Redis calls. Inside one server that is safe (no await in between), but two
servers can interleave: both issue ticket 0 for a new conversation, both process at once,
and the second save silently drops the first server's turn (seen in tests/scale/). Here
every read-modify-write of a ticket lock runs under a short Redis mutex per conversation.
"""

from __future__ import annotations

from typing import Text

from rasa.core.lock_store import LOCK_LIFETIME, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

# Far longer than one read-modify-write (a few Redis round trips), and short, because a
# server that dies holding the mutex keeps the conversation waiting this long on top of its
# ticket's lifetime (TICKET_LOCK_LIFETIME); the web app's patience with Rasa covers both.
MUTEX_SECONDS = 3


class AtomicRedisLockStore(RedisLockStore):
    def __init__(self, endpoint_config: EndpointConfig) -> None:
        kwargs = dict(endpoint_config.kwargs)
        for key in ("port", "db"):
            if key in kwargs:
                kwargs[key] = int(kwargs[key])  # environment placeholders arrive as text
        super().__init__(host=endpoint_config.url, **kwargs)

    def _mutex(self, conversation_id: Text):
        return self.red.lock(
            f"{self.key_prefix}{conversation_id}:mutex", timeout=MUTEX_SECONDS, blocking_timeout=MUTEX_SECONDS
        )

    def issue_ticket(self, conversation_id: Text, lock_lifetime: float = LOCK_LIFETIME) -> int:
        with self._mutex(conversation_id):
            return super().issue_ticket(conversation_id, lock_lifetime)

    def update_lock(self, conversation_id: Text) -> None:
        with self._mutex(conversation_id):
            super().update_lock(conversation_id)

    def finish_serving(self, conversation_id: Text, ticket_number: int) -> None:
        with self._mutex(conversation_id):
            super().finish_serving(conversation_id, ticket_number)

    def cleanup(self, conversation_id: Text, ticket_number: int) -> None:
        # the base class calls finish_serving then deletes: done here under one mutex,
        # as the mutex is not re-entrant
        with self._mutex(conversation_id):
            lock = self.get_lock(conversation_id)
            if lock is None:
                return
            lock.remove_ticket_for(ticket_number)
            if lock.is_someone_waiting():
                self.save_lock(lock)
            else:
                self.delete_lock(conversation_id)
