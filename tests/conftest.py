"""Shared fixtures: settings on a temp data dir, a migrated database (SQLite file or a fresh
PostgreSQL schema), the ASGI app, an HTTP client, and a user factory."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from townhall.api.app import create_app
from townhall.config import Settings, load_settings
from townhall.media.ice import use_host_addresses
from townhall.store.db import Database
from townhall.store.migrate import upgrade

POSTGRES_URL = os.environ.get("TOWNHALL_TEST_POSTGRES_URL", "")
REDIS_URL = os.environ.get("TOWNHALL_TEST_REDIS_URL", "")

# Every WebRTC connection made by tests stays on loopback.
use_host_addresses(["127.0.0.1"])

FAST_AUTH = {
    "password_time_cost": 1,
    "password_memory_kib": 1024,
    "auth_rate_limit": 10_000,
}


def _asyncpg_url(url: str) -> str:
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url.removeprefix(prefix)
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """Run the test once on a SQLite file and once on PostgreSQL."""
    if request.param == "postgres" and not POSTGRES_URL:
        pytest.skip("TOWNHALL_TEST_POSTGRES_URL is not set: no PostgreSQL to test against")
    return str(request.param)


@pytest.fixture
async def settings(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Settings]:
    """Settings on a temp data dir with a freshly migrated database of the backend.

    Captions are off (no recogniser eats CPU in tests about something else) unless the
    test is marked `captions`."""
    overrides: dict[str, Any] = dict(FAST_AUTH, data_dir=tmp_path / "data", secret_key="t" * 32)
    captioned = request.node.get_closest_marker("captions") is not None
    overrides["captions_engine"] = "pocketsphinx" if captioned else "off"
    schema = ""
    if backend == "postgres":
        schema = "t_" + uuid.uuid4().hex[:16]
        admin = Database(_asyncpg_url(POSTGRES_URL))
        async with admin.engine.begin() as conn:
            await conn.execute(text(f"CREATE SCHEMA {schema}"))
        await admin.dispose()
        overrides |= {"database_url": POSTGRES_URL, "database_schema": schema}
    s = load_settings(**overrides)
    s.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(s.effective_database_url, schema=s.database_schema)
    await upgrade(db, s.database_schema)
    await db.dispose()
    yield s
    if schema:
        admin = Database(_asyncpg_url(POSTGRES_URL))
        async with admin.engine.begin() as conn:
            await conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        await admin.dispose()


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Any]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@dataclass
class TestUser:
    __test__ = False
    user: dict[str, Any]
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def id(self) -> int:
        return int(self.user["id"])

    @property
    def handle(self) -> str:
        return str(self.user["handle"])


MakeUser = Callable[..., Awaitable[TestUser]]


@pytest.fixture
def make_user(client: httpx.AsyncClient) -> MakeUser:
    """`await make_user("alice")` signs a user up over the API and returns it with a token."""

    async def make(handle: str, display_name: str | None = None) -> TestUser:
        r = await client.post(
            "/api/v1/auth/signup",
            json={
                "handle": handle,
                "display_name": display_name or handle.title(),
                "password": "correct horse",
            },
        )
        assert r.status_code == 201, r.text
        client.cookies.clear()
        body = r.json()
        return TestUser(user=body["user"], token=body["token"])

    return make
