"""Retention: delete conversations whose last activity is older than a cut-off.

A conversation (Rasa `sender_id`) is deleted with everything derived from it: its
events, summary and intents, review state, tags, notes and relabelled messages. The
audit log keeps its entries (they name conversation ids, never visitor text).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import List, Optional

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.transcripts.models import (
    ConversationIntent,
    ConversationNote,
    ConversationReview,
    ConversationSummary,
    ConversationTag,
    MessageRelabel,
    events,
)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str) -> dt.timedelta:
    """'30d', '12h', '2w', '90m', '45s' (a bare number means days) -> timedelta."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", str(text or "").lower())
    if not m:
        raise ValueError(f"not an age like 30d, 12h or 2w: {text!r}")
    return dt.timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2) or "d"])


@dataclass
class PurgeResult:
    cutoff: dt.datetime
    conversations: List[str]
    events_deleted: int
    dry_run: bool = False


def old_conversations(session: Session, cutoff_ts: float) -> List[str]:
    """Sender ids whose newest event is older than `cutoff_ts` (epoch seconds)."""
    last = sa.func.max(events.c.timestamp)
    rows = session.execute(sa.select(events.c.sender_id).group_by(events.c.sender_id).having(last < cutoff_ts))
    return sorted(r[0] for r in rows)


def purge(
    session: Session, older_than: dt.timedelta, now: Optional[dt.datetime] = None, dry_run: bool = False
) -> PurgeResult:
    now = now or dt.datetime.now(dt.timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.timezone.utc)
    cutoff = now - older_than
    ids = old_conversations(session, cutoff.timestamp())
    deleted = 0
    if not dry_run:
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            deleted += session.execute(sa.delete(events).where(events.c.sender_id.in_(chunk))).rowcount or 0
            for model in (
                ConversationSummary,
                ConversationIntent,
                ConversationReview,
                ConversationTag,
                ConversationNote,
                MessageRelabel,
            ):
                session.execute(sa.delete(model).where(model.sender_id.in_(chunk)))
    return PurgeResult(cutoff=cutoff, conversations=ids, events_deleted=deleted, dry_run=dry_run)
