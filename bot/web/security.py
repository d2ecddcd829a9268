"""Security headers for every response of the web app: one policy for the whole app.

A pure ASGI middleware (not BaseHTTPMiddleware) so it also covers static files,
streaming responses and errors raised before a route runs. Its headers replace any a
route set, so the visitors' pages and the staff console answer to the same
Content-Security-Policy; private paths (the staff console) are also never cached.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Tuple

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


class SecurityHeadersMiddleware:
    """Sets SECURITY_HEADERS on every HTTP response, and PRIVATE_HEADERS on those under
    one of `private_prefixes`."""

    def __init__(self, app: ASGIApp, private_prefixes: Iterable[str] = ()) -> None:
        self.app = app
        self.public = _encoded(SECURITY_HEADERS)
        self.private = _encoded({**SECURITY_HEADERS, **PRIVATE_HEADERS})
        self.private_prefixes = tuple(p.rstrip("/") for p in private_prefixes)

    def _is_private(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in self.private_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = self.private if self._is_private(scope["path"]) else self.public
        names = {name for name, _ in headers}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw: List[Tuple[bytes, bytes]] = [
                    (name, value) for name, value in message.get("headers", []) if name.lower() not in names
                ]
                message = {**message, "headers": raw + headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
