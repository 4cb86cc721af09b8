"""The HTTP edge, as pure ASGI middleware around the app (outermost first):

- `ProxyHeadersMiddleware` (uvicorn's): the client address and scheme from
  `X-Forwarded-For`/`-Proto`, only from TOWNHALL_TRUSTED_PROXIES;
- `SecurityHeadersMiddleware`: CSP and the other security headers;
- `BodyLimitMiddleware`: request bodies refused with 413 past their route's limit;
- `OriginMiddleware`: CSRF and cross-site WebSocket checks, JSON bodies only.

Per-route rules are `RoutePolicy` entries (policy.py); pass extra ones to `install_edge`.
"""

from __future__ import annotations

from fastapi import FastAPI
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from townhall.api.middleware.body_limit import BodyLimitMiddleware
from townhall.api.middleware.headers import SecurityHeadersMiddleware
from townhall.api.middleware.origin import OriginMiddleware
from townhall.api.middleware.policy import EdgePolicy, RoutePolicy
from townhall.config import Settings

__all__ = ["EdgePolicy", "RoutePolicy", "install_edge"]


def install_edge(
    app: FastAPI, settings: Settings, routes: list[RoutePolicy] | None = None
) -> EdgePolicy:
    """Wrap the app in the edge middleware; `routes` come before the default rules."""
    policy = EdgePolicy.build(settings, routes)
    # add_middleware puts each one outside the ones added before it.
    app.add_middleware(OriginMiddleware, policy=policy)
    app.add_middleware(BodyLimitMiddleware, policy=policy)
    app.add_middleware(SecurityHeadersMiddleware, policy=policy)
    if settings.trusted_proxies:
        app.add_middleware(
            ProxyHeadersMiddleware, trusted_hosts=[str(n) for n in settings.trusted_proxies]
        )
    app.state.edge_policy = policy
    return policy
