"""Exports: relabelled messages as Rasa NLU YAML, conversations as CSV or JSON (redacted).

Every text goes through `redact()` again on the way out. In NLU YAML, placeholders such
as `[NAME]` are written as plain words (`NAME`), because square brackets are Rasa's
entity-annotation syntax.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections import defaultdict
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from sqlalchemy.orm import Session

from bot.nlu_data import intent_examples, plain
from bot.redact import PLACEHOLDER_RE, redact
from bot.transcripts import queries
from bot.transcripts.models import MessageRelabel

_ANNOTATION_CHARS = re.compile(r"[\[\]{}()]")


def existing_examples(paths: Iterable[Path]) -> Dict[str, str]:
    """{lower-cased example text without annotations: intent} from NLU YAML files."""
    found: Dict[str, str] = {}
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            continue
        found.update(_examples_in(str(path), stat.st_mtime_ns, stat.st_size))
    return found


# Reading and parsing the 4,000 training examples took about 0.1 s per export; a file is
# read again only when it changes (its modification time or size is part of the key).
@lru_cache(maxsize=64)
def _examples_in(path: str, mtime_ns: int, size: int) -> Tuple[Tuple[str, str], ...]:
    try:
        return tuple((text.lower(), intent) for text, intent in intent_examples(Path(path)))
    except Exception:
        return ()


def _segment(text: str) -> str:
    text = PLACEHOLDER_RE.sub(lambda m: m.group(0)[1:-1], redact(text or ""))
    return _ANNOTATION_CHARS.sub(" ", text)


def _annotate(text: str, entities: List[Dict[str, Any]]) -> str:
    """Rasa YAML example with entity annotations where offsets into `text` are sound."""
    spans: List[Tuple[int, int, str, str]] = []
    for ent in entities:
        try:
            start, end = int(ent["start"]), int(ent["end"])
        except (KeyError, TypeError, ValueError):
            continue
        if not (0 <= start < end <= len(text)) or not ent.get("entity"):
            continue
        surface = text[start:end]
        if surface != surface.strip() or PLACEHOLDER_RE.search(surface) or _ANNOTATION_CHARS.search(surface):
            continue
        if any(s < end and start < e for s, e, _, _ in spans):
            continue
        spans.append((start, end, str(ent["entity"]), str(ent.get("value") or surface)))
    spans.sort()
    out, pos = [], 0
    for start, end, name, value in spans:
        out.append(_segment(text[pos:start]))
        surface = text[start:end]
        if value == surface:
            out.append(f"[{surface}]({name})")
        else:
            out.append(f'[{surface}]{{"entity": "{name}", "value": {json.dumps(value)}}}')
        pos = end
    out.append(_segment(text[pos:]))
    return re.sub(r"\s+", " ", "".join(out)).strip()


def relabels(session: Session) -> List[MessageRelabel]:
    return session.query(MessageRelabel).order_by(MessageRelabel.intent, MessageRelabel.id).all()


def export_nlu(session: Session, existing: Sequence[Path] = ()) -> str:
    """Relabelled messages as Rasa 3 NLU YAML. Examples already in `existing` files are skipped."""
    known = existing_examples(existing)
    by_intent: Dict[str, List[str]] = defaultdict(list)
    seen: Set[str] = set()
    for item in relabels(session):
        try:
            entities = json.loads(item.entities or "[]")
        except ValueError:
            entities = []
        example = _annotate(item.text, entities if isinstance(entities, list) else [])
        text = plain(example)
        key = text.lower()
        if not text or key in seen or key in known:
            continue
        seen.add(key)
        by_intent[item.intent].append(example)
    lines = ['version: "3.1"', "nlu:"]
    for intent in sorted(by_intent):
        lines.append(f"- intent: {intent}")
        lines.append("  examples: |")
        for example in by_intent[intent]:
            lines.append(f"    - {example}")
    if not by_intent:
        lines[-1] = "nlu: []"
    return "\n".join(lines) + "\n"


def conversation_rows(session: Session, sender_ids: Optional[Sequence[str]] = None) -> List[Dict[str, Any]]:
    """One row per message, conversations oldest first (or in the order given)."""
    convs = queries.conversations(session, sender_ids)
    if sender_ids is None:
        ids = sorted(convs, key=lambda s: convs[s].started or dt.datetime.min)
    else:
        ids = [s for s in sender_ids if s in convs]
    turns = queries.transcripts(session, sender_ids)
    rows = []
    for sid in ids:
        conv = convs[sid]
        for turn in turns.get(sid, []):
            rows.append(
                {
                    "conversation_id": sid,
                    "event_id": turn.event_id,
                    "time": turn.at.isoformat() + "Z" if turn.at else "",
                    "speaker": "visitor" if turn.kind == "user" else "bot",
                    "text": redact(turn.text),
                    "intent": turn.intent or "",
                    "confidence": "" if turn.confidence is None else round(turn.confidence, 4),
                    "entities": ";".join(f"{e['entity']}={e['value']}" for e in turn.entities),
                    "source": turn.source,
                    "relabelled_intent": turn.relabel or "",
                    "crisis_conversation": conv.crisis,
                    "reviewed": conv.reviewed,
                    "tags": ",".join(conv.tags),
                }
            )
    return rows


# what each message carries; CSV adds its conversation's fields to every row
MESSAGE_FIELDS = (
    "event_id",
    "time",
    "speaker",
    "text",
    "intent",
    "confidence",
    "entities",
    "source",
    "relabelled_intent",
)
CSV_FIELDS = ["conversation_id", *MESSAGE_FIELDS, "crisis_conversation", "reviewed", "tags"]


def export_conversations(session: Session, fmt: str = "json", sender_ids: Optional[Sequence[str]] = None) -> str:
    """All (or the given) conversations, redacted, as CSV (one row per message) or JSON."""
    rows = conversation_rows(session, sender_ids)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for row in rows:
            # neutralise spreadsheet formulas in free text
            row = {k: ("'" + v if isinstance(v, str) and v[:1] in ("=", "+", "-", "@") else v) for k, v in row.items()}
            writer.writerow(row)
        return buffer.getvalue()
    if fmt != "json":
        raise ValueError("format must be csv or json")
    grouped: Dict[str, Dict[str, Any]] = {}
    for row in rows:
        conv = grouped.setdefault(
            row["conversation_id"],
            {
                "conversation_id": row["conversation_id"],
                "crisis": row["crisis_conversation"],
                "reviewed": row["reviewed"],
                "tags": row["tags"].split(",") if row["tags"] else [],
                "messages": [],
            },
        )
        conv["messages"].append({k: row[k] for k in MESSAGE_FIELDS})
    return json.dumps(list(grouped.values()), indent=2, ensure_ascii=False) + "\n"
