"""Per-conversation summaries for the staff list, kept up to date from the stored events.

The list filters and sorts on `conversation_summaries` and `conversation_intents` (indexed)
so that it never reads events. A summary is folded from the `events` rows exactly as the
tracker store wrote them, that is already redacted, in event-id order:

- `refresh(connection, sender_id)` runs after each save and folds only the events newer
  than the summary's `last_event_id`. It starts from what is stored rather than from what
  the caller holds in memory, so an update that failed is caught up by the next save.
- `backfill(connection)` folds a whole database at once (the 0002 migration).

Texts are passed through `redact()` once more before they reach a summary, as a second
line of defence for rows written by anything other than our tracker store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional

import sqlalchemy as sa

from bot.redact import redact
from bot.transcripts.models import ConversationIntent, ConversationSummary, events
from bot.transcripts.queries import CRISIS_PREFIX, EVENT_COLUMNS, FALLBACK_ACTIONS, FALLBACK_INTENT, event_data

SUMMARIES: sa.Table = ConversationSummary.__table__
INTENTS: sa.Table = ConversationIntent.__table__

# the only event types the list looks at; anything else just moves last_event_id on
FOLDED_TYPES = ("user", "bot", "action")
PREVIEW_CHARS = 120
# texts are joined with a newline, so a search cannot match across two messages unless it
# contains a newline itself (the console's search box is one line)
SEPARATOR = "\n"
_BATCH = 500

SUMMARY_FIELDS = tuple(c.name for c in SUMMARIES.columns)


@dataclass
class Fold:
    """A conversation's summary, built up one stored event at a time."""

    sender_id: str
    first_event_id: Optional[int] = None
    last_event_id: int = 0
    started_at: Optional[float] = None
    last_at: Optional[float] = None
    user_messages: int = 0
    bot_messages: int = 0
    crisis_auto: bool = False
    fallback: bool = False
    min_confidence: Optional[float] = None
    preview: str = ""
    search_text: str = ""
    intents: Dict[str, List[int]] = field(default_factory=dict)  # intent: [count, first event id]

    def __post_init__(self) -> None:
        if not self.search_text:  # the search box also finds a conversation by its id
            self.search_text = self.sender_id.lower()

    @classmethod
    def resume(cls, row: Mapping[str, Any], intents: Iterable[Mapping[str, Any]]) -> Fold:
        fold = cls(**{name: row[name] for name in SUMMARY_FIELDS})
        fold.intents = {r["intent"]: [r["count"], r["first_event_id"]] for r in intents}
        return fold

    def add(
        self,
        event_id: int,
        type_name: str,
        timestamp: Optional[float],
        intent: Optional[str],
        action: Optional[str],
        data: Optional[str],
    ) -> None:
        self.last_event_id = max(self.last_event_id, event_id)
        if type_name not in FOLDED_TYPES:
            return
        if self.first_event_id is None:
            self.first_event_id = event_id
        if timestamp is not None:
            when = float(timestamp)
            self.started_at = when if self.started_at is None else min(self.started_at, when)
            self.last_at = when if self.last_at is None else max(self.last_at, when)
        if type_name == "action":
            self.fallback = self.fallback or action in FALLBACK_ACTIONS
            return
        payload = event_data(data)
        text = payload.get("text")
        text = text if isinstance(text, str) else ""
        if type_name == "user":
            self.user_messages += 1
            if intent:
                self.intents.setdefault(intent, [0, event_id])[0] += 1
                self.crisis_auto = self.crisis_auto or intent.startswith(CRISIS_PREFIX)
                self.fallback = self.fallback or intent == FALLBACK_INTENT
            parse = payload.get("parse_data")
            predicted = parse.get("intent") if isinstance(parse, dict) else None
            confidence = predicted.get("confidence") if isinstance(predicted, dict) else None
            if isinstance(confidence, (int, float)):
                low = float(confidence)
                self.min_confidence = low if self.min_confidence is None else min(self.min_confidence, low)
            if text and not self.preview and not text.startswith("/"):  # "/greet" is a button, not words
                self.preview = redact(text)[:PREVIEW_CHARS]
        else:
            self.bot_messages += 1
        if text:
            self.search_text += SEPARATOR + redact(text).lower()

    def values(self) -> Dict[str, Any]:
        return {name: getattr(self, name) for name in SUMMARY_FIELDS}


def refresh(connection: Any, sender_id: str) -> None:
    """Fold the events stored for `sender_id` since its summary was last updated.

    `connection`: a Session or Connection inside a transaction; the caller commits.
    """
    row = connection.execute(sa.select(SUMMARIES).where(SUMMARIES.c.sender_id == sender_id)).mappings().first()
    if row is None:
        fold, before = Fold(sender_id), {}
    else:
        fold = Fold.resume(
            row, connection.execute(sa.select(INTENTS).where(INTENTS.c.sender_id == sender_id)).mappings()
        )
        before = {intent: seen[0] for intent, seen in fold.intents.items()}
    new = connection.execute(
        sa.select(*EVENT_COLUMNS)
        .where(events.c.sender_id == sender_id, events.c.id > fold.last_event_id)
        .order_by(events.c.id)
    ).all()
    if not new:
        return
    for event in new:
        fold.add(*event)
    if row is None:
        connection.execute(sa.insert(SUMMARIES).values(**fold.values()))
    else:
        connection.execute(sa.update(SUMMARIES).where(SUMMARIES.c.sender_id == sender_id).values(**fold.values()))
    # absolute counts, not increments: a concurrent update can then only be stale, never double
    for intent, (count, first) in fold.intents.items():
        if intent not in before:
            connection.execute(
                sa.insert(INTENTS).values(sender_id=sender_id, intent=intent, count=count, first_event_id=first)
            )
        elif before[intent] != count:
            connection.execute(
                sa.update(INTENTS)
                .values(count=count)
                .where(INTENTS.c.sender_id == sender_id, INTENTS.c.intent == intent)
            )


def backfill(connection: Any, summaries: sa.Table = SUMMARIES, intents: sa.Table = INTENTS) -> int:
    """Summaries of every conversation in `events` into empty tables; returns how many.

    The migration passes its own table definitions, so that it keeps working when the
    models gain columns later.
    """
    columns = {c.name for c in summaries.columns}
    pending: List[Fold] = []
    written = 0

    def flush() -> None:
        if pending:
            connection.execute(
                sa.insert(summaries), [{k: v for k, v in fold.values().items() if k in columns} for fold in pending]
            )
            intent_rows = [
                {"sender_id": fold.sender_id, "intent": intent, "count": count, "first_event_id": first}
                for fold in pending
                for intent, (count, first) in fold.intents.items()
            ]
            if intent_rows:
                connection.execute(sa.insert(intents), intent_rows)
            pending.clear()

    # one pass, one conversation at a time, so memory holds one batch of summaries
    # on the statement, not the connection: a future-style connection would keep the option
    # and run the inserts (and Alembic's own bookkeeping) through server-side cursors too
    rows = connection.execute(
        sa.select(events.c.sender_id, *EVENT_COLUMNS)
        .order_by(events.c.sender_id, events.c.id)
        .execution_options(stream_results=True)
    )
    fold: Optional[Fold] = None
    for sender_id, *event in rows:
        if fold is None or fold.sender_id != sender_id:
            if fold is not None:
                pending.append(fold)
                written += 1
                if len(pending) >= _BATCH:
                    flush()
            fold = Fold(sender_id)
        fold.add(*event)
    if fold is not None:
        pending.append(fold)
        written += 1
    flush()
    return written
