"""`/api/chat`, `/api/contacts`, `/healthz` and the security headers, over real HTTP.

Validation cases run against a web app instance whose Rasa is unreachable: a bad
request must be refused with 4xx before anything is forwarded (a 503 would mean it was
forwarded). Pass-through cases run against the real stack.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any, Dict, Optional, Tuple

import httpx
import pytest

from bot.web.security import SECURITY_HEADERS
from tests.web.conftest import contacts, curated_openings, new_conversation_id

ID = "0123456789abcdef0123456789abcdef"


def post(
    base: str, body: Any = None, *, raw: Optional[bytes] = None, content_type: Optional[str] = "application/json"
) -> Tuple[int, Dict[str, Any], httpx.Response]:
    headers = {"Content-Type": content_type} if content_type else {}
    content = raw if raw is not None else json.dumps(body).encode()
    response = httpx.post(f"{base}/api/chat", content=content, headers=headers, timeout=90)
    try:
        payload = response.json()
    except ValueError:
        payload = {}
    return response.status_code, payload, response


def body(message: Any = "hello", conversation_id: Any = ID, **extra: Any) -> Dict[str, Any]:
    data: Dict[str, Any] = {"conversation_id": conversation_id, "message": message}
    data.update(extra)
    return data


# ---- validation: every bad input gets a clear JSON error and the right status --------

BAD_REQUESTS = [
    # (case, kwargs for post(), expected status)
    ("empty message", dict(body=body("")), 422),
    ("whitespace-only message", dict(body=body(" \n\t ")), 422),
    ("missing message", dict(body={"conversation_id": ID}), 422),
    ("message not a string", dict(body=body(42)), 422),
    ("message is a list", dict(body=body(["hi"])), 422),
    ("message null", dict(body=body(None)), 422),
    ("message one over the limit", dict(body=body("a" * 1001)), 413),
    ("message far over the limit", dict(body=body("a" * 50_000)), 413),
    ("huge body", dict(raw=b'{"conversation_id": "%s", "message": "' % ID.encode() + b"a" * 200_000 + b'"}'), 413),
    ("malformed JSON", dict(raw=b'{"conversation_id": "x", "message": '), 400),
    ("not JSON at all", dict(raw=b"hello there"), 400),
    ("empty body", dict(raw=b""), 400),
    ("JSON array", dict(body=[ID, "hello"]), 422),
    ("JSON string", dict(body="hello"), 422),
    (
        "invalid UTF-8 bytes",
        dict(raw=b'{"conversation_id": "' + ID.encode() + b'", "message": "\xff\xfe\x00abc"}'),
        400,
    ),
    ("missing conversation id", dict(body={"message": "hello"}), 422),
    ("empty conversation id", dict(body=body(conversation_id="")), 422),
    ("short conversation id", dict(body=body(conversation_id="abc123")), 422),
    ("non-hex conversation id", dict(body=body(conversation_id="z" * 32)), 422),
    ("uppercase conversation id", dict(body=body(conversation_id=ID.upper())), 422),
    ("conversation id with newline", dict(body=body(conversation_id=ID + "\n")), 422),
    ("conversation id path traversal", dict(body=body(conversation_id="../" * 11)), 422),
    ("conversation id as number", dict(body=body(conversation_id=12345)), 422),
    ("unknown region", dict(body=body(region="fr")), 422),
    ("region not a string", dict(body=body(region=["uk"])), 422),
    ("NUL byte in message", dict(body=body("hello\u0000there")), 422),
    ("escape control character", dict(body=body("hi \u001b[31m red")), 422),
    ("bell character", dict(body=body("ding\u0007")), 422),
    ("DEL character", dict(body=body("del\u007f")), 422),
    ("C1 control character", dict(body=body("next\u0085line")), 422),
    ("lone surrogate", dict(raw=('{"conversation_id": "%s", "message": "a\\ud800b"}' % ID).encode()), 422),
    ("text/plain content type", dict(body=body(), content_type="text/plain"), 415),
    ("form content type", dict(body=body(), content_type="application/x-www-form-urlencoded"), 415),
    ("no content type", dict(body=body(), content_type=None), 415),
    ("multipart content type", dict(body=body(), content_type="multipart/form-data; boundary=x"), 415),
]


@pytest.mark.parametrize("case,kwargs,status", BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS])
def test_bad_requests_get_clear_json_errors(down_web, case, kwargs, status):
    code, payload, response = post(down_web, **kwargs)
    assert code == status, (case, payload)
    assert response.headers["content-type"].startswith("application/json")
    assert isinstance(payload.get("error"), str) and payload["error"], payload
    assert "contacts" not in payload
    # Errors never echo what was sent.
    assert "aaaaaaaaaa" not in response.text and "there" not in response.text


def test_limit_counts_after_trimming_and_exact_limit_is_accepted(down_web):
    # 1000 characters plus surrounding whitespace is within the limit: it is forwarded
    # (and so gets 503 from this instance, whose Rasa is down), not refused.
    code, payload, _ = post(down_web, body(" " + "a" * 1000 + " \n"))
    assert code == 503, payload


def test_uuid_conversation_id_and_charset_are_accepted(down_web):
    code, payload, _ = post(
        down_web, body(conversation_id=str(uuid.uuid4())), content_type="application/json; charset=utf-8"
    )
    assert code == 503, payload


def test_wrong_method_is_refused(down_web):
    response = httpx.get(f"{down_web}/api/chat", timeout=10)
    assert response.status_code == 405


# ---- Rasa unreachable: 503 with the region's contacts ----------------------------------


@pytest.mark.parametrize("region", ["uk", "us"])
def test_rasa_down_gives_503_with_region_contacts(down_web, region):
    code, payload, response = post(down_web, body("I need help", region=region))
    assert code == 503
    assert payload["error"]
    assert payload["contacts"] == contacts(region)
    assert response.headers.get("cache-control") == "no-store"


def test_rasa_down_default_region_contacts(down_web, test_settings):
    code, payload, _ = post(down_web, body("hello"))
    assert code == 503
    assert payload["contacts"] == contacts(test_settings.default_region)


# ---- contacts endpoint ---------------------------------------------------------------


@pytest.mark.parametrize("region", ["uk", "us"])
def test_contacts_endpoint_serves_contacts_yml(down_web, region):
    response = httpx.get(f"{down_web}/api/contacts", params={"region": region}, timeout=10)
    assert response.status_code == 200
    assert response.json() == {"region": region, "contacts": contacts(region)}


def test_contacts_endpoint_rejects_unknown_region(down_web):
    response = httpx.get(f"{down_web}/api/contacts", params={"region": "xx"}, timeout=10)
    assert response.status_code == 422
    assert response.json()["error"]


# ---- headers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/", "/healthz", "/api/contacts", "/static/widget/widget.js", "/static/widget/widget.css", "/no-such-page"]
)
def test_security_headers_on_every_response(down_web, path):
    response = httpx.get(f"{down_web}{path}", timeout=10)
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (path, name)
    csp = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "http" not in csp  # no third-party origins
    assert directives["frame-ancestors"] == "'none'"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_security_headers_on_api_errors(down_web):
    _, _, response = post(down_web, raw=b"{")
    assert response.headers["content-security-policy"] == SECURITY_HEADERS["Content-Security-Policy"]


def test_no_cors_by_default(down_web):
    response = httpx.options(
        f"{down_web}/api/chat",
        timeout=10,
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in response.headers
    response = httpx.post(f"{down_web}/api/chat", json=body(), timeout=10, headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers


def test_healthz(down_web):
    response = httpx.get(f"{down_web}/healthz", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_demo_page_embeds_widget_with_one_script_and_no_inline_script(down_web):
    html = httpx.get(f"{down_web}/", timeout=10).text
    assert html.count("<script") == 1
    assert 'src="/static/widget/widget.js"' in html
    assert 'data-region="uk"' in html
    assert not re.search(r"<[^>]*\son[a-z]+\s*=", html, re.I)  # no inline event handlers
    assert "style=" not in html
    us = httpx.get(f"{down_web}/", params={"region": "us"}, timeout=10).text
    assert 'data-region="us"' in us
    odd = httpx.get(f"{down_web}/", params={"region": "<script>"}, timeout=10).text
    assert "<script>" not in odd.split("</head>", 1)[1].replace("<script src", "")


# ---- the real stack: text that looks like code is plain data ----------------------------

HOSTILE_TEXTS = [
    "<img src=x onerror=alert(1)>",
    "<script>alert('x')</script> what is methadone",
    "'; DROP TABLE events; --",
    '" OR 1=1 --',
    "{{7*7}} ${7*7} <%= 7*7 %>",
    "../../etc/passwd",
    "emoji \U0001f642 and accents: é ü ñ, right-to-left: مرحبا",
    "line one\nline two\ttabbed",
]


@pytest.mark.stack
@pytest.mark.parametrize("text", HOSTILE_TEXTS)
def test_code_looking_text_passes_through_as_data(stack, web_url, text):
    code, payload, response = post(web_url, body(text, conversation_id=new_conversation_id()))
    assert code == 200, payload
    assert response.headers["content-type"].startswith("application/json")
    assert isinstance(payload["messages"], list) and payload["messages"]
    for message in payload["messages"]:
        assert set(message) <= {"text", "buttons"}
        assert isinstance(message.get("text", ""), str)
        for button in message.get("buttons", []):
            assert set(button) == {"title", "payload"}


@pytest.mark.stack
def test_chat_answers_a_contract_question(stack, web_url):
    code, payload, _ = post(web_url, body("what is naloxone", conversation_id=new_conversation_id()))
    assert code == 200
    text = " ".join(" ".join(m.get("text", "").split()) for m in payload["messages"])
    assert any(opening in text for opening in curated_openings("naloxone")), text


@pytest.mark.stack
@pytest.mark.parametrize("region", ["uk", "us"])
def test_region_reaches_rasa(stack, web_url, region):
    """A crisis reply carries the numbers of the region the widget sent."""
    code, payload, _ = post(
        web_url, body("i want to kill myself", region=region, conversation_id=new_conversation_id())
    )
    assert code == 200
    text = " ".join(m.get("text", "") for m in payload["messages"])
    assert contacts(region)["emergency"]["number"] in text
    assert contacts(region)["crisis_line"]["number"] in text
