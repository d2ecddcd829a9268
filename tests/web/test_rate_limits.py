"""Per-client rate limits and body-size caps, over real HTTP against the real web app
(`bot.stack web`, uvicorn) with its real limiter and a SQLite database of its own.

Rasa is a stand-in here (a loopback server that answers every message with one line), so
these tests need no trained model; what is under test is the web app in front of it. The
app trusts X-Forwarded-For (`BOT_TRUST_PROXY`), as it would behind a proxy, so one test
process can speak as several clients.
"""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, Iterator, Optional

import httpx
import pytest

from bot import contacts as contacts_module
from bot.stack import Stack
from tests.conftest import ARTIFACTS, free_port
from tests.web.conftest import contacts, new_conversation_id

CHAT_LIMIT = 5
LOGIN_LIMIT = 3


class _StandInRasa(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps([{"text": "Hello from the stand-in."}]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def limited_web(test_settings) -> Iterator[str]:
    rasa = ThreadingHTTPServer(("127.0.0.1", 0), _StandInRasa)
    thread = threading.Thread(target=rasa.serve_forever, daemon=True)
    thread.start()
    settings = test_settings.replace(
        rasa_port=rasa.server_address[1],
        web_port=free_port(),
        db_url=f"sqlite:///{ARTIFACTS / f'limits-{uuid.uuid4().hex[:8]}.db'}",
        chat_rate_limit=f"{CHAT_LIMIT}/minute",
        login_rate_limit=f"{LOGIN_LIMIT}/minute",
        trust_proxy=True,
    )
    try:
        with Stack(settings, log_dir=ARTIFACTS / "logs-limits") as extra:
            extra.start_web()
            yield settings.web_url
    finally:
        rasa.shutdown()
        rasa.server_close()


def client_address() -> str:
    """A documentation-range address (RFC 5737) no other test uses."""
    n = uuid.uuid4().int
    return f"203.0.{n % 256}.{(n >> 8) % 254 + 1}"


def chat(base: str, client: Optional[str], region: str = "uk", message: str = "hello") -> httpx.Response:
    headers: Dict[str, str] = {"Content-Type": "application/json"}
    if client:
        headers["X-Forwarded-For"] = f"198.18.0.1, {client}"  # the last entry is the proxy's
    body = {"conversation_id": new_conversation_id(), "message": message, "region": region}
    return httpx.post(f"{base}/api/chat", content=json.dumps(body), headers=headers, timeout=30)


@pytest.mark.parametrize("region", ["uk", "us"])
def test_a_burst_from_one_client_gets_429_with_retry_after_and_the_contacts(limited_web, region):
    client = client_address()
    below = [chat(limited_web, client, region) for _ in range(CHAT_LIMIT)]
    assert [r.status_code for r in below] == [200] * CHAT_LIMIT, [r.text for r in below]
    assert all(r.json()["messages"] for r in below)

    over = [chat(limited_web, client, region) for _ in range(3)]
    for response in over:
        assert response.status_code == 429
        retry_after = int(response.headers["Retry-After"])
        assert 1 <= retry_after <= 60
        payload = response.json()
        assert payload["error"]
        # exactly what the 503 path sends: the region's contacts, from the one source
        assert payload["region"] == region
        assert payload["contacts"] == contacts_module.for_region(region)
        assert payload["contacts"]["emergency"]["number"] == contacts(region)["emergency"]["number"]
        assert payload["contacts"]["crisis_line"]["number"] == contacts(region)["crisis_line"]["number"]
        assert response.headers["Cache-Control"] == "no-store"


def test_a_limited_request_with_a_broken_body_still_gets_the_default_regions_contacts(limited_web):
    client = client_address()
    for _ in range(CHAT_LIMIT):
        assert chat(limited_web, client).status_code == 200
    response = httpx.post(
        f"{limited_web}/api/chat",
        content=b"not json",
        headers={"Content-Type": "application/json", "X-Forwarded-For": client},
        timeout=30,
    )
    assert response.status_code == 429
    assert response.json()["contacts"] == contacts_module.for_region("uk")


def test_another_client_is_unaffected(limited_web):
    noisy, quiet = client_address(), client_address()
    statuses = [chat(limited_web, noisy).status_code for _ in range(CHAT_LIMIT + 2)]
    assert statuses[-1] == 429
    assert [chat(limited_web, quiet).status_code for _ in range(CHAT_LIMIT)] == [200] * CHAT_LIMIT


def test_below_the_limit_every_message_is_answered(limited_web):
    client = client_address()
    responses = [chat(limited_web, client, message=f"message {i}") for i in range(CHAT_LIMIT)]
    assert [r.status_code for r in responses] == [200] * CHAT_LIMIT
    assert all(r.json()["messages"][0]["text"] == "Hello from the stand-in." for r in responses)


def test_loopback_without_a_forwarded_address_is_not_limited(limited_web):
    # local tools, and visitors behind a local proxy when BOT_TRUST_PROXY is off: never one
    # shared bucket for everybody
    assert [chat(limited_web, None).status_code for _ in range(CHAT_LIMIT * 2)] == [200] * (CHAT_LIMIT * 2)


def test_staff_login_is_limited_per_client(limited_web):
    client = client_address()
    http = httpx.Client(base_url=limited_web, headers={"X-Forwarded-For": client}, timeout=30)
    statuses = []
    for i in range(LOGIN_LIMIT + 2):
        page = http.get("/staff/login")
        token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        response = http.post(
            "/staff/login",
            data={"username": f"nobody{i}", "password": "guess-guess", "csrf_token": token},
        )
        statuses.append(response.status_code)
    assert statuses == [401] * LOGIN_LIMIT + [429, 429]
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert "Too many failed attempts" in response.text
    # another client can still sign in (or fail to) as usual
    other = httpx.Client(base_url=limited_web, headers={"X-Forwarded-For": client_address()}, timeout=30)
    page = other.get("/staff/login")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    assert other.post("/staff/login", data={"username": "x", "password": "y", "csrf_token": token}).status_code == 401


# ---- body-size caps ------------------------------------------------------------------


def test_an_oversized_chat_body_gets_413_with_the_existing_error(limited_web):
    raw = b'{"conversation_id": "%s", "message": "' % new_conversation_id().encode() + b"a" * 40_000 + b'"}'
    response = httpx.post(
        f"{limited_web}/api/chat", content=raw, headers={"Content-Type": "application/json"}, timeout=30
    )
    assert response.status_code == 413
    assert response.json()["error"] == "Request body is too large."


@pytest.mark.parametrize("path", ["/staff/login", "/staff/logout", "/staff/export/conversations"])
def test_an_oversized_form_gets_413_before_it_is_parsed(limited_web, path):
    big = {"username": "a" * 20_000, "password": "b", "csrf_token": "c"}
    response = httpx.post(f"{limited_web}{path}", data=big, timeout=30)
    assert response.status_code == 413
    assert response.json()["error"] == "Request body is too large."


def test_an_oversized_multipart_form_without_content_length_gets_413(limited_web):
    boundary = "b0undary"
    part = f'--{boundary}\r\nContent-Disposition: form-data; name="username"\r\n\r\n'.encode() + b"x" * 8192 + b"\r\n"

    def chunks() -> Iterator[bytes]:
        for _ in range(10):  # 80 KiB, streamed in chunks with no Content-Length
            yield part
        yield f"--{boundary}--\r\n".encode()

    response = httpx.post(
        f"{limited_web}/staff/login",
        content=chunks(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        timeout=30,
    )
    assert response.status_code == 413
    assert response.json()["error"] == "Request body is too large."


def test_a_small_form_still_reaches_the_route(limited_web):
    # no CSRF cookie: the route itself refuses it, so the cap let it through
    response = httpx.post(
        f"{limited_web}/staff/login",
        data={"username": "a", "password": "b", "csrf_token": "c"},
        headers={"X-Forwarded-For": client_address()},
        timeout=30,
    )
    assert response.status_code == 403
