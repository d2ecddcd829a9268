"""A Rasa SQLTrackerStore that redacts personal data before anything is written.

Rasa runs NLU and the dialogue of a turn on the in-memory tracker, then calls
`save(tracker)`; only then does this store see the events. It serialises each new event,
redacts the serialised copy (the in-memory events stay untouched, so the current turn
has already been understood from the original text) and writes the copy:

- user events: `text`, `parse_data.text`, entity values and offsets that fall inside a
  redacted part, and string metadata;
- every other event (bot utterances, slots, action results): any string that echoes a
  piece of personal data found in this tracker's user messages is replaced by the same
  placeholder; slot values are passed through `redact()` as well.

Once the events are written it brings the conversation's summary row (what the staff
list reads, `bot.transcripts.summary`) up to date from the rows just stored.

An event broker configured in endpoints.yml (`event_broker:`, Rasa's SQL, Pika or Kafka
brokers) gets the very copies `save` writes, redacted once; Rasa's own publishing point,
`TrackerStore._stream_new_events`, is overridden too, so nothing leaves this store unredacted.

endpoints.yml:

    tracker_store:
      type: bot.transcripts.tracker_store.RedactingTrackerStore
      url: ${BOT_DB_URL}
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import logging
import re
from typing import Any, Dict, Iterable, List, Optional, Text, Tuple

from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import Event
from rasa.shared.core.trackers import DialogueStateTracker

from bot import redact as R
from bot.transcripts import summary

logger = logging.getLogger(__name__)

# Keys of event dicts that are identifiers or numbers, never visitor text.
_KEEP_KEYS = {
    "event",
    "timestamp",
    "name",
    "policy",
    "confidence",
    "action_name",
    "intent_name",
    "message_id",
    "input_channel",
    "sender_id",
    "entity",
    "extractor",
    "processors",
    "start",
    "end",
    "id",
    "type",
    "utter_action",
    "fact",
    "template_name",
    "response",
    "model_id",
    "assistant_id",
    "region",
    "role",
    "group",
}


def _redact_text_and_entities(
    text: str, entities: List[Dict[str, Any]]
) -> Tuple[str, List[Dict[str, Any]], Dict[str, str]]:
    """Redacted text, entities re-anchored to it, and {original piece: placeholder}."""
    redacted, spans = R.redact_with_spans(text)
    pieces: Dict[str, str] = {}
    for s in spans:
        piece = text[s.start : s.end].strip()
        if not piece:
            continue
        pieces[piece] = s.placeholder
        if s.label == "NAME":  # "Maisie Quinn" may be echoed as "Maisie"
            for word in piece.split():
                if len(word) >= 2:
                    pieces.setdefault(word, s.placeholder)
        digits = "".join(c for c in piece if c.isdigit())
        if len(digits) >= 7:  # "07700 900777" echoed as "07700900777"
            pieces.setdefault(digits, s.placeholder)
    new_entities = []
    for ent in entities or []:
        ent = dict(ent)
        start: Optional[int]
        end: Optional[int]
        try:
            start, end = int(ent["start"]), int(ent["end"])
        except (KeyError, TypeError, ValueError):
            start = end = None
        hit = R.overlapping(start, end, spans) if start is not None and end is not None else None
        if hit is not None:
            ent["value"] = hit.placeholder
            ent["start"] = R.map_offset(hit.start, spans)
            ent["end"] = ent["start"] + len(hit.placeholder)
        else:
            if start is not None and end is not None:
                ent["start"] = R.map_offset(start, spans)
                ent["end"] = R.map_offset(end, spans, end=True)
            if isinstance(ent.get("value"), str):
                ent["value"] = R.redact(ent["value"])
        # The spans are those of redaction's first pass; a later pass ("4539 1488 [PHONE]"
        # becomes "[PHONE] [PHONE]") moves things: re-find the entity's text or drop offsets.
        if isinstance(ent.get("start"), int) and isinstance(ent.get("end"), int):
            if hit is not None:
                expected = hit.placeholder
            elif start is not None and end is not None:
                expected = text[start:end]
            else:
                expected = None
            _anchor(ent, redacted, expected)
        new_entities.append(ent)
    return redacted, new_entities, pieces


def _anchor(ent: Dict[str, Any], redacted: str, expected: Optional[str]) -> None:
    """Keep `ent`'s offsets if they slice `expected` out of `redacted`; otherwise move them to
    the nearest place that does, or drop them when there is none."""
    start, end = ent["start"], ent["end"]
    if 0 <= start <= end <= len(redacted) and (expected is None or redacted[start:end] == expected):
        return
    if expected:
        found = [m.start() for m in re.finditer(re.escape(expected), redacted)]
        if found:
            ent["start"] = min(found, key=lambda at: abs(at - start))
            ent["end"] = ent["start"] + len(expected)
            return
    ent.pop("start", None)
    ent.pop("end", None)


def _scrub(value: Any, pieces: Dict[str, str], full: bool) -> Any:
    """Replace echoed personal pieces (and, if `full`, anything redact() finds) in strings."""
    if isinstance(value, str):
        for piece in sorted(pieces, key=len, reverse=True):
            if len(piece) >= 2 and piece in value:
                # whole words only: the name "Al" must not eat "Also"
                left = r"(?<!\w)" if piece[0].isalnum() else ""
                right = r"(?!\w)" if piece[-1].isalnum() else ""
                value = re.sub(left + re.escape(piece) + right, pieces[piece].replace("\\", r"\\"), value)
        return R.redact(value) if full else value
    if isinstance(value, list):
        return [_scrub(v, pieces, full) for v in value]
    if isinstance(value, dict):
        return {
            k: (v if k in _KEEP_KEYS and not isinstance(v, (dict, list)) else _scrub(v, pieces, full))
            for k, v in value.items()
        }
    return value


def redact_event_dicts(events: List[Dict[str, Any]], earlier: Optional[Dict[str, str]] = None) -> List[Dict[str, Any]]:
    """Redacted deep copies of serialised events (the pieces found in user texts are shared,
    with the `earlier` pieces of the conversation's previous user messages)."""
    out: List[Dict[str, Any]] = []
    pieces: Dict[str, str] = dict(earlier or {})
    staged: List[Dict[str, Any]] = []
    for data in events:
        data = copy.deepcopy(data)
        if data.get("event") == "user":
            text = data.get("text")
            parse = data.get("parse_data") or {}
            if isinstance(text, str):
                redacted, entities, found = _redact_text_and_entities(text, parse.get("entities") or [])
                pieces.update(found)
                data["text"] = redacted
                if isinstance(parse, dict):
                    parse = dict(parse)
                    parse["text"] = redacted
                    parse["entities"] = entities
                    data["parse_data"] = parse
        staged.append(data)
    for data in staged:
        if data.get("event") == "user":
            data["metadata"] = _scrub(data.get("metadata"), pieces, full=True)
            parse = data.get("parse_data")
            if isinstance(parse, dict):
                entities = [
                    {k: (_scrub(v, pieces, full=False) if k == "value" else v) for k, v in e.items()}
                    for e in parse.get("entities") or []
                ]
                # everything else in parse_data too (it carries its own copy of the metadata)
                parse = _scrub(parse, pieces, full=True)
                parse["entities"] = entities
                data["parse_data"] = parse
            out.append(data)
        else:
            # bot texts and action results: echoes of user pieces; slot values: also redact()
            full = data.get("event") in ("slot", "entities")
            out.append(_scrub(data, pieces, full=full))
    return out


def redact_new_events(new_events: Iterable[Event], context: Iterable[Event] = ()) -> List[Dict[str, Any]]:
    """Redacted serialised copies of `new_events`, one per event, in order.

    `context` is the conversation they belong to (the tracker's events): the personal data
    in all its user messages is searched for in the new events, so an echo of a name given
    in an earlier turn is caught too. The new events' own user messages always count.
    """
    earlier: Dict[str, str] = {}
    for event in context:
        if getattr(event, "type_name", "") == "user" and isinstance(getattr(event, "text", None), str):
            entities = (getattr(event, "parse_data", None) or {}).get("entities") or []
            earlier.update(_pieces_in(event.text, json.dumps(entities, sort_keys=True, default=str)))
    return redact_event_dicts([e.as_dict() for e in new_events], earlier)


# The same earlier messages come back at every turn of a conversation; finding their
# pieces again each time made a save's cost grow with the conversation's length. The
# cache lives in this process's memory only, beside the trackers Rasa already holds there.
@functools.lru_cache(maxsize=8192)
def _pieces_in(text: str, entities_json: str) -> Tuple[Tuple[str, str], ...]:
    _, _, found = _redact_text_and_entities(text, json.loads(entities_json))
    return tuple(found.items())


# how many of a tracker's events are in the database, kept on trackers this store loaded
_STORED = "_bot_events_stored"


class RedactingTrackerStore(SQLTrackerStore):
    """SQLTrackerStore whose database never receives the personal data of a visitor."""

    def __init__(self, domain=None, host: Optional[Text] = None, url: Optional[Text] = None, **kwargs: Any) -> None:
        db_url = host or url or ""
        if "://" not in db_url:
            from bot import settings

            db_url = settings.load().db_url
        if db_url.startswith("sqlite:///"):
            from pathlib import Path

            Path(db_url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
        kwargs.pop("dialect", None)
        super().__init__(domain=domain, host=db_url, **kwargs)
        R.install_log_redaction()
        try:  # our own tables, so the console can start on a database Rasa created
            from bot.transcripts import db

            db.migrate(db_url)
        except Exception as error:  # the web app migrates too; never block Rasa on this
            logger.warning("could not migrate the transcripts tables: %s", error)

    async def retrieve(self, sender_id: Text) -> Optional[DialogueStateTracker]:
        tracker = await super().retrieve(sender_id)
        if tracker is not None:
            tracker.__dict__[_STORED] = len(tracker.events)
        return tracker

    def _unsaved_events(self, session: Any, tracker: DialogueStateTracker) -> List[Event]:
        """The tracker's events not yet in the database.

        Rasa counts the session's stored rows at every save to find them (a query that grew
        with the conversation, 8 % of Rasa's time at one visitor). A tracker this store
        loaded already knows: the rows it was built from, plus what its saves added. The
        conversation's lock keeps any other writer out in between. Anything else (a new
        conversation, a copy of a tracker) is counted as Rasa does.
        """
        stored = tracker.__dict__.get(_STORED)
        if not tracker.events:  # Rasa saves each new conversation before its first event
            return []
        if stored is None or tracker.events.maxlen is not None:
            return list(self._additional_events(session, tracker))
        return list(itertools.islice(tracker.events, stored, None))

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Like SQLTrackerStore.save, but every event is redacted before it is written, and
        the event broker (if any) gets the same redacted copies, published first as Rasa does."""
        with self.session_scope() as session:
            new_events = self._unsaved_events(session, tracker)
            if not new_events:
                tracker.__dict__[_STORED] = len(tracker.events)  # a new, empty conversation
                return
            # Echoes in later events must be found even when the user message that
            # contained the data was saved in an earlier turn, so all user events count.
            redacted = redact_new_events(new_events, context=tracker.events)
            if self.event_broker is not None:
                _publish(self.event_broker, tracker.sender_id, redacted)
            for event, data in zip(new_events, redacted):
                intent = ((data.get("parse_data") or {}).get("intent") or {}).get("name")
                session.add(
                    self.SQLEvent(
                        sender_id=tracker.sender_id,
                        type_name=event.type_name,
                        timestamp=data.get("timestamp"),
                        intent_name=intent,
                        action_name=data.get("name"),
                        data=json.dumps(data),
                    )
                )
            # The summary in the same transaction, inside a savepoint of its own: a failing
            # summary rolls back alone and must not lose the turn (Rasa answers the REST
            # request, crisis numbers included, after the save returns); the next save
            # folds in whatever this one missed. One commit a turn instead of two.
            session.flush()
            try:
                with session.begin_nested():
                    summary.refresh(session, tracker.sender_id)
            except Exception:
                logger.exception("could not update the conversation summary; the events are saved")
            session.commit()
            tracker.__dict__[_STORED] = len(tracker.events)
        logger.debug("Tracker stored to database (redacted)")

    async def _stream_new_events(
        self,
        event_broker: EventBroker,
        new_events: List[Event],
        sender_id: Text,
        context: Iterable[Event] = (),
    ) -> None:
        """Rasa's one place that turns events into broker messages (`save` above publishes
        without it): should anything else call it, each body is still the redacted copy."""
        _publish(event_broker, sender_id, redact_new_events(new_events, context=context))


def _publish(event_broker: EventBroker, sender_id: Text, redacted: List[Dict[str, Any]]) -> None:
    for data in redacted:
        body: Dict[str, Any] = {"sender_id": sender_id}
        body.update(data)
        event_broker.publish(body)
