"""Cross-site request forgery and cross-site WebSocket hijacking are refused.

A browser attaches the session cookie to requests that other pages make, including
pages on another port of the same host ("same-site", so SameSite=Lax does not help).
So every unsafe request (POST, PUT, PATCH, DELETE) that may be authenticated by the
cookie, and every WebSocket handshake that is, must come from an allowed origin: the
server's own (scheme and Host of the request), TOWNHALL_PUBLIC_URL, or one of
TOWNHALL_ALLOWED_ORIGINS. Browsers always send `Origin` on these requests; when it is
missing, `Sec-Fetch-Site` must not say another site. Clients that send neither are not
browsers and are let through. A request with `Authorization` (a bot or the SDK with a
bearer token) is not authenticated by the cookie and is not checked.

Unsafe requests with a body must also say `Content-Type: application/json` (415
otherwise): an HTML form cannot send that without the page being allowed by CORS.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

from townhall.api.middleware.policy import EdgePolicy, origin_of
from townhall.api.middleware.responses import header, send_error

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CLOSE_FORBIDDEN_ORIGIN = 4403


def own_origin(scope: Scope) -> str | None:
    """The origin this request was addressed to: its scheme and Host header."""
    host = header(scope, b"host")
    if not host:
        return None
    scheme = {"ws": "http", "wss": "https"}.get(scope.get("scheme", ""), scope.get("scheme"))
    return origin_of(f"{scheme}://{host}")


def origin_allowed(scope: Scope, policy: EdgePolicy) -> bool:
    """May this request act with the user's cookie? (see the module docstring)"""
    origin = header(scope, b"origin")
    if origin is None:
        return header(scope, b"sec-fetch-site") not in ("cross-site", "same-site")
    normal = origin_of(origin)  # "null" and non-http origins give None: refused
    return normal is not None and (normal == own_origin(scope) or normal in policy.allowed_origins)


def _has_body(scope: Scope) -> bool:
    length = header(scope, b"content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return header(scope, b"transfer-encoding") is not None


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (
        kind.startswith("application/") and kind.endswith("+json")
    )


def _ws_uses_cookie(scope: Scope) -> bool:
    if header(scope, b"authorization") is not None:
        return False
    query = parse_qs(bytes(scope.get("query_string", b"")).decode("latin-1"))
    return not query.get("token")


class OriginMiddleware:
    def __init__(self, app: ASGIApp, policy: EdgePolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            if _ws_uses_cookie(scope) and not origin_allowed(scope, self.policy):
                # Closing before accepting answers the handshake with HTTP 403.
                await send({"type": "websocket.close", "code": CLOSE_FORBIDDEN_ORIGIN})
                return
        elif scope["type"] == "http" and scope["method"] in UNSAFE_METHODS:
            route = self.policy.route(scope["path"])
            if (
                route.check_origin
                and header(scope, b"authorization") is None
                and not origin_allowed(scope, self.policy)
            ):
                await send_error(
                    send,
                    403,
                    "forbidden_origin",
                    "this request comes from a page of another site; "
                    "open townhall itself to do this",
                )
                return
            content_type = header(scope, b"content-type")
            if route.json_only and _has_body(scope) and not _is_json(content_type):
                await send_error(
                    send,
                    415,
                    "unsupported_media_type",
                    "send the request body as JSON with Content-Type: application/json",
                )
                return
        await self.app(scope, receive, send)
