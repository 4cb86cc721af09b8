"""GET /healthz reports the database and the bus, on real components."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.bus.redis_helpers import REDIS_URL, redis_unreachable_reason
from tests.support.server import free_port
from townhall.api.app import create_app
from townhall.config import Settings


async def _healthz(settings: Settings) -> httpx.Response:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50002))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return await c.get("/healthz")


async def test_healthz_reports_a_redis_that_does_not_answer_as_down(settings: Settings) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    r = await _healthz(settings.model_copy(update={"redis_url": closed}))
    assert r.status_code == 503
    body: dict[str, Any] = r.json()
    assert (body["status"], body["database"], body["bus"]) == ("degraded", "up", "down")


@pytest.mark.redis
async def test_healthz_reports_a_live_redis_as_up(settings: Settings) -> None:
    reason = await redis_unreachable_reason()
    if reason:
        pytest.skip(reason)
    r = await _healthz(settings.model_copy(update={"redis_url": REDIS_URL}))
    assert r.status_code == 200
    assert (r.json()["database"], r.json()["bus"]) == ("up", "up")


async def test_healthz_with_the_memory_bus_is_up(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200 and r.json()["bus"] == "up"


async def test_healthz_reports_a_database_that_does_not_answer_as_down(settings: Settings) -> None:
    closed = f"postgresql://postgres@127.0.0.1:{free_port()}/test"  # nothing listens there
    r = await _healthz(settings.model_copy(update={"database_url": closed}))
    assert r.status_code == 503
    body: dict[str, Any] = r.json()
    assert (body["status"], body["database"], body["bus"]) == ("degraded", "down", "up")
