"""Read models for the staff console: conversation list, filters, search, transcript, dashboard.

Conversations are Rasa's `events` rows grouped by `sender_id`, joined in Python with our
review tables. Everything read from `events` is already redacted by the tracker store;
texts are passed through `redact()` once more on the way out (idempotent, and a second
line of defence for rows written by anything else).
"""
from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Dict, List, Optional, Sequence, Tuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.redact import redact
from bot.transcripts.models import (
    AuditLog, ConversationNote, ConversationReview, ConversationTag, MessageRelabel, events,
)

CRISIS_PREFIX = "crisis_"
FALLBACK_INTENT = "nlu_fallback"
FALLBACK_ACTIONS = {"action_default_fallback", "action_two_stage_fallback"}


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


def _load(data: Optional[str]) -> Dict[str, Any]:
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
    texts: List[str] = field(default_factory=list)
    reviewed: bool = False
    crisis_flag: bool = False
    priority: int = 0
    tags: List[str] = field(default_factory=list)

    @property
    def crisis(self) -> bool:
        return self.crisis_auto or self.crisis_flag

    @property
    def needs_review(self) -> bool:
        return not self.reviewed

    def sort_key_needs_review(self) -> Tuple:
        last = self.last.timestamp() if self.last else 0
        return (not (self.crisis and not self.reviewed), self.reviewed, -self.priority, -last)


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


def conversations(session: Session) -> Dict[str, Conversation]:
    """Every conversation with its summary (one pass over user and bot events)."""
    convs: Dict[str, Conversation] = {}
    threshold = low_confidence_threshold()
    rows = session.execute(
        sa.select(events.c.sender_id, events.c.type_name, events.c.timestamp,
                  events.c.intent_name, events.c.action_name, events.c.data)
        .where(events.c.type_name.in_(("user", "bot", "action")))
        .order_by(events.c.id)
    )
    for sender_id, type_name, ts, intent, action, data in rows:
        conv = convs.get(sender_id)
        if conv is None:
            conv = convs[sender_id] = Conversation(sender_id)
        when = to_datetime(ts)
        if when is not None:
            conv.started = when if conv.started is None else min(conv.started, when)
            conv.last = when if conv.last is None else max(conv.last, when)
        if type_name == "action":
            if action in FALLBACK_ACTIONS:
                conv.fallback = True
            continue
        payload = _load(data)
        text = payload.get("text") or ""
        if type_name == "user":
            conv.user_messages += 1
            if intent:
                conv.intents[intent] += 1
                if intent.startswith(CRISIS_PREFIX):
                    conv.crisis_auto = True
                if intent == FALLBACK_INTENT:
                    conv.fallback = True
            confidence = ((payload.get("parse_data") or {}).get("intent") or {}).get("confidence")
            if isinstance(confidence, (int, float)) and confidence < threshold:
                conv.low_confidence = True
            if text and not conv.preview and not text.startswith("/"):
                conv.preview = redact(text)[:120]
        else:
            conv.bot_messages += 1
        if text:
            conv.texts.append(text)
    for review in session.query(ConversationReview):
        conv = convs.get(review.sender_id)
        if conv is None:
            continue
        conv.reviewed, conv.crisis_flag, conv.priority = review.reviewed, review.crisis_flag, review.priority
    for tag in session.query(ConversationTag).order_by(ConversationTag.tag):
        if tag.sender_id in convs:
            convs[tag.sender_id].tags.append(tag.tag)
    return {k: v for k, v in convs.items() if v.user_messages > 0 or v.bot_messages > 0}


def _matches(conv: Conversation, f: Filters) -> bool:
    if f.crisis is not None and conv.crisis != f.crisis:
        return False
    if f.fallback is not None and (conv.fallback or conv.low_confidence) != f.fallback:
        return False
    if f.intent and f.intent not in conv.intents:
        return False
    if f.reviewed is not None and conv.reviewed != f.reviewed:
        return False
    if f.tag and f.tag not in conv.tags:
        return False
    if f.date_from and (conv.last is None or conv.last.date() < f.date_from):
        return False
    if f.date_to and (conv.started is None or conv.started.date() > f.date_to):
        return False
    if f.q:
        needle = f.q.lower()
        if not any(needle in t.lower() for t in conv.texts) and needle not in conv.sender_id.lower():
            return False
    if f.view == "needs_review" and conv.reviewed:
        return False
    return True


def list_conversations(session: Session, f: Filters, page: int = 1, per_page: int = 25
                       ) -> Tuple[List[Conversation], int]:
    """One page of the filtered conversations and the total number that matched."""
    items = [c for c in conversations(session).values() if _matches(c, f)]
    if f.view == "needs_review":
        items.sort(key=Conversation.sort_key_needs_review)
    else:
        items.sort(key=lambda c: c.last.timestamp() if c.last else 0, reverse=True)
    page = max(1, page)
    start = (page - 1) * per_page
    return items[start:start + per_page], len(items)


def known_intents(session: Session) -> List[str]:
    rows = session.execute(sa.select(events.c.intent_name).where(events.c.intent_name.isnot(None)).distinct())
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
    ranking: List[Tuple[str, float]] = field(default_factory=list)
    source: str = ""  # bot: "response utter_x" / "fact topic" / "action name"
    relabel: Optional[str] = None

    @property
    def crisis(self) -> bool:
        return bool(self.intent and self.intent.startswith(CRISIS_PREFIX))

    @property
    def low_confidence(self) -> bool:
        return self.kind == "user" and (
            self.intent == FALLBACK_INTENT
            or (self.confidence is not None and self.confidence < low_confidence_threshold()))


def transcript(session: Session, sender_id: str) -> List[Turn]:
    rows = session.execute(
        sa.select(events.c.id, events.c.type_name, events.c.timestamp, events.c.intent_name,
                  events.c.action_name, events.c.data)
        .where(events.c.sender_id == sender_id).order_by(events.c.id)
    ).all()
    relabels = {r.event_id: r.intent for r in session.query(MessageRelabel).filter_by(sender_id=sender_id)}
    turns: List[Turn] = []
    last_action = ""
    for event_id, type_name, ts, intent, action, data in rows:
        if type_name == "action":
            last_action = action or ""
            continue
        if type_name not in ("user", "bot"):
            continue
        payload = _load(data)
        text = redact(payload.get("text") or "")
        if type_name == "user":
            parse = payload.get("parse_data") or {}
            intent_info = parse.get("intent") or {}
            entities = [
                {"entity": e.get("entity"), "value": redact(str(e.get("value"))),
                 "extractor": e.get("extractor") or ""}
                for e in parse.get("entities") or [] if isinstance(e, dict)
            ]
            ranking = [(r.get("name"), r.get("confidence")) for r in (parse.get("intent_ranking") or [])[:3]
                       if isinstance(r, dict)]
            confidence = intent_info.get("confidence")
            turns.append(Turn(event_id, "user", to_datetime(ts), text, intent or intent_info.get("name"),
                              float(confidence) if isinstance(confidence, (int, float)) else None,
                              entities, ranking, relabel=relabels.get(event_id)))
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
    row = session.execute(sa.select(events.c.sender_id, events.c.type_name, events.c.intent_name, events.c.data)
                          .where(events.c.id == event_id)).first()
    if row is None or row.type_name != "user":
        return None
    payload = _load(row.data)
    return {"sender_id": row.sender_id, "intent": row.intent_name, "payload": payload}


def notes(session: Session, sender_id: str) -> List[ConversationNote]:
    return session.query(ConversationNote).filter_by(sender_id=sender_id).order_by(ConversationNote.id).all()


def review_state(session: Session, sender_id: str) -> ConversationReview:
    review = session.get(ConversationReview, sender_id)
    if review is None:
        review = ConversationReview(sender_id=sender_id, reviewed=False, crisis_flag=False, priority=0,
                                    updated_at=dt.datetime.utcnow())
        session.add(review)
    return review


def dashboard(session: Session, days: int = 14, today: Optional[dt.date] = None) -> Dict[str, Any]:
    """Per-day conversations and crisis escalations, fallback rate and top intents."""
    today = today or dt.datetime.utcnow().date()
    first = today - dt.timedelta(days=days - 1)
    per_day = {first + dt.timedelta(days=i): set() for i in range(days)}
    crisis_day = {d: set() for d in per_day}
    intents: Counter = Counter()
    user_total = fallback_total = 0
    threshold = low_confidence_threshold()
    start_ts = dt.datetime.combine(first, dt.time()).replace(tzinfo=dt.timezone.utc).timestamp()
    rows = session.execute(
        sa.select(events.c.sender_id, events.c.timestamp, events.c.intent_name, events.c.data)
        .where(events.c.type_name == "user", events.c.timestamp >= start_ts)
    )
    for sender_id, ts, intent, data in rows:
        day = to_datetime(ts).date()
        if day not in per_day:
            continue
        per_day[day].add(sender_id)
        user_total += 1
        if intent:
            intents[intent] += 1
            if intent.startswith(CRISIS_PREFIX):
                crisis_day[day].add(sender_id)
        confidence = ((_load(data).get("parse_data") or {}).get("intent") or {}).get("confidence")
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
    rows = (session.query(AuditLog).order_by(AuditLog.id.desc())
            .offset((max(1, page) - 1) * per_page).limit(per_page).all())
    return rows, total


def audit(session: Session, username: str, action: str, target: str = "", detail: str = "",
          client: str = "") -> None:
    """Append an audit-log entry (the caller's session commits it)."""
    session.add(AuditLog(at=dt.datetime.utcnow(), username=username or "-", action=action,
                         target=(target or "")[:255], detail=redact(detail or ""), client=(client or "")[:64]))


def sender_ids(session: Session) -> Sequence[str]:
    return [r[0] for r in session.execute(sa.select(events.c.sender_id).distinct())]
