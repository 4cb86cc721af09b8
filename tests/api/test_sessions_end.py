"""Sessions that end do end: logout, token revocation, account deletion and lost access
to a space cut the WebSocket and the media connection, and ids are never reused.

Real uvicorn on loopback, real `websockets` clients, real aiortc media connections whose
received audio is checked on the signal; SQLite and PostgreSQL (`backend`)."""

from __future__ import annotations

from typing import Any

import httpx

DELETE_BODY = {"password": "correct horse"}


async def _delete_account(client: httpx.AsyncClient, user: Any) -> None:
    r = await client.request("DELETE", "/api/v1/me", json=DELETE_BODY, headers=user.headers)
    assert r.status_code == 204, r.text


async def test_a_new_sign_up_after_a_deletion_gets_a_fresh_id(
    client: httpx.AsyncClient, make_user: Any
) -> None:
    first = await make_user("first")
    gone = await make_user("gone")
    await _delete_account(client, gone)
    newcomer = await make_user("newcomer")
    assert newcomer.id > gone.id > first.id
    r = await client.get("/api/v1/me", headers=newcomer.headers)
    assert r.json()["id"] == newcomer.id
