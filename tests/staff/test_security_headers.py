"""Security headers of the web app (bot.web.app with its real middleware, in process):
one CSP without 'unsafe-inline' that forbids framing, on visitors' and staff pages and
errors alike; HSTS exactly when the request came over TLS, where X-Forwarded-Proto counts
only behind a trusted proxy (BOT_TRUST_PROXY)."""

from __future__ import annotations

from typing import Dict

import pytest
from starlette.testclient import TestClient

from bot import settings as settings_module
from bot.web.app import create_app

PATHS = ["/", "/staff/login", "/staff/static/staff.css", "/static/widget/widget.js", "/healthz", "/no-such-page"]


def client(tmp_path, trust_proxy: bool, scheme: str) -> TestClient:
    config = settings_module.load().replace(
        db_url=f"sqlite:///{tmp_path / 'headers.db'}", secret_key="headers-test", trust_proxy=trust_proxy
    )
    return TestClient(create_app(config), base_url=f"{scheme}://testserver")


@pytest.fixture
def plain(tmp_path) -> TestClient:
    return client(tmp_path, trust_proxy=False, scheme="http")


def directives(csp: str) -> Dict[str, str]:
    parts = (part.strip().split(None, 1) for part in csp.split(";") if part.strip())
    return {p[0]: p[1] if len(p) > 1 else "" for p in parts}


@pytest.mark.parametrize("path", PATHS)
def test_every_response_forbids_inline_code_framing_sniffing_and_referrers(plain, path):
    response = plain.get(path)
    assert response.status_code in (200, 404), path
    csp = directives(response.headers["content-security-policy"])
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]
    assert "'unsafe-eval'" not in response.headers["content-security-policy"]
    assert csp["frame-ancestors"] == "'none'"
    assert csp["default-src"] == "'none'"
    assert csp["script-src"] == "'self'" and csp["style-src"] == "'self'"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_a_body_refused_as_too_large_carries_the_headers_too(plain):
    response = plain.post("/staff/login", content=b"x" * 100_000, headers={"content-type": "text/plain"})
    assert response.status_code == 413
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def hsts(response) -> str:
    return response.headers.get("strict-transport-security", "")


@pytest.mark.parametrize("path", ["/", "/staff/login"])
def test_hsts_over_tls_and_never_over_plain_http(tmp_path, path):
    over_tls = client(tmp_path, trust_proxy=False, scheme="https").get(path)
    max_age = int(hsts(over_tls).split("max-age=")[1].split(";")[0])
    assert max_age >= 365 * 86400
    assert hsts(client(tmp_path, trust_proxy=False, scheme="http").get(path)) == ""


@pytest.mark.parametrize(
    "trust_proxy,forwarded,expected",
    [
        (False, "https", False),  # anyone can send the header: without a trusted proxy it means nothing
        (True, "https", True),
        (True, "http", False),
        (True, "http, https", True),  # the last entry is the one our own proxy appended
        (True, "https, http", False),
    ],
)
def test_x_forwarded_proto_counts_only_behind_a_trusted_proxy(tmp_path, trust_proxy, forwarded, expected):
    response = client(tmp_path, trust_proxy=trust_proxy, scheme="http").get(
        "/staff/login", headers={"X-Forwarded-Proto": forwarded}
    )
    assert response.status_code == 200
    assert bool(hsts(response)) is expected
