"""Security headers, body-size caps and per-client rate limits for the web app.

The middlewares are pure ASGI (not BaseHTTPMiddleware) so they also cover static files,
streaming responses and errors raised before a route runs.

- SecurityHeadersMiddleware: its headers replace any a route set, so the visitors' pages
  and the staff console answer to the same Content-Security-Policy; private paths (the
  staff console) are also never cached; a request that came over TLS also gets HSTS.
- BodySizeLimitMiddleware: every POST body larger than the cap is refused with 413 before
  any route parses it (CVE-2024-47874: an unbounded multipart form is a denial of service).
- RateLimit: a `limits` moving window per client key, counted in this process's memory.
  Several web workers each count on their own, so the effective limit is N times the
  setting; a shared storage (Redis) would make it exact.
"""

from __future__ import annotations

import ipaddress
import json
import math
import threading
import time
from typing import Dict, Iterable, List, Mapping, Optional, Tuple

from limits import parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Everything comes from our own origin: no inline scripts, no eval, no third parties.
# 'unsafe-inline' is absent from script-src and style-src; scripts may still set
# individual style properties through the CSSOM, which CSP allows.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "manifest-src 'self'",
    ]
)

PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "usb",
    )
)

SECURITY_HEADERS: Dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": PERMISSIONS_POLICY,
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _encoded(headers: Dict[str, str]) -> List[Tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


# Staff pages show conversations: no browser or proxy may keep a copy.
PRIVATE_HEADERS: Dict[str, str] = {"Cache-Control": "no-store"}

# Sent only on a response to a request that arrived over TLS (a browser ignores it over
# plain HTTP, and sending it there would pin a development host to HTTPS). One year, no
# includeSubDomains: other hosts under the same domain (the embedding website's) are not
# ours to pin; the operator of the domain can add it at the proxy.
HSTS = (b"strict-transport-security", b"max-age=31536000")


def _over_tls(scope: Scope, trust_proxy: bool) -> bool:
    """The request reached us, or our own reverse proxy, over HTTPS. X-Forwarded-Proto
    counts only behind a trusted proxy (BOT_TRUST_PROXY): its last entry is the one our
    proxy set, as with X-Forwarded-For."""
    if scope.get("scheme") == "https":
        return True
    if not trust_proxy:
        return False
    for name, value in scope.get("headers", []):
        if name == b"x-forwarded-proto":
            return value.decode("latin-1").split(",")[-1].strip().lower() == "https"
    return False


class SecurityHeadersMiddleware:
    """Sets SECURITY_HEADERS on every HTTP response, PRIVATE_HEADERS on those under one of
    `private_prefixes`, and HSTS on those to a request that came over TLS. `trust_proxy`
    None: the app's own setting (`app.state.settings.trust_proxy`)."""

    def __init__(self, app: ASGIApp, private_prefixes: Iterable[str] = (), trust_proxy: Optional[bool] = None) -> None:
        self.app = app
        self.public = _encoded(SECURITY_HEADERS)
        self.private = _encoded({**SECURITY_HEADERS, **PRIVATE_HEADERS})
        self.private_prefixes = tuple(p.rstrip("/") for p in private_prefixes)
        self.trust_proxy = trust_proxy

    def _is_private(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in self.private_prefixes)

    def _trusts_proxy(self, scope: Scope) -> bool:
        if self.trust_proxy is not None:
            return self.trust_proxy
        settings = getattr(getattr(scope.get("app"), "state", None), "settings", None)
        return bool(getattr(settings, "trust_proxy", False))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = self.private if self._is_private(scope["path"]) else self.public
        if _over_tls(scope, self._trusts_proxy(scope)):
            headers = headers + [HSTS]
        names = {name for name, _ in headers}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw: List[Tuple[bytes, bytes]] = [
                    (name, value) for name, value in message.get("headers", []) if name.lower() not in names
                ]
                message = {**message, "headers": raw + headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


# --------------------------------------------------------------------------- body size

TOO_LARGE = "Request body is too large."
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class _BodyTooLarge(Exception):
    pass


class BodySizeLimitMiddleware:
    """Refuses request bodies over `max_bytes` (or a larger cap for some exact paths) with
    413 and `{"error": "Request body is too large."}`: from Content-Length before reading
    anything, or as soon as a body without one grows past the cap."""

    def __init__(self, app: ASGIApp, max_bytes: int, path_limits: Optional[Mapping[str, int]] = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.path_limits = dict(path_limits or {})

    async def _refuse(self, send: Send, limit: int) -> None:
        body = json.dumps({"error": TOO_LARGE, "limit_bytes": limit}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"no-store"),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        limit = self.path_limits.get(scope["path"], self.max_bytes)
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0  # the route answers 400 for a Content-Length it cannot read
                if declared > limit:
                    await self._refuse(send, limit)
                    return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if started:
                raise
            await self._refuse(send, limit)


# --------------------------------------------------------------------------- rate limits


def _ip(text: str) -> Optional[str]:
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None


def client_address(request: Request, trust_proxy: bool) -> str:
    """The visitor's address: the last X-Forwarded-For entry (the one our own proxy
    appended) when `trust_proxy`, otherwise the peer address."""
    if trust_proxy:
        forwarded = _ip(request.headers.get("x-forwarded-for", "").split(",")[-1])
        if forwarded:
            return forwarded
    return request.client.host if request.client else ""


def limit_key(request: Request, trust_proxy: bool) -> Optional[str]:
    """The key a rate limit counts against, or None for a request that is not limited:
    one from loopback with no trusted forwarded address (local tools and tests, and a proxy
    on this machine when `trust_proxy` is off, whose visitors must never share one bucket)."""
    address = client_address(request, trust_proxy)
    ip = _ip(address)
    if ip is None or ipaddress.ip_address(ip).is_loopback:
        return None
    return ip


class RateLimit:
    """One or more limits ("30/minute;500/hour") per client key, a moving window each."""

    def __init__(self, name: str, limits: str) -> None:
        self.name = name
        self.items = parse_many(limits)
        self.storage = MemoryStorage()  # kept here: the strategy holds only a weak reference
        self.strategy = MovingWindowRateLimiter(self.storage)
        self.lock = threading.Lock()

    def hit(self, key: Optional[str]) -> Optional[int]:
        """Count one request from `key`: None when it is allowed, else the whole seconds
        until it would be (for Retry-After). A refused request is not counted."""
        if key is None:
            return None
        with self.lock:
            over = [item for item in self.items if not self.strategy.test(item, self.name, key)]
            if not over:
                for item in self.items:
                    self.strategy.hit(item, self.name, key)
                return None
            reset = max(self.strategy.get_window_stats(item, self.name, key)[0] for item in over)
        return max(1, math.ceil(reset - time.time()))
