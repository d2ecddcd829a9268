"""Retention: delete conversations whose last activity is older than a cut-off.

A conversation (Rasa `sender_id`) is deleted with everything derived from it: its
events, summary and intents, review state, tags, notes and relabelled messages. The
audit log keeps its entries (they name conversation ids, never visitor text).

`purge_database` is one complete purge (used by `bot purge` and by the schedule);
`run_on_schedule` is the loop the web app runs in its lifespan every `BOT_PURGE_INTERVAL`
seconds. Several web apps may run it against one database at once (scale-out): every
delete is idempotent (a second process finds nothing left, or deletes zero rows), and a
conversation that gets a new message between the search and the delete keeps everything.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
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
        # A conversation active again since it was found (a new message, or another
        # process's purge) keeps its events, and then its derived rows.
        recent = sa.select(events.c.sender_id).where(events.c.timestamp >= cutoff.timestamp())
        remaining = sa.select(events.c.sender_id)
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            deleted += (
                session.execute(
                    sa.delete(events).where(events.c.sender_id.in_(chunk), events.c.sender_id.not_in(recent))
                ).rowcount
                or 0
            )
            for model in (
                ConversationSummary,
                ConversationIntent,
                ConversationReview,
                ConversationTag,
                ConversationNote,
                MessageRelabel,
            ):
                session.execute(
                    sa.delete(model).where(model.sender_id.in_(chunk), model.sender_id.not_in(remaining)),
                    execution_options={"synchronize_session": False},
                )
    return PurgeResult(cutoff=cutoff, conversations=ids, events_deleted=deleted, dry_run=dry_run)


def purge_database(url: str, older_than: dt.timedelta, who: str, dry_run: bool = False) -> PurgeResult:
    """One purge of the database at `url`, audited as done by `who`; on SQLite the file is
    then VACUUMed, so deleted text does not linger in free pages."""
    from bot.transcripts import db
    from bot.transcripts.queries import audit

    with db.session_scope(url) as session:
        result = purge(session, older_than, dry_run=dry_run)
        if not dry_run and result.events_deleted:
            audit(
                session,
                who,
                "purge",
                detail=f"{len(result.conversations)} conversations "
                f"older than {result.cutoff.isoformat(timespec='seconds')}",
            )
    if not dry_run and result.events_deleted and url.startswith("sqlite"):
        try:
            with db.get_engine(url).connect() as connection:
                connection.exec_driver_sql("VACUUM")
        except Exception as error:  # another process is writing: the next purge vacuums
            logging.getLogger(__name__).warning("purge: VACUUM skipped (%s)", type(error).__name__)
    return result


async def run_on_schedule(url: str, retention_days: int, interval: float, log: logging.Logger) -> None:
    """Purge every `interval` seconds, the first one interval after start, until cancelled
    (a test or a restart does not purge at once). Each purge runs in a
    thread; a failure (database locked, gone, read-only) is logged and the next one tried,
    so the process around it never stops because of it."""
    if interval <= 0:
        return
    age = dt.timedelta(days=retention_days)
    while True:
        await asyncio.sleep(interval)
        try:
            result = await asyncio.to_thread(purge_database, url, age, "schedule")
            log.info(
                "scheduled purge: %d conversation(s) removed (%d events), none kept past %d days",
                len(result.conversations) if result.events_deleted else 0,
                result.events_deleted,
                retention_days,
            )
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - logged; the next run tries again
            log.error("scheduled purge failed (%s); retrying in %.0f s", type(error).__name__, interval)
