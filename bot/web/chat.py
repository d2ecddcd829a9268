"""`POST /api/chat` and `GET /api/contacts`: the widget's only server endpoints.

`/api/chat` validates strictly and forwards one visitor message to Rasa's REST channel
on loopback, with the region in the message metadata (the Rasa side turns it into the
`region` slot). A message the crisis rules match is answered with the crisis reply by the
web app itself when Rasa is slow or down (bot.web.crisis_guard). When Rasa cannot be
reached, fails or says nothing, any other message gets 503 with the region's human
contact details so the widget can still show them; a client over its rate limit
(`chat_rate_limit`, bot.web.security) gets 429 with Retry-After and the same contacts.

Privacy: message text is never logged or written anywhere here; log lines carry only
a shortened conversation id, status codes and timings.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import unicodedata
import zlib
from typing import Any, Dict, List, Optional, Set

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from bot import contacts
from bot.settings import REGIONS, Settings
from bot.web.crisis_guard import CrisisGuard
from bot.web.security import RateLimit, limit_key

log = logging.getLogger("bot.web.chat")

router = APIRouter(prefix="/api")

# A browser-made random id: 32 lowercase hex characters, or a canonical UUID.
CONVERSATION_ID = re.compile(r"(?:[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")
# Control characters other than tab and newlines are never part of a chat message.
ALLOWED_CONTROLS = {"\t", "\n", "\r"}
# Longer than a dead server's hold on a conversation (lock lifetime 15 s + mutex 3 s, see
# bot/lock_store.py) plus an answer, and shorter than the widget's own 40 s.
RASA_TIMEOUT = httpx.Timeout(35.0, connect=3.0)
NO_STORE = {"Cache-Control": "no-store"}


class BadRequest(Exception):
    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


def error_response(status: int, error: str, headers: Optional[Dict[str, str]] = None, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": error, **extra}, status_code=status, headers={**NO_STORE, **(headers or {})})


UNAVAILABLE = "The assistant is not available right now."
TOO_MANY = "Lots of messages just now; please wait a moment and try again."


def with_contacts(status: int, error: str, region: str, headers: Optional[Dict[str, str]] = None) -> JSONResponse:
    """An error the widget answers by showing the region's human contacts (503, 429)."""
    return error_response(status, error, headers=headers, contacts=contacts.for_region(region), region=region)


def region_of(body: bytes, settings: Settings) -> str:
    """The region a (possibly invalid) chat request asks for, else the default: a limited
    visitor still gets their own region's numbers."""
    try:
        region = json.loads(body.decode("utf-8")).get("region")
    except (ValueError, AttributeError, RecursionError):
        return settings.default_region
    return region if isinstance(region, str) and region in REGIONS else settings.default_region


def body_limit(settings: Settings) -> int:
    """Largest request body worth parsing: the longest message, JSON-escaped, plus room."""
    return settings.max_message_chars * 12 + 4096


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise BadRequest(413, "Request body is too large.")
        except ValueError:
            raise BadRequest(400, "Invalid Content-Length header.") from None
    chunks: List[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadRequest(413, "Request body is too large.")
        chunks.append(chunk)
    return b"".join(chunks)


def has_bad_characters(text: str) -> bool:
    for ch in text:
        if ch in ALLOWED_CONTROLS:
            continue
        category = unicodedata.category(ch)
        # Cc: C0/C1 controls and DEL; Cs: lone surrogates (from "\ud800" escapes);
        # Cn U+FFFE/U+FFFF style noncharacters are rejected too.
        if category in ("Cc", "Cs") or (category == "Cn" and (ord(ch) & 0xFFFE) == 0xFFFE):
            return True
    return False


def parse_chat_request(content_type: str, body: bytes, settings: Settings) -> Dict[str, str]:
    """The validated {"conversation_id", "message", "region"}; raises BadRequest."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise BadRequest(415, "Content-Type must be application/json.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest(400, "Request body is not valid UTF-8 text.") from None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise BadRequest(400, "Request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise BadRequest(422, "Request body must be a JSON object.")

    conversation_id = data.get("conversation_id")
    if conversation_id is None:
        raise BadRequest(422, "conversation_id is required.")
    if not isinstance(conversation_id, str) or not CONVERSATION_ID.fullmatch(conversation_id):
        raise BadRequest(422, "conversation_id must be 32 lowercase hex characters or a UUID.")

    region = data.get("region", settings.default_region)
    if region is None:
        region = settings.default_region
    if not isinstance(region, str) or region not in REGIONS:
        raise BadRequest(422, f"region must be one of: {', '.join(REGIONS)}.")

    message = data.get("message")
    if message is None:
        raise BadRequest(422, "message is required.")
    if not isinstance(message, str):
        raise BadRequest(422, "message must be a string.")
    if has_bad_characters(message):
        raise BadRequest(422, "message contains control or binary characters.")
    message = message.strip()
    if not message:
        raise BadRequest(422, "message is empty.")
    if len(message) > settings.max_message_chars:
        raise BadRequest(413, f"message is longer than {settings.max_message_chars} characters.")
    return {"conversation_id": conversation_id, "message": message, "region": region}


def clean_messages(payload: Any) -> List[Dict[str, Any]]:
    """Only the parts of Rasa's answer the widget renders: text and quick-reply buttons."""
    if not isinstance(payload, list):
        raise ValueError("Rasa answered with something other than a list")
    messages: List[Dict[str, Any]] = []
    for item in payload:
        if not isinstance(item, dict):
            continue
        message: Dict[str, Any] = {}
        if isinstance(item.get("text"), str) and item["text"].strip():
            message["text"] = item["text"]
        buttons = [
            {"title": b["title"], "payload": b["payload"]}
            for b in item.get("buttons") or []
            if isinstance(b, dict)
            and isinstance(b.get("title"), str)
            and isinstance(b.get("payload"), str)
            and b["title"].strip()
            and b["payload"].strip()
        ]
        if buttons:
            message["buttons"] = buttons
        if message:
            messages.append(message)
    return messages


def short_id(conversation_id: str) -> str:
    return conversation_id.replace("-", "")[:8]


BAD_REQUESTS = (
    (400, "Not UTF-8, not JSON, or an unreadable Content-Length"),
    (413, "Body or message too long"),
    (415, "Not application/json"),
    (422, "A field is missing or invalid"),
)


def _json_answers(properties: Dict[str, Any], statuses: Any) -> Dict[str, Any]:
    """OpenAPI answers for these statuses: a JSON object with these properties, all required."""
    schema = {"type": "object", "required": list(properties), "properties": properties}
    return {
        str(status): {"description": why, "content": {"application/json": {"schema": schema}}}
        for status, why in statuses
    }


# The body is read raw (size, UTF-8 and JSON are checked by hand before parsing), so FastAPI
# cannot see it; this describes request and answers for the OpenAPI schema the fuzz tests read.
CHAT_OPENAPI: Dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["conversation_id", "message"],
                    "properties": {
                        "conversation_id": {"type": "string", "pattern": f"^(?:{CONVERSATION_ID.pattern})$"},
                        "message": {"type": "string", "minLength": 1, "maxLength": 1000},
                        "region": {"type": "string", "enum": list(REGIONS)},
                    },
                }
            }
        },
    },
    "responses": {
        "200": {
            "description": "The bot's messages: text and quick-reply buttons only",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["messages"],
                        "additionalProperties": False,
                        "properties": {
                            "messages": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "properties": {
                                        "text": {"type": "string"},
                                        "buttons": {
                                            "type": "array",
                                            "items": {
                                                "type": "object",
                                                "required": ["title", "payload"],
                                                "properties": {
                                                    "title": {"type": "string"},
                                                    "payload": {"type": "string"},
                                                },
                                            },
                                        },
                                    },
                                },
                            }
                        },
                    }
                }
            },
        },
        **_json_answers({"error": {"type": "string"}}, BAD_REQUESTS),
        **_json_answers(
            {
                "error": {"type": "string"},
                "contacts": {"type": "object"},
                "region": {"type": "string", "enum": list(REGIONS)},
            },
            (
                (429, "Over the client's rate limit (Retry-After), with the region's contacts"),
                (503, "Rasa unavailable, with the region's contacts"),
            ),
        ),
    },
}


@router.post("/chat", openapi_extra=CHAT_OPENAPI)
async def chat(request: Request) -> JSONResponse:
    settings: Settings = request.app.state.settings
    try:
        body = await read_body(request, body_limit(settings))
    except BadRequest as exc:
        log.info("chat rejected: status=%s", exc.status)
        return error_response(exc.status, exc.error)
    # Counted before parsing, so malformed requests are limited too; never silent: the
    # answer carries the contacts, and the widget shows them and retries.
    limit: RateLimit = request.app.state.chat_limit
    retry_after = limit.hit(limit_key(request, settings.trust_proxy))
    if retry_after is not None:
        log.info("chat limited: retry after %ss", retry_after)
        return with_contacts(429, TOO_MANY, region_of(body, settings), headers={"Retry-After": str(retry_after)})
    try:
        parsed = parse_chat_request(request.headers.get("content-type", ""), body, settings)
    except BadRequest as exc:
        log.info("chat rejected: status=%s", exc.status)
        return error_response(exc.status, exc.error)

    conversation_id, region = parsed["conversation_id"], parsed["region"]
    started = time.monotonic()
    asking = asyncio.ensure_future(ask_rasa(request.app.state.http, settings, parsed))
    guard: Optional[CrisisGuard] = request.app.state.crisis_guard
    crisis = guard.check(parsed["message"]) if guard else None
    if guard and crisis:
        # A person in crisis gets the numbers whatever Rasa is doing; Rasa's own answer
        # (the same reply, from the same rules) only if configured to wait for it.
        if settings.crisis_wait_seconds > 0:
            done, _ = await asyncio.wait({asking}, timeout=settings.crisis_wait_seconds)
            if asking in done and not asking.exception() and asking.result():
                return answered(conversation_id, asking.result(), started)
        keep_for_transcript(request.app, asking, conversation_id)
        log.info("chat %s: crisis answered by the web app", short_id(conversation_id))
        return JSONResponse({"messages": guard.reply(crisis, region)}, headers=NO_STORE)
    try:
        messages = await asking
    except RasaUnavailable as exc:
        log.warning(
            "chat %s: Rasa unavailable (%s) after %.2fs", short_id(conversation_id), exc, time.monotonic() - started
        )
        return with_contacts(503, UNAVAILABLE, region)
    if not messages:
        # Rasa answered but said nothing (an action failed): never leave a visitor silent.
        log.warning("chat %s: Rasa sent no messages", short_id(conversation_id))
        return with_contacts(503, UNAVAILABLE, region)
    return answered(conversation_id, messages, started)


class RasaUnavailable(Exception):
    """Rasa could not be reached, failed, or answered with something unreadable."""


async def ask_rasa(client: httpx.AsyncClient, settings: Settings, parsed: Dict[str, str]) -> List[Dict[str, Any]]:
    """Rasa's messages for one visitor message. With several Rasa servers (scale-out) a
    conversation keeps to one while it is up, so its turns rarely wait on the shared lock;
    a server that cannot be reached or dies mid-answer is skipped for the next one. A
    message whose server died after saving it is then stored twice rather than lost."""
    urls = settings.rasa_webhook_urls
    first = zlib.crc32(parsed["conversation_id"].encode()) % len(urls)
    problem = ""
    for url in urls[first:] + urls[:first]:
        status: Optional[int] = None
        try:
            response = await client.post(
                url,
                json={
                    "sender": parsed["conversation_id"],
                    "message": parsed["message"],
                    "metadata": {"region": parsed["region"]},
                },
            )
            status = response.status_code
            response.raise_for_status()
            return clean_messages(response.json())
        except httpx.TransportError as exc:
            problem = f"{type(exc).__name__}, {len(urls)} server(s) tried"
        except (httpx.HTTPError, ValueError) as exc:
            # an answer, but a failed one (e.g. its database is locked): another server
            # shares the same database, so asking it too would only double the wait
            raise RasaUnavailable(f"{type(exc).__name__}, status={status}") from None
    raise RasaUnavailable(problem)


def answered(conversation_id: str, messages: List[Dict[str, Any]], started: float) -> JSONResponse:
    log.info(
        "chat %s: ok, %d bot messages in %.2fs", short_id(conversation_id), len(messages), time.monotonic() - started
    )
    return JSONResponse({"messages": messages}, headers=NO_STORE)


def keep_for_transcript(app: Any, asking: asyncio.Future, conversation_id: str) -> None:
    """Let a crisis message already answered here still reach Rasa, and log the outcome."""
    pending: Set[asyncio.Future] = app.state.pending_to_rasa
    pending.add(asking)

    def finished(task: asyncio.Future) -> None:
        pending.discard(task)
        if task.cancelled() or task.exception():
            log.warning(
                "chat %s: a crisis message answered here did not reach Rasa (%s)",
                short_id(conversation_id),
                "cancelled" if task.cancelled() else task.exception(),
            )

    asking.add_done_callback(finished)


@router.get(
    "/contacts",
    # `responses=` rather than openapi_extra: it replaces FastAPI's own 422 ({"detail": …}),
    # which this route never sends.
    responses={
        200: {
            "description": "The region's human contacts",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["region", "contacts"],
                        "properties": {
                            "region": {"type": "string", "enum": list(REGIONS)},
                            "contacts": {"type": "object"},
                        },
                    }
                }
            },
        },
        422: {
            "description": "Unknown region",
            "content": {
                "application/json": {
                    "schema": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}
                }
            },
        },
    },
)
async def region_contacts(request: Request, region: Optional[str] = None) -> JSONResponse:
    settings: Settings = request.app.state.settings
    region = region or settings.default_region
    if region not in REGIONS:
        return error_response(422, f"region must be one of: {', '.join(REGIONS)}.")
    return JSONResponse({"region": region, "contacts": contacts.for_region(region)})
