"""The transactional outbox under Redis faults, with the test's own redis-server.

A change committed while Redis is frozen (SIGSTOP) or down answers at once, and once
Redis is back its events reach every client in order, exactly once per seq (a client
resuming from its last seq gets exactly what it missed); two API nodes relaying one
outbox never deliver a seq twice or out of order. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.test_ws import WsClient, _live_space, _open, _quick_user, serve
from tests.support.redis_server import RedisServer, redis_server
from townhall.api.app import create_app
from townhall.api.services import spaces
from townhall.api.services.outbox import plan
from townhall.bus import Event
from townhall.bus.base import UserPush
from townhall.config import Settings
from townhall.store.outbox import Pending

ANSWER_WITHIN = 8.0
"""A request must answer within this bound even while Redis does not (a bounded wait)."""

_META = {"snapshot", "subscribed", "error", "pong", "notification", "unsubscribed"}


@pytest.fixture
def redis(tmp_path: Path) -> Any:
    with redis_server(tmp_path / "redis") as server:
        yield server


@pytest.fixture
async def clients() -> AsyncIterator[list[WsClient]]:
    opened: list[WsClient] = []
    yield opened
    for c in opened:
        await asyncio.wait_for(c.close(), 5)


@asynccontextmanager
async def node(settings: Settings, redis_url: str, prefix: str) -> AsyncIterator[Any]:
    """One API node (app, REST client, WebSocket address) on the shared database and Redis."""
    app = create_app(settings.model_copy(update={"redis_url": redis_url, "redis_prefix": prefix}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50010))
        async with httpx.AsyncClient(transport=transport, base_url="http://t", timeout=30) as http:
            async for base in serve(app):
                yield app, http, base


async def answered(call: Awaitable[httpx.Response]) -> Any:
    """The call's 2xx body; fails when it errs or takes longer than ANSWER_WITHIN."""
    r = await asyncio.wait_for(call, ANSWER_WITHIN)
    assert r.status_code in (200, 201), f"{r.status_code} {r.text}"
    return r.json()


async def committed_seq(app: Any, space_id: str) -> int:
    async with app.state.db.session() as session:
        return await spaces.event_seq(session, space_id)


def kept(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if m["type"] not in _META and not m.get("volatile")]


async def events_until(c: WsClient, seq: int, got: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Kept events from `got` and then from the socket, up to the one numbered `seq`."""
    events = kept(got)
    while not events or events[-1]["seq"] < seq:
        events += kept([await c.recv(15.0)])
    return events


def prefix() -> str:
    return f"townhall-test-{uuid.uuid4().hex[:12]}:"


class Changes:
    """REST changes made in one space, remembering the events each one announces."""

    def __init__(self, http: httpx.AsyncClient, space_id: str) -> None:
        self.http = http
        self.sid = space_id
        self.expected: list[str] = []

    async def post(self, who: Any, action: str, events: list[str], **body: Any) -> Any:
        url = f"/api/v1/spaces/{self.sid}/{action}"
        result = await answered(self.http.post(url, headers=who.headers, json=body or None))
        self.expected += events
        return result

    async def patch(self, who: Any, events: list[str], **body: Any) -> Any:
        url = f"/api/v1/spaces/{self.sid}"
        result = await answered(self.http.patch(url, headers=who.headers, json=body))
        self.expected += events
        return result


async def _moderated_session(changes: Changes, host: Any, speaker: Any, other: Any) -> None:
    """Joins, an edit, a hand approved, an invitation accepted, a mute, a leave."""
    joined = ["member.joined", "listeners.count"]
    await changes.post(other, "join", joined)
    await changes.post(speaker, "join", joined)
    await changes.patch(host, ["space.updated"], title="Edited while Redis was away")
    await changes.post(other, "hand", ["hand.raised"])
    approved = ["hand.lowered", "role.changed", "listeners.count"]
    await changes.post(host, f"hands/{other.id}/approve", approved)
    await changes.post(host, "invite", ["invite.sent"], user_id=speaker.id, role="speaker")
    await changes.post(speaker, "invitation/accept", ["role.changed", "listeners.count"])
    await changes.post(host, "mute", ["mute.changed"], user_id=other.id)
    await changes.post(other, "leave", ["member.left", "listeners.count"])


async def test_changes_while_redis_is_frozen_answer_and_then_reach_every_client_once(
    settings: Settings, redis: RedisServer, clients: list[WsClient]
) -> None:
    async with node(settings, redis.url, prefix()) as (app, http, base):
        host, speaker, other, away = [
            await _quick_user(http, name) for name in ("host", "speaker", "other", "away")
        ]
        sid = (await _live_space(http, host))["id"]
        watcher = await _open(clients, base, host)  # stays connected through the freeze
        start = (await watcher.subscribe(sid))[0]["seq"]
        invited = await _open(clients, base, speaker)  # gets the invitation's notification
        await invited.ping()
        leaving = await _open(clients, base, away)
        await leaving.subscribe(sid)
        await answered(http.post(f"/api/v1/spaces/{sid}/join", headers=away.headers))
        last_seq = (await leaving.recv_until(lambda m: m["type"] == "listeners.count"))[-1]["seq"]
        await leaving.close()
        before = await watcher.recv_until(lambda m: m.get("seq") == last_seq)
        assert [m["seq"] for m in kept(before)] == list(range(start + 1, last_seq + 1))

        changes = Changes(http, sid)
        redis.freeze()
        try:
            await _moderated_session(changes, host, speaker, other)
        finally:
            redis.thaw()
        committed = await committed_seq(app, sid)
        assert committed == last_seq + len(changes.expected)

        # The socket that stayed open gets every event, in order, once.
        live = await events_until(watcher, committed, [])
        assert [m["seq"] for m in live] == list(range(last_seq + 1, committed + 1))
        assert [m["type"] for m in live] == changes.expected
        # A client resuming from its last seq gets exactly what it missed.
        back = await _open(clients, base, away)
        got = await back.subscribe(sid, last_seq=last_seq)
        assert got[-1]["type"] == "subscribed" and got[-1]["replayed"] >= 0
        resumed = await events_until(back, committed, got)
        assert [m["seq"] for m in resumed] == list(range(last_seq + 1, committed + 1))
        assert [m["type"] for m in resumed] == changes.expected
        assert resumed == live
        # The invitation's notification, committed while Redis was frozen, came once.
        pushed = await invited.recv_until(lambda m: m["type"] == "notification")
        assert pushed[-1]["data"]["kind"] == "invite"
        await invited.silent_for(0.5)
        await watcher.silent_for(0.3)


async def test_changes_while_redis_is_down_reach_a_client_resuming_after_its_restart(
    settings: Settings,
    redis: RedisServer,
    clients: list[WsClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with node(settings, redis.url, prefix()) as (app, http, base):
        host, speaker, other, away = [
            await _quick_user(http, name) for name in ("host", "speaker", "other", "away")
        ]
        sid = (await _live_space(http, host))["id"]
        reader = await _open(clients, base, away)
        await reader.subscribe(sid)
        await answered(http.post(f"/api/v1/spaces/{sid}/join", headers=away.headers))
        last_seq = (await reader.recv_until(lambda m: m["type"] == "listeners.count"))[-1]["seq"]
        await reader.close()

        changes = Changes(http, sid)
        caplog.set_level(logging.WARNING, logger="townhall.api.services.outbox")
        redis.stop()
        await _moderated_session(changes, host, speaker, other)
        await asyncio.sleep(1.0)  # the relay keeps retrying meanwhile
        redis.start()  # empty: it lost every key
        await app.state.outbox.drain(timeout=30)
        committed = await committed_seq(app, sid)
        assert committed == last_seq + len(changes.expected)

        back = await _open(clients, base, away)
        await back.send(op="subscribe", space_id=sid, last_seq=last_seq)
        got = await back.recv_until(lambda m: m["type"] == "subscribed")
        # (Its notification channel may be told it lagged: the bus's pub/sub reconnected.)
        assert all(m["error"]["code"] == "lagged" for m in got if m["type"] == "error"), got
        assert got[-1] == {
            "type": "subscribed",
            "space_id": sid,
            "seq": committed,
            "replayed": len(changes.expected),
        }
        assert [m["seq"] for m in kept(got)] == list(range(last_seq + 1, committed + 1))
        assert [m["type"] for m in kept(got)] == changes.expected
        outbox_logs = [r.getMessage() for r in caplog.records if "outbox" in r.name]
        assert sum("unavailable" in m for m in outbox_logs) == 1, outbox_logs
        assert sum(m.startswith("outbox: the bus is back") for m in outbox_logs) == 1, outbox_logs


async def test_two_nodes_relaying_one_outbox_deliver_each_seq_once_in_order(
    settings: Settings, redis: RedisServer, clients: list[WsClient]
) -> None:
    shared = prefix()
    async with AsyncExitStack() as stack:
        app_a, http_a, base_a = await stack.enter_async_context(node(settings, redis.url, shared))
        app_b, http_b, base_b = await stack.enter_async_context(node(settings, redis.url, shared))
        host = await _quick_user(http_a, "host")
        crowd = [await _quick_user(http_a, f"fan{i}") for i in range(6)]
        sid = (await _live_space(http_a, host))["id"]
        on_a, on_b = await _open(clients, base_a, host), await _open(clients, base_b, host)
        start = (await on_a.subscribe(sid))[0]["seq"]
        got_b = await on_b.subscribe(sid)
        for i, fan in enumerate(crowd):
            http = (http_a, http_b)[i % 2]
            await answered(http.post(f"/api/v1/spaces/{sid}/join", headers=fan.headers))

        async def toggle(i: int, fan: Any) -> None:
            """Raise and lower a hand three times, alternating between the nodes."""
            for n in range(6):
                http = (http_a, http_b)[(i + n) % 2]
                action = "hand" if n % 2 == 0 else "hand/lower"
                await answered(http.post(f"/api/v1/spaces/{sid}/{action}", headers=fan.headers))

        async def freeze_a_while() -> None:
            """Frozen for longer than a request may take: relays time out and retry."""
            await asyncio.sleep(0.1)
            redis.freeze()
            try:
                await asyncio.sleep(ANSWER_WITHIN + 1)
            finally:
                redis.thaw()

        await asyncio.gather(freeze_a_while(), *(toggle(i, f) for i, f in enumerate(crowd)))
        await app_a.state.outbox.drain(timeout=30)
        await app_b.state.outbox.drain(timeout=30)
        committed = await committed_seq(app_a, sid)
        assert committed == start + len(crowd) * (2 + 6)

        for c, got in ((on_a, []), (on_b, got_b)):
            events = await events_until(c, committed, got)
            assert [m["seq"] for m in events] == list(range(start + 1, committed + 1))
            await c.silent_for(0.3)
        replayed = await app_b.state.bus.replay(sid, start)
        assert [e.seq for e in replayed] == list(range(start + 1, committed + 1))


def _pending(id_: int, space: str | None, seq: int | None, user: int | None = None) -> Pending:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return Pending(id_, space, seq, user, "hand.raised", {"n": id_}, at)


def test_the_plan_relays_each_space_from_its_oldest_waiting_entry_without_gaps() -> None:
    rows = [
        _pending(10, "a", 3),
        _pending(11, "b", 7),
        _pending(12, "a", 4),
        _pending(13, None, None, user=5),
        _pending(14, "a", 6),  # 5 is held by another relay: 6 must wait for it
        _pending(15, "b", 8),
    ]
    # Space b's seq 5 and 6 are still waiting, held by another relay.
    todo = plan(rows, {"a": 3, "b": 5})
    assert todo.done == [13, 10, 12]
    assert todo.held
    push, *events = todo.items
    assert isinstance(push, UserPush) and push.user_id == 5 and push.key.startswith("13:")
    assert [(e.space_id, e.seq) for e in events if isinstance(e, Event)] == [("a", 3), ("a", 4)]
    assert not plan([_pending(1, "a", 1), _pending(2, "a", 2)], {"a": 1}).held


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_relay_cancelled_as_it_is_woken_ends(settings: Settings) -> None:
    """The relay's idle wait is bounded with `asyncio.timeout`: on Python 3.11
    `asyncio.wait_for` swallows a cancellation that arrives as the wake comes, and the
    relay would then run on after its task was cancelled."""
    from townhall.api.services.outbox import OutboxRelay, _relays
    from townhall.bus import create_bus
    from townhall.store.db import Database

    db = Database(settings.effective_database_url, schema=settings.database_schema)
    bus = create_bus(settings)
    try:
        for turns in range(8):
            relay = OutboxRelay(db, bus, poll_seconds=30.0)
            await relay.start()
            await relay.drain(timeout=5)  # idle now, in its wait for a wake
            assert relay._task is not None
            relay.wake()
            for _ in range(turns):
                await asyncio.sleep(0)
            relay._task.cancel()
            done, _ = await asyncio.wait([relay._task], timeout=5)
            assert done, f"the relay ran on after its cancellation ({turns} turns)"
            assert relay._task.cancelled()
            _relays.discard(relay)
    finally:
        await bus.close()
        await db.dispose()
