"""Read models for the staff console: conversation list, filters, search, transcript, dashboard.

The list reads one summary row per conversation (`conversation_summaries`, kept by
`bot.transcripts.summary` whenever the tracker store saves) joined with our review and tag
tables, and filters, sorts and pages in SQL: a page costs the same few queries however
many conversations there are. Transcripts and exports read Rasa's `events` rows, which the
tracker store has already redacted; texts are passed through `redact()` once more on the
way out (idempotent, and a second line of defence for rows written by anything else).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bot.redact import redact
from bot.transcripts.models import (
    AuditLog,
    ConversationIntent,
    ConversationNote,
    ConversationReview,
    ConversationSummary,
    ConversationTag,
    MessageRelabel,
    events,
)

CRISIS_PREFIX = "crisis_"
FALLBACK_INTENT = "nlu_fallback"
FALLBACK_ACTIONS = {"action_default_fallback", "action_two_stage_fallback"}

_SUMMARY: sa.Table = ConversationSummary.__table__
_REVIEW: sa.Table = ConversationReview.__table__
_INTENT: sa.Table = ConversationIntent.__table__
_TAG: sa.Table = ConversationTag.__table__


@lru_cache(maxsize=1)
def low_confidence_threshold() -> float:
    """The FallbackClassifier threshold from config.yml (0.5 when it cannot be read)."""
    try:
        import yaml

        from bot.paths import ROOT

        config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
        for component in config.get("pipeline", []):
            if component.get("name") == "FallbackClassifier":
                return float(component.get("threshold", 0.5))
    except Exception:
        pass
    return 0.5


def to_datetime(ts: Optional[float]) -> Optional[dt.datetime]:
    if ts is None:
        return None
    return dt.datetime.utcfromtimestamp(float(ts))


def event_data(data: Optional[str]) -> Dict[str, Any]:
    """The JSON of an `events.data` cell as a dict ({} when it is missing or not an object)."""
    try:
        value = json.loads(data or "{}")
        return value if isinstance(value, dict) else {}
    except (TypeError, ValueError):
        return {}


@dataclass
class Conversation:
    sender_id: str
    started: Optional[dt.datetime] = None
    last: Optional[dt.datetime] = None
    user_messages: int = 0
    bot_messages: int = 0
    intents: Counter = field(default_factory=Counter)
    crisis_auto: bool = False
    fallback: bool = False
    low_confidence: bool = False
    preview: str = ""
    reviewed: bool = False
    crisis_flag: bool = False
    priority: int = 0
    tags: List[str] = field(default_factory=list)

    @property
    def crisis(self) -> bool:
        return self.crisis_auto or self.crisis_flag


@dataclass
class Filters:
    crisis: Optional[bool] = None
    fallback: Optional[bool] = None  # fallback or low confidence
    intent: str = ""
    date_from: Optional[dt.date] = None
    date_to: Optional[dt.date] = None
    reviewed: Optional[bool] = None
    tag: str = ""
    q: str = ""
    view: str = "all"  # "all" (newest first) or "needs_review"


# A conversation without review state has never been reviewed, flagged or prioritised.
_reviewed = sa.func.coalesce(_REVIEW.c.reviewed, sa.false())
_crisis_flag = sa.func.coalesce(_REVIEW.c.crisis_flag, sa.false())
_priority = sa.func.coalesce(_REVIEW.c.priority, 0)
_crisis = sa.or_(_SUMMARY.c.crisis_auto, _crisis_flag)
_with_review = _SUMMARY.outerjoin(_REVIEW, _REVIEW.c.sender_id == _SUMMARY.c.sender_id)
# a summary row exists from the first save, even one holding only session-start events
_has_messages = (_SUMMARY.c.user_messages + _SUMMARY.c.bot_messages) > 0
_newest_first = (_SUMMARY.c.last_at.desc().nulls_last(), _SUMMARY.c.first_event_id)


def _day_start(day: dt.date) -> float:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.timezone.utc).timestamp()


def _conditions(f: Filters) -> List[Any]:
    """The filters as SQL conditions on the summary joined with its review state."""
    conditions: List[Any] = [_has_messages]
    if f.crisis is not None:
        conditions.append(_crisis if f.crisis else sa.not_(_crisis))
    if f.fallback is not None:
        threshold = low_confidence_threshold()
        unsure = sa.or_(
            _SUMMARY.c.fallback, sa.and_(_SUMMARY.c.min_confidence.isnot(None), _SUMMARY.c.min_confidence < threshold)
        )
        conditions.append(unsure if f.fallback else sa.not_(unsure))
    if f.intent:
        conditions.append(sa.exists().where(_INTENT.c.sender_id == _SUMMARY.c.sender_id, _INTENT.c.intent == f.intent))
    if f.reviewed is not None:
        conditions.append(_reviewed if f.reviewed else sa.not_(_reviewed))
    if f.tag:
        conditions.append(sa.exists().where(_TAG.c.sender_id == _SUMMARY.c.sender_id, _TAG.c.tag == f.tag))
    # dates are UTC days: a conversation counts when any part of it falls inside the range
    if f.date_from:
        conditions.append(_SUMMARY.c.last_at >= _day_start(f.date_from))
    if f.date_to:
        conditions.append(_SUMMARY.c.started_at < _day_start(f.date_to + dt.timedelta(days=1)))
    if f.q:
        conditions.append(_SUMMARY.c.search_text.contains(f.q.lower(), autoescape=True))
    if f.view == "needs_review":
        conditions.append(sa.not_(_reviewed))
    return conditions


def _summaries(
    session: Session,
    conditions: Sequence[Any],
    order: Sequence[Any],
    page: Optional[Tuple[int, int]] = None,
    sender_ids: Optional[Sequence[str]] = None,
) -> List[Conversation]:
    """Conversations from their summary rows, with intents and tags (three queries)."""
    query = (
        sa.select(_SUMMARY, _reviewed.label("reviewed"), _crisis_flag.label("crisis_flag"), _priority.label("priority"))
        .select_from(_with_review)
        .where(*conditions)
        .order_by(*order)
    )
    if page is not None:
        query = query.limit(page[1]).offset(page[0])
    rows = session.execute(query).mappings().all()
    if not rows:
        return []
    threshold = low_confidence_threshold()
    convs = {
        row["sender_id"]: Conversation(
            sender_id=row["sender_id"],
            started=to_datetime(row["started_at"]),
            last=to_datetime(row["last_at"]),
            user_messages=row["user_messages"],
            bot_messages=row["bot_messages"],
            crisis_auto=bool(row["crisis_auto"]),
            fallback=bool(row["fallback"]),
            low_confidence=row["min_confidence"] is not None and row["min_confidence"] < threshold,
            preview=row["preview"],
            reviewed=bool(row["reviewed"]),
            crisis_flag=bool(row["crisis_flag"]),
            priority=row["priority"],
        )
        for row in rows
    }
    # a page names its conversations; "all of them" reads the small tables whole instead
    ids = list(convs) if page is not None or sender_ids is not None else None
    intents = sa.select(_INTENT.c.sender_id, _INTENT.c.intent, _INTENT.c.count).order_by(_INTENT.c.first_event_id)
    tags = sa.select(_TAG.c.sender_id, _TAG.c.tag).order_by(_TAG.c.tag)
    if ids is not None:
        intents, tags = intents.where(_INTENT.c.sender_id.in_(ids)), tags.where(_TAG.c.sender_id.in_(ids))
    for sender_id, intent, count in session.execute(intents):
        if sender_id in convs:
            convs[sender_id].intents[intent] = count
    for sender_id, tag in session.execute(tags):
        if sender_id in convs:
            convs[sender_id].tags.append(tag)
    return list(convs.values())


def conversations(session: Session, sender_ids: Optional[Sequence[str]] = None) -> Dict[str, Conversation]:
    """Every conversation (or the given ones) with its summary, in the order they began."""
    conditions = [_has_messages]
    if sender_ids is not None:
        conditions.append(_SUMMARY.c.sender_id.in_(list(sender_ids)))
    found = _summaries(session, conditions, (_SUMMARY.c.first_event_id,), sender_ids=sender_ids)
    return {conv.sender_id: conv for conv in found}


def list_conversations(
    session: Session, f: Filters, page: int = 1, per_page: int = 25
) -> Tuple[List[Conversation], int]:
    """One page of the filtered conversations and the total number that matched."""
    conditions = _conditions(f)
    if f.view == "needs_review":
        # the view holds only unreviewed conversations: crises first, then staff priority, then the newest
        order: Sequence[Any] = (sa.case((_crisis, 0), else_=1), _priority.desc(), *_newest_first)
    else:
        order = _newest_first
    total = session.execute(sa.select(sa.func.count()).select_from(_with_review).where(*conditions)).scalar() or 0
    start = (max(1, page) - 1) * per_page
    return _summaries(session, conditions, order, page=(start, per_page)), total


def known_intents(session: Session) -> List[str]:
    """Every intent a visitor message was classified as (for the list's intent filter)."""
    rows = session.execute(sa.select(_INTENT.c.intent).distinct())
    return sorted(r[0] for r in rows if r[0])


def all_tags(session: Session) -> List[str]:
    return sorted({t for (t,) in session.query(ConversationTag.tag).distinct()})


@dataclass
class Turn:
    event_id: int
    kind: str  # "user" or "bot"
    at: Optional[dt.datetime]
    text: str
    intent: Optional[str] = None
    confidence: Optional[float] = None
    entities: List[Dict[str, Any]] = field(default_factory=list)
    ranking: List[Tuple[Optional[str], Optional[float]]] = field(default_factory=list)
    source: str = ""  # bot: "response utter_x" / "fact topic" / "action name"
    relabel: Optional[str] = None

    @property
    def crisis(self) -> bool:
        return bool(self.intent and self.intent.startswith(CRISIS_PREFIX))

    @property
    def low_confidence(self) -> bool:
        return self.kind == "user" and (
            self.intent == FALLBACK_INTENT
            or (self.confidence is not None and self.confidence < low_confidence_threshold())
        )


# what transcripts and summaries are built from, in the order `_turns` and `Fold.add` unpack
EVENT_COLUMNS = (
    events.c.id,
    events.c.type_name,
    events.c.timestamp,
    events.c.intent_name,
    events.c.action_name,
    events.c.data,
)


def transcript(session: Session, sender_id: str) -> List[Turn]:
    rows = session.execute(sa.select(*EVENT_COLUMNS).where(events.c.sender_id == sender_id).order_by(events.c.id)).all()
    relabels = {r.event_id: r.intent for r in session.query(MessageRelabel).filter_by(sender_id=sender_id)}
    return _turns(rows, relabels)


def transcripts(session: Session, sender_ids: Optional[Sequence[str]] = None) -> Dict[str, List[Turn]]:
    """The turns of every conversation (or of the given ones) in two queries, for exports."""
    query = sa.select(events.c.sender_id, *EVENT_COLUMNS).where(events.c.type_name.in_(("user", "bot", "action")))
    relabel_query = sa.select(MessageRelabel.event_id, MessageRelabel.intent)
    if sender_ids is not None:
        query = query.where(events.c.sender_id.in_(list(sender_ids)))
        relabel_query = relabel_query.where(MessageRelabel.sender_id.in_(list(sender_ids)))
    by_sender: Dict[str, List[Any]] = {}
    for sender_id, *row in session.execute(query.order_by(events.c.id)):
        by_sender.setdefault(sender_id, []).append(row)
    relabels: Dict[int, str] = dict(session.execute(relabel_query).all())
    return {sender_id: _turns(rows, relabels) for sender_id, rows in by_sender.items()}


def _turns(rows: Iterable[Sequence[Any]], relabels: Dict[int, str]) -> List[Turn]:
    """Turns from one conversation's (id, type, timestamp, intent, action, data) rows in id order."""
    turns: List[Turn] = []
    last_action = ""
    for event_id, type_name, ts, intent, action, data in rows:
        if type_name == "action":
            last_action = action or ""
            continue
        if type_name not in ("user", "bot"):
            continue
        payload = event_data(data)
        text = redact(payload.get("text") or "")
        if type_name == "user":
            parse = payload.get("parse_data") or {}
            intent_info = parse.get("intent") or {}
            entities = [
                {"entity": e.get("entity"), "value": redact(str(e.get("value"))), "extractor": e.get("extractor") or ""}
                for e in parse.get("entities") or []
                if isinstance(e, dict)
            ]
            ranking = [
                (r.get("name"), r.get("confidence"))
                for r in (parse.get("intent_ranking") or [])[:3]
                if isinstance(r, dict)
            ]
            confidence = intent_info.get("confidence")
            turns.append(
                Turn(
                    event_id,
                    "user",
                    to_datetime(ts),
                    text,
                    intent or intent_info.get("name"),
                    float(confidence) if isinstance(confidence, (int, float)) else None,
                    entities,
                    ranking,
                    relabel=relabels.get(event_id),
                )
            )
        else:
            metadata = payload.get("metadata") or {}
            if metadata.get("fact"):
                source = f"fact: {metadata['fact']}"
            elif metadata.get("utter_action"):
                source = f"response: {metadata['utter_action']}"
            elif last_action:
                source = f"action: {last_action}"
            else:
                source = ""
            turns.append(Turn(event_id, "bot", to_datetime(ts), text, source=source))
    return turns


def user_event(session: Session, event_id: int) -> Optional[Dict[str, Any]]:
    row = session.execute(
        sa.select(events.c.sender_id, events.c.type_name, events.c.intent_name, events.c.data).where(
            events.c.id == event_id
        )
    ).first()
    if row is None or row.type_name != "user":
        return None
    payload = event_data(row.data)
    return {"sender_id": row.sender_id, "intent": row.intent_name, "payload": payload}


def notes(session: Session, sender_id: str) -> List[ConversationNote]:
    return session.query(ConversationNote).filter_by(sender_id=sender_id).order_by(ConversationNote.id).all()


def insert_if_missing(session: Session, table: sa.Table, values: Dict[str, Any]) -> bool:
    """Insert a row unless one with its key exists; True if this call inserted it. Two
    staff members (or two clicks) doing the same at once is not an error: the database
    settles it (ON CONFLICT DO NOTHING, on SQLite and PostgreSQL alike)."""
    dialect = session.get_bind().dialect.name
    insert = {"sqlite": sqlite_insert, "postgresql": postgresql_insert}[dialect](table)
    result = session.execute(insert.values(**values).on_conflict_do_nothing())
    return bool(result.rowcount)


def review_state(session: Session, sender_id: str) -> ConversationReview:
    insert_if_missing(
        session,
        _REVIEW,
        dict(sender_id=sender_id, reviewed=False, crisis_flag=False, priority=0, updated_at=dt.datetime.utcnow()),
    )
    return session.get(ConversationReview, sender_id, populate_existing=True)


def dashboard(session: Session, days: int = 14, today: Optional[dt.date] = None) -> Dict[str, Any]:
    """Per-day conversations and crisis escalations, fallback rate and top intents."""
    today = today or dt.datetime.utcnow().date()
    first = today - dt.timedelta(days=days - 1)
    per_day: Dict[dt.date, Set[str]] = {first + dt.timedelta(days=i): set() for i in range(days)}
    crisis_day: Dict[dt.date, Set[str]] = {d: set() for d in per_day}
    intents: Counter = Counter()
    user_total = fallback_total = 0
    threshold = low_confidence_threshold()
    start_ts = dt.datetime.combine(first, dt.time()).replace(tzinfo=dt.timezone.utc).timestamp()
    rows = session.execute(
        sa.select(events.c.sender_id, events.c.timestamp, events.c.intent_name, events.c.data).where(
            events.c.type_name == "user", events.c.timestamp >= start_ts
        )
    )
    for sender_id, ts, intent, data in rows:
        day = dt.datetime.utcfromtimestamp(float(ts)).date()
        if day not in per_day:
            continue
        per_day[day].add(sender_id)
        user_total += 1
        if intent:
            intents[intent] += 1
            if intent.startswith(CRISIS_PREFIX):
                crisis_day[day].add(sender_id)
        confidence = ((event_data(data).get("parse_data") or {}).get("intent") or {}).get("confidence")
        if intent == FALLBACK_INTENT or (isinstance(confidence, (int, float)) and confidence < threshold):
            fallback_total += 1
    return {
        "days": [d.isoformat() for d in per_day],
        "conversations": [len(v) for v in per_day.values()],
        "crisis": [len(v) for v in crisis_day.values()],
        "user_messages": user_total,
        "fallback_messages": fallback_total,
        "fallback_rate": (fallback_total / user_total) if user_total else 0.0,
        "top_intents": intents.most_common(10),
    }


def audit_entries(session: Session, page: int = 1, per_page: int = 50) -> Tuple[List[AuditLog], int]:
    total = session.query(sa.func.count(AuditLog.id)).scalar() or 0
    rows = (
        session.query(AuditLog).order_by(AuditLog.id.desc()).offset((max(1, page) - 1) * per_page).limit(per_page).all()
    )
    return rows, total


def audit(session: Session, username: str, action: str, target: str = "", detail: str = "", client: str = "") -> None:
    """Append an audit-log entry (the caller's session commits it)."""
    session.add(
        AuditLog(
            at=dt.datetime.utcnow(),
            username=username or "-",
            action=action,
            target=(target or "")[:255],
            detail=redact(detail or ""),
            client=(client or "")[:64],
        )
    )
