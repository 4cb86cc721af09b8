"""Security headers on every HTTP response: a strict Content-Security-Policy (the web
client loads nothing from elsewhere), no MIME sniffing, no framing, no referrer to other
sites, and a browsing context of its own (Cross-Origin-Opener-Policy)."""

from __future__ import annotations

import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from townhall.api.middleware.policy import BASE_CSP, EdgePolicy
from townhall.api.middleware.responses import header

STATIC_HEADERS: tuple[tuple[str, str], ...] = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Permissions-Policy", "microphone=(self), camera=(), geolocation=(), payment=()"),
)
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")


def connect_src(scope: Scope) -> str:
    """`'self'` plus the WebSocket URL of this very host (older browsers do not count
    ws: as 'self')."""
    host = header(scope, b"host") or ""
    if not _HOST.match(host):
        return "connect-src 'self'"
    secure = scope.get("scheme") in ("https", "wss")
    return f"connect-src 'self' {'wss' if secure else 'ws'}://{host}"


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, policy: EdgePolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = self.policy.route(scope["path"])
        csp = route.csp or f"{BASE_CSP}; {connect_src(scope)}"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in STATIC_HEADERS:
                    headers.setdefault(name, value)
                headers.setdefault("Content-Security-Policy", csp)
                for name, value in route.headers:
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
