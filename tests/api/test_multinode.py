"""Two real `townhall serve` processes sharing one Redis and one database behave as one
service: events, notifications and replay made through one reach clients of the other."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.test_ws import WsClient
from tests.bus.redis_helpers import REDIS_URL, redis_unreachable_reason
from tests.support.server import running_server

pytestmark = [pytest.mark.redis, pytest.mark.serial]


@pytest.fixture
async def two_nodes(tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    """Base addresses (host:port) of two server processes on the same Redis and SQLite file."""
    reason = await redis_unreachable_reason()
    if reason:
        pytest.skip(reason)
    prefix = f"townhall-test-{uuid.uuid4().hex[:12]}:"
    env = {
        "TOWNHALL_REDIS_URL": REDIS_URL,
        "TOWNHALL_REDIS_PREFIX": prefix,
        "TOWNHALL_DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}",
        "TOWNHALL_SECRET_KEY": "s" * 32,
    }
    with contextlib.ExitStack() as stack:
        bases = []
        for name in ("a", "b"):  # one after the other: the first one migrates
            (tmp_path / name).mkdir()
            url = await asyncio.to_thread(stack.enter_context, running_server(tmp_path / name, env))
            bases.append(url.removeprefix("http://"))
        try:
            yield bases[0], bases[1]
        finally:
            await asyncio.to_thread(stack.close)
            await _delete_keys(prefix)


async def _delete_keys(prefix: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


class Node:
    """REST calls to one server process as one user."""

    def __init__(self, http: httpx.AsyncClient, token: str) -> None:
        self.http = http
        self.headers = {"Authorization": f"Bearer {token}"}

    async def post(self, path: str, **body: Any) -> Any:
        r = await self.http.post(path, headers=self.headers, json=body or None)
        assert r.status_code in (200, 201), r.text
        return r.json()


async def _signup(http: httpx.AsyncClient, handle: str) -> tuple[int, str]:
    r = await http.post(
        "/api/v1/auth/signup",
        json={"handle": handle, "display_name": handle.title(), "password": "correct horse"},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    return int(body["user"]["id"]), str(body["token"])


async def test_two_processes_sharing_redis_deliver_each_others_events(
    two_nodes: tuple[str, str],
) -> None:
    base_a, base_b = two_nodes
    opened: list[WsClient] = []
    async with (
        httpx.AsyncClient(base_url=f"http://{base_a}", timeout=10) as http_a,
        httpx.AsyncClient(base_url=f"http://{base_b}", timeout=10) as http_b,
    ):
        host_id, host_token = await _signup(http_a, "host")
        fan_id, fan_token = await _signup(http_b, "fan")
        host_on_a, fan_on_b = Node(http_a, host_token), Node(http_b, fan_token)
        fan_on_a = Node(http_a, fan_token)
        await fan_on_b.post("/api/v1/users/host/follow")
        try:
            fan_ws = await WsClient.open(base_b, fan_token)  # the fan's socket is on B
            host_ws = await WsClient.open(base_a, host_token)  # the host's socket is on A
            opened += [fan_ws, host_ws]
            await fan_ws.ping()

            # A notification caused on A reaches the fan's socket on B.
            space = await host_on_a.post("/api/v1/spaces", title="Two nodes", visibility="public")
            sid = space["id"]
            pushed = await fan_ws.recv()
            assert pushed["type"] == "notification"
            assert pushed["data"]["kind"] == "space.started"
            assert pushed["data"]["data"]["space_id"] == sid

            snap_b = (await fan_ws.subscribe(sid))[0]
            snap_a = (await host_ws.subscribe(sid))[0]
            assert snap_a["type"] == snap_b["type"] == "snapshot"
            assert snap_a["seq"] == snap_b["seq"] >= 2  # one sequence for the space

            # Caused through B, seen on A ...
            await fan_on_b.post(f"/api/v1/spaces/{sid}/join")
            on_a = await host_ws.recv_until(lambda m: m["type"] == "member.joined")
            joined = on_a[-1]
            assert joined["data"]["user"]["id"] == fan_id
            # ... and through A, seen on B, with the same numbering on both sides.
            await host_on_a.post(f"/api/v1/spaces/{sid}/invite", user_id=fan_id, role="speaker")
            on_b = await fan_ws.recv_until(lambda m: m["type"] == "invite.sent")
            assert any(m["type"] == "member.joined" and m["seq"] == joined["seq"] for m in on_b)
            assert on_b[-1]["data"] == {"user_id": fan_id, "role": "speaker", "by": host_id}
            on_a = await host_ws.recv_until(lambda m: m["type"] == "invite.sent")
            assert on_a[-1]["seq"] == on_b[-1]["seq"]

            # The fan drops off B; what happens meanwhile is replayed by A from Redis.
            last_seq = on_b[-1]["seq"]
            await fan_ws.close()
            await fan_on_a.post(f"/api/v1/spaces/{sid}/invitation/decline")
            await fan_on_a.post(f"/api/v1/spaces/{sid}/hand")
            seen = await host_ws.recv_until(lambda m: m["type"] == "hand.raised")
            missed = [(m["seq"], m["type"]) for m in seen]
            resumed = await WsClient.open(base_a, fan_token)
            opened.append(resumed)
            got = await resumed.subscribe(sid, last_seq=last_seq)
            assert [(m["seq"], m["type"]) for m in got[:-1]] == missed
            assert got[-1]["type"] == "subscribed" and got[-1]["replayed"] == len(missed)
        finally:
            for c in opened:
                await c.close()
