"""A snapshot is one consistent read: every query it makes sees the same committed state,
so a join's `seq` names exactly the events its snapshot contains, however many people
join at the same moment. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.conftest import MakeUser
from townhall.api.services import outbox
from townhall.store import snapshots as snapshots_store
from townhall.store import spaces as store
from townhall.store.db import begin_consistent_read


async def _ok(client: httpx.AsyncClient, path: str, user: Any, **body: Any) -> Any:
    r = await client.post(path, headers=user.headers, json=body or None)
    assert r.status_code in (200, 201), r.text
    return r.json()


async def test_a_consistent_read_does_not_see_what_commits_during_it(
    app: Any, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    host = await make_user("cshost")
    sid = (await _ok(client, "/api/v1/spaces", host, title="C", visibility="public"))["id"]
    first = await make_user("csfirst")
    await _ok(client, f"/api/v1/spaces/{sid}/join", first)
    late = await make_user("cslate")

    async with app.state.db.session() as reader:
        await begin_consistent_read(reader)
        count = await store.listener_count(reader, sid)
        seq = await outbox.event_seq(reader, sid)
        assert count == 1
        await _ok(client, f"/api/v1/spaces/{sid}/join", late)  # commits meanwhile
        assert await store.listener_count(reader, sid) == count
        assert await outbox.event_seq(reader, sid) == seq
        listed = await snapshots_store.first_listener_people(reader, sid, 10)
        assert [p.member.user_id for p in listed] == [first.id]
    async with app.state.db.session() as after:
        assert await store.listener_count(after, sid) == 2
        assert await outbox.event_seq(after, sid) > seq


async def test_each_join_snapshot_matches_its_seq_exactly_under_concurrent_joins(
    app: Any, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    host = await make_user("cjhost")
    sid = (await _ok(client, "/api/v1/spaces", host, title="J", visibility="public"))["id"]
    crowd = [await make_user(f"cj{i}") for i in range(16)]
    joined = await asyncio.gather(
        *(_ok(client, f"/api/v1/spaces/{sid}/join", user) for user in crowd)
    )
    await app.state.outbox.drain(timeout=10)
    events = await app.state.bus.replay(sid, 0)
    assert events is not None
    # The listener count announced by the last `listeners.count` at or before each seq.
    count_at: dict[int, int] = {}
    count = 0
    for event in events:
        if event.type == "listeners.count":
            count = event.data["count"]
        count_at[event.seq] = count
    for user, snap in zip(crowd, joined, strict=True):
        assert snap["listener_count"] == count_at[snap["seq"]], (user.handle, snap["seq"])
        assert snap["me"]["role"] == "listener"
        listed = {u["id"] for u in snap["listeners"]}
        assert user.id in listed and len(listed) == snap["listener_count"]
