"""The ASGI application: routers, error handlers, and what lives for the app's lifetime."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from townhall import __version__
from townhall.api.auth_tokens import Tokens
from townhall.api.docs_page import install_docs
from townhall.api.errors import SIGNED_IN_ERRORS, error_responses, install_error_handlers
from townhall.api.limiter import Limiter
from townhall.api.middleware import install_edge
from townhall.api.routers import (
    admin,
    auth,
    captions,
    clips,
    health,
    hls,
    hls_replay,
    invites,
    notifications,
    recordings,
    spaces,
    users,
    ws,
)
from townhall.api.routers import media as media_router
from townhall.api.services import media as media_service
from townhall.api.services import recordings as recordings_service
from townhall.api.services.absent_members import AbsentMemberSweeper
from townhall.api.services.accounts import AuthGuard
from townhall.api.services.host_grace import HostGraceWatcher
from townhall.api.services.outbox import OutboxRelay
from townhall.api.services.staff.evidence import EvidenceKeeper
from townhall.api.shedding import LoadShedding
from townhall.api.ws.pacing import FramePacer
from townhall.api.ws.wire import WireCapture
from townhall.config import Settings
from townhall.store.db import Database

log = logging.getLogger("townhall")
WEB_DIR = Path(__file__).resolve().parent.parent / "web"


def _bus_for(settings: Settings) -> object:
    from townhall.bus import create_bus

    return create_bus(settings)


SHUTDOWN_SECONDS = 5.0
"""Bound on the app's own shutdown (after uvicorn's graceful wait for connections)."""


async def _step(
    name: str, work: Coroutine[Any, Any, Any], deadline: float, most: float = 1.5
) -> None:
    """Run one shutdown step for at most `most` s (and not past the deadline); a step that
    fails or takes too long is logged and the next one runs."""
    seconds = max(min(most, deadline - asyncio.get_running_loop().time()), 0.1)
    try:
        async with asyncio.timeout(seconds):
            await work
    except TimeoutError:
        log.error("shutdown: stopping the %s took more than %.1f s; going on", name, seconds)
    except Exception:
        log.exception("shutdown: stopping the %s failed; going on", name)


def create_app(settings: Settings) -> FastAPI:
    """Build the app for these settings; the database must already be migrated."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.db = Database(
            settings.effective_database_url,
            schema=settings.database_schema,
            pool=settings.database_pool,
        )
        app.state.bus = _bus_for(settings)
        app.state.pacer = FramePacer()  # spaces the frames of batched WebSocket clients
        start = getattr(app.state.bus, "start", None)
        if start is not None:
            await start()
        app.state.outbox = OutboxRelay(app.state.db, app.state.bus)
        await app.state.outbox.start()
        app.state.host_grace = HostGraceWatcher(
            app.state.db, app.state.bus, settings.host_grace_seconds
        )
        app.state.host_grace.start()
        app.state.absent_members = AbsentMemberSweeper(app.state.db, app.state.bus, settings)
        app.state.absent_members.start()
        await recordings_service.recover(app.state.db, settings.data_dir)
        app.state.evidence = EvidenceKeeper(
            app.state.db, app.state.bus, settings.data_dir, settings.evidence_retention_days
        )
        app.state.evidence.start()
        await media_service.start(app.state, settings)
        try:
            yield
        finally:
            # Bounded, step by step, so that shutdown always ends (SIGTERM must finish):
            # the media plane first, as it finishes the recordings.
            loop = asyncio.get_running_loop()
            deadline = loop.time() + SHUTDOWN_SECONDS
            await _step("media plane", media_service.stop(app.state), deadline, 3.0)
            await _step("absent-member sweeper", app.state.absent_members.stop(), deadline)
            await _step("evidence keeper", app.state.evidence.stop(), deadline)
            await _step("host-grace watcher", app.state.host_grace.stop(), deadline)
            await _step("outbox relay", app.state.outbox.stop(), deadline)
            await _step("rate limiter", app.state.limiter.close(), deadline)
            close = getattr(app.state.bus, "close", None)
            if close is not None:
                await _step("bus", close(), deadline)
            await _step("database", app.state.db.dispose(), deadline)

    app = FastAPI(
        title="townhall",
        version=__version__,
        description="Live audio rooms: host, speak, listen, moderate.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.tokens = Tokens(settings.load_secret_key())
    app.state.limiter = Limiter(settings.redis_url, settings.redis_prefix)
    app.state.auth_guard = AuthGuard(settings, app.state.tokens, app.state.limiter)
    install_error_handlers(app)
    app.add_middleware(
        LoadShedding,
        limit=settings.max_concurrent_requests,
        wait=settings.request_queue_seconds,
    )
    install_edge(app, settings)
    app.add_middleware(WireCapture)  # outermost: it must see the server's own `send`
    install_docs(app)
    app.include_router(health.router, responses=error_responses(503))
    app.include_router(
        auth.router, responses=error_responses(400, 401, 403, 409, 413, 415, 422, 429, 503)
    )
    for router in (
        users.router,
        notifications.router,
        media_router.router,
        spaces.router,
        recordings.router,
    ):
        app.include_router(router, responses=SIGNED_IN_ERRORS)
    app.include_router(hls.router, responses=error_responses(400, 401, 403, 404, 422, 503))
    app.include_router(hls_replay.router, responses=error_responses(401, 403, 404, 409, 422, 503))
    app.include_router(captions.router, responses=SIGNED_IN_ERRORS)
    app.include_router(clips.router, responses=SIGNED_IN_ERRORS)
    app.include_router(ws.router)
    app.include_router(invites.router, responses=SIGNED_IN_ERRORS)
    app.include_router(admin.router, responses=SIGNED_IN_ERRORS)
    app.include_router(admin.metrics_router, responses=SIGNED_IN_ERRORS)
    if (WEB_DIR / "index.html").exists():
        app.mount("/", StaticFiles(directory=WEB_DIR, html=True), name="web")
    return app
