"""Helpers for the spaces API tests (no tests here)."""

from __future__ import annotations

from typing import Any

import httpx

from townhall.bus.events import Event

API = "/api/v1/spaces"


class Spaces:
    """Thin calls on the spaces API that return the response (status and JSON)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def create(self, who: Any, **body: Any) -> dict[str, Any]:
        body.setdefault("title", "A space")
        body.setdefault("visibility", "public")
        r = await self.client.post(API, json=body, headers=who.headers)
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def post(self, who: Any, space_id: str, action: str, body: Any = None) -> httpx.Response:
        return await self.client.post(f"{API}/{space_id}/{action}", json=body, headers=who.headers)

    async def ok(self, who: Any, space_id: str, action: str, body: Any = None) -> Any:
        r = await self.post(who, space_id, action, body)
        assert r.status_code == 200, f"{action}: {r.status_code} {r.text}"
        return r.json()

    async def get(self, who: Any, space_id: str, sub: str = "") -> httpx.Response:
        path = f"{API}/{space_id}" + (f"/{sub}" if sub else "")
        return await self.client.get(path, headers=who.headers)

    @staticmethod
    async def snapshot(app: Any, space_id: str, viewer: Any) -> dict[str, Any]:
        from townhall.api.services import spaces

        async with app.state.db.session() as session:
            return (await spaces.snapshot(session, space_id, viewer.id)).model_dump(mode="json")


def error(r: httpx.Response, status: int, code: str) -> None:
    """Assert a JSON error with this status and code."""
    assert r.status_code == status, f"expected {status} {code}, got {r.status_code} {r.text}"
    assert r.json()["error"]["code"] == code, r.text


async def events(app: Any, space_id: str) -> list[Event]:
    """The space's events on the bus, once everything committed so far was relayed."""
    await app.state.outbox.drain()
    got = await app.state.bus.replay(space_id, 0)
    assert got is not None
    return list(got)


async def event_types(app: Any, space_id: str) -> list[str]:
    return [e.type for e in await events(app, space_id)]
