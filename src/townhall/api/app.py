"""The ASGI application: routers, error handlers, and what lives for the app's lifetime."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from townhall import __version__
from townhall.api.auth_tokens import Tokens
from townhall.api.errors import install_error_handlers
from townhall.api.routers import (
    admin,
    auth,
    captions,
    health,
    hls,
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
from townhall.api.shedding import LoadShedding
from townhall.config import Settings
from townhall.store.db import Database

log = logging.getLogger("townhall")
WEB_DIR = Path(__file__).resolve().parent.parent / "web"


def _bus_for(settings: Settings) -> object:
    from townhall.bus import create_bus

    return create_bus(settings)


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
        media_service.start(app.state, settings)
        try:
            yield
        finally:
            await media_service.stop(app.state)
            await app.state.absent_members.stop()
            await app.state.host_grace.stop()
            await app.state.outbox.stop()
            close = getattr(app.state.bus, "close", None)
            if close is not None:
                await close()
            await app.state.db.dispose()

    app = FastAPI(
        title="townhall",
        version=__version__,
        description="Live audio rooms: host, speak, listen, moderate.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.tokens = Tokens(settings.load_secret_key())
    app.state.auth_guard = AuthGuard(settings, app.state.tokens)
    install_error_handlers(app)
    app.add_middleware(
        LoadShedding,
        limit=settings.max_concurrent_requests,
        wait=settings.request_queue_seconds,
    )
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(users.router)
    app.include_router(notifications.router)
    app.include_router(media_router.router)
    app.include_router(spaces.router)
    app.include_router(recordings.router)
    app.include_router(hls.router)
    app.include_router(captions.router)
    app.include_router(ws.router)
    app.include_router(invites.router)
    app.include_router(admin.router)
    if (WEB_DIR / "index.html").exists():
        app.mount("/", StaticFiles(directory=WEB_DIR, html=True), name="web")
    return app
