"""Security headers for every response of the web app.

A pure ASGI middleware (not BaseHTTPMiddleware) so it also covers static files,
streaming responses and errors raised before a route runs. Headers a route set
itself are left alone, so a page that needs a stricter or looser policy can say so.
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Tuple

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Everything comes from our own origin: no inline scripts, no eval, no third parties.
# 'unsafe-inline' is absent from script-src and style-src; scripts may still set
# individual style properties through the CSSOM, which CSP allows.
CONTENT_SECURITY_POLICY = "; ".join([
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
])

PERMISSIONS_POLICY = ", ".join(f"{feature}=()" for feature in (
    "accelerometer", "autoplay", "camera", "display-capture", "geolocation", "gyroscope",
    "magnetometer", "microphone", "midi", "payment", "usb",
))

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


class SecurityHeadersMiddleware:
    """Adds SECURITY_HEADERS (or `headers`) to every HTTP response that lacks them."""

    def __init__(self, app: ASGIApp, headers: Dict[str, str] | None = None) -> None:
        self.app = app
        self.headers = _encoded(headers if headers is not None else SECURITY_HEADERS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw: List[Tuple[bytes, bytes]] = list(message.get("headers", []))
                present = {name.lower() for name, _ in raw}
                raw.extend((k, v) for k, v in self.headers if k not in present)
                message = {**message, "headers": raw}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def header_names() -> Iterable[str]:
    return SECURITY_HEADERS.keys()
