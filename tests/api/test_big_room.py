"""A space with more listeners than a snapshot lists: joins and snapshots read the stage,
hands and the first listeners and count the rest, and stay right; a join's `seq` lets the
WebSocket resume from the join's snapshot instead of sending a second one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.api.test_ws import WsClient, serve
from tests.conftest import MakeUser
from townhall.api.services.spaces.reading import LISTENERS_SHOWN


@pytest.fixture
async def base(app: Any) -> AsyncIterator[str]:
    async for address in serve(app):
        yield address


async def _ok(client: httpx.AsyncClient, path: str, user: Any, **body: Any) -> Any:
    r = await client.post(path, headers=user.headers, json=body or None)
    assert r.status_code in (200, 201), r.text
    return r.json()


async def test_a_room_bigger_than_the_listed_listeners_stays_right(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    host = await make_user("bighost")
    sid = (await _ok(client, "/api/v1/spaces", host, title="Big", visibility="public"))["id"]
    crowd = [await make_user(f"crowd{i}") for i in range(LISTENERS_SHOWN + 12)]
    for i, user in enumerate(crowd):
        joined = await _ok(client, f"/api/v1/spaces/{sid}/join", user)
        assert joined["listener_count"] == i + 1
        assert joined["me"]["role"] == "listener"
    again = await _ok(client, f"/api/v1/spaces/{sid}/join", crowd[3])  # idempotent
    assert again["listener_count"] == len(crowd)

    late = crowd[-1]  # beyond the listed listeners
    await _ok(client, f"/api/v1/spaces/{sid}/hand", late)
    snap = (await client.get(f"/api/v1/spaces/{sid}/snapshot", headers=host.headers)).json()
    assert snap["listener_count"] == len(crowd)
    assert [u["id"] for u in snap["listeners"]] == [u.id for u in crowd[:LISTENERS_SHOWN]]
    assert [h["user"]["id"] for h in snap["hand_queue"]] == [late.id]
    assert snap["hand_count"] == 1
    mine = (await client.get(f"/api/v1/spaces/{sid}/snapshot", headers=late.headers)).json()
    assert mine["me"]["hand_raised"] is True and mine["hand_queue"] is None

    await _ok(client, f"/api/v1/spaces/{sid}/hands/{late.id}/approve", host)
    snap = (await client.get(f"/api/v1/spaces/{sid}/snapshot", headers=host.headers)).json()
    assert [m["user"]["id"] for m in snap["stage"]] == [host.id, late.id]
    assert snap["listener_count"] == len(crowd) - 1

    for user in (crowd[0], late):
        await _ok(client, f"/api/v1/spaces/{sid}/leave", user)
    snap = (await client.get(f"/api/v1/spaces/{sid}/snapshot", headers=host.headers)).json()
    assert snap["listener_count"] == len(crowd) - 2
    assert [m["user"]["id"] for m in snap["stage"]] == [host.id]
    assert crowd[0].id not in [u["id"] for u in snap["listeners"]]
    space = (await client.get(f"/api/v1/spaces/{sid}", headers=host.headers)).json()
    assert space["listener_count"] == len(crowd) - 2


async def test_subscribing_with_the_joins_seq_resumes_without_a_second_snapshot(
    base: str, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    host, fan, other = [await make_user(h) for h in ("seqhost", "seqfan", "seqother")]
    sid = (await _ok(client, "/api/v1/spaces", host, title="Seq", visibility="public"))["id"]
    joined = await _ok(client, f"/api/v1/spaces/{sid}/join", fan)
    assert isinstance(joined["seq"], int) and joined["seq"] >= 2  # started + host joined + ...
    await _ok(client, f"/api/v1/spaces/{sid}/join", other)  # after the fan's snapshot
    ws = await WsClient.open(base, fan.token)
    try:
        got = await ws.subscribe(sid, last_seq=joined["seq"])
        assert "snapshot" not in [m["type"] for m in got], got
        events = [m for m in got if m["type"] != "subscribed"]
        assert all(m["seq"] > joined["seq"] for m in events)
        joins = [m["data"] for m in events if m["type"] == "member.joined"]
        assert other.id in [j["user"]["id"] for j in joins]
        assert got[-1]["type"] == "subscribed" and got[-1]["replayed"] == len(events)
    finally:
        await ws.close()
