"""What the HTTP edge allows on each route: body size, Origin and JSON checks, headers.

Routes are matched by a regular expression on the path, first match wins; the last rule
is the default. Other parts of the app add their own rules (e.g. a public GET-only route
that needs CORS headers) by passing them to `install_edge`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from townhall.config import Settings
from townhall.media.offer import MAX_OFFER_BYTES

JSON_BODY_BYTES = 64 * 1024
# An SDP offer of MAX_OFFER_BYTES grows when escaped into JSON (each CRLF becomes 4 chars).
MEDIA_OFFER_BODY_BYTES = 2 * MAX_OFFER_BYTES + 4096


@dataclass(frozen=True)
class RoutePolicy:
    """The edge rules of the paths matching `pattern` (a full match)."""

    pattern: str
    # Largest request body in bytes (by Content-Length, and counted while streaming).
    max_body: int = JSON_BODY_BYTES
    # Cookie-authenticated unsafe requests must come from an allowed Origin.
    check_origin: bool = True
    # A request body must be application/json (or application/*+json).
    json_only: bool = True
    # Replaces the default Content-Security-Policy when set.
    csp: str | None = None
    # Extra response headers (added, or replacing the default of the same name).
    headers: tuple[tuple[str, str], ...] = ()
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_regex", re.compile(self.pattern))

    def matches(self, path: str) -> bool:
        return self._regex.fullmatch(path) is not None


def default_routes(settings: Settings) -> list[RoutePolicy]:
    """The app's own rules; the last one is the default for every other path."""
    json_limit = settings.max_body_bytes
    return [
        RoutePolicy(
            r"/api/v1/spaces/[^/]+/media", max_body=max(json_limit, MEDIA_OFFER_BODY_BYTES)
        ),
        RoutePolicy(r"/docs(/.*)?", max_body=0, csp=DOCS_CSP),
        RoutePolicy(r".*", max_body=json_limit),
    ]


# The web client loads only its own files; media come over WebRTC (no directive governs
# RTCPeerConnection), recordings from /api, and LL-HLS from /hls through hls.js, which
# plays through Media Source Extensions (a blob: URL on the <audio>, hence media-src
# blob:) and runs without a worker; the WebSocket is on this same host.
BASE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; font-src 'self'; worker-src 'self'; manifest-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# Swagger UI (served from the package) draws its icons from data: URIs in its CSS.
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of an http(s) URL, lowercased, default ports dropped."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is None or (scheme, port) in (("http", 80), ("https", 443)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


@dataclass(frozen=True)
class EdgePolicy:
    routes: tuple[RoutePolicy, ...]
    # Origins allowed besides the request's own: TOWNHALL_PUBLIC_URL and
    # TOWNHALL_ALLOWED_ORIGINS, normalised by `origin_of`.
    allowed_origins: frozenset[str]

    @classmethod
    def build(cls, settings: Settings, extra: list[RoutePolicy] | None = None) -> EdgePolicy:
        allowed = {origin_of(o) for o in [settings.public_url, *settings.allowed_origins] if o}
        routes = [*(extra or []), *default_routes(settings)]
        return cls(tuple(routes), frozenset(o for o in allowed if o))

    def route(self, path: str) -> RoutePolicy:
        for rule in self.routes:
            if rule.matches(path):
                return rule
        return self.routes[-1]
