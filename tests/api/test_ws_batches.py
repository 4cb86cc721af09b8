"""Fan-out stays cheap: an event is made into JSON once however many sockets get it, and
a client that asks for batches (`?batch=1`) gets the events already waiting for it in
one array frame, in seq order, with exactly what a one-by-one client gets."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import websockets

from tests.api.test_ws import WsClient, _events, _live_space, _open, _post, base, clients
from townhall.api.ws.client import event_text
from townhall.bus import Event

__all__ = ["base", "clients"]  # fixtures


async def test_one_event_reaches_every_subscriber_as_one_object_serialised_once(app: Any) -> None:
    bus = app.state.bus
    subs = [await bus.subscribe("batchspace1") for _ in range(3)]
    try:
        await bus.relay([Event("hand.raised", "batchspace1", {"user_id": 7}, seq=1, at=1.0)])
        got = [await sub.get(5) for sub in subs]
        assert all(event is got[0] for event in got)  # one object for every subscriber
        texts = [event_text(event) for event in got]
        assert all(text is texts[0] for text in texts)  # its JSON made once, then reused
        assert json.loads(texts[0])["data"] == {"user_id": 7}
    finally:
        for sub in subs:
            await sub.close()


async def test_a_subscription_hands_over_what_is_queued_without_waiting(app: Any) -> None:
    sub = await app.state.bus.subscribe("batchspace2")
    events = [Event("hand.raised", "batchspace2", {"user_id": i}, seq=i, at=1.0) for i in (1, 2, 3)]
    await app.state.bus.relay(events)
    assert [e.seq for e in [await sub.get(5), *sub.ready()]] == [1, 2, 3]
    assert sub.ready() == []
    await sub.close()
    assert sub.ready() == []
    assert [e async for e in sub] == []  # the end of the stream is still there


async def _recv_frames(conn: Any, until_type: str, limit: int = 50) -> list[Any]:
    frames: list[Any] = []
    for _ in range(limit):
        frames.append(json.loads(await asyncio.wait_for(conn.recv(), 10)))
        flat = frames[-1] if isinstance(frames[-1], list) else [frames[-1]]
        if any(m.get("type") == until_type for m in flat):
            return frames
    raise AssertionError(f"no {until_type} in {frames[-5:]}")


async def test_a_batched_client_gets_every_event_once_in_order_and_a_replay_in_one_array(
    base: str, client: httpx.AsyncClient, make_user: Any, clients: list[WsClient]
) -> None:
    host = await make_user("bhost")
    fans = [await make_user(f"bfan{i}") for i in range(3)]
    sid = (await _live_space(client, host))["id"]
    plain = await _open(clients, base, host)
    seq = (await plain.subscribe(sid))[-1]["seq"]
    url = f"ws://{base}/api/v1/ws?token={host.token}&batch=1"
    async with websockets.connect(url, open_timeout=5, max_queue=None) as batched:
        await batched.send(json.dumps({"op": "subscribe", "space_id": sid, "last_seq": seq}))
        ack = await _recv_frames(batched, "subscribed")
        assert ack[-1]["seq"] == seq and ack[-1]["replayed"] == 0

        for fan in fans:  # each join commits two events, relayed together
            await _post(client, f"/api/v1/spaces/{sid}/join", fan)
        frames = await _recv_frames(batched, "listeners.count")
        while sum(len(f) if isinstance(f, list) else 1 for f in frames) < 2 * len(fans):
            frames += await _recv_frames(batched, "listeners.count")
        one_by_one = _events(
            await plain.recv_until(
                lambda m: m["type"] == "listeners.count" and m["data"]["count"] == 3
            )
        )
        # Events reaching an idle socket go out at once, one by one; those that had to wait
        # (a busy socket, pacing: tests/api/test_ws_pacing.py) go together. An array is
        # never a lone event.
        arrays = [f for f in frames if isinstance(f, list)]
        assert all(len(f) >= 2 for f in arrays)
        flat = [m for f in frames for m in (f if isinstance(f, list) else [f])]
        assert _events(flat) == one_by_one  # the same events, in the same order
        assert [s for s, _, _ in one_by_one] == list(range(seq + 1, seq + 1 + 2 * len(fans)))

        # A resume replays what was missed in one array too.
        await batched.send(json.dumps({"op": "unsubscribe", "space_id": sid}))
        await _recv_frames(batched, "unsubscribed")
        await batched.send(json.dumps({"op": "subscribe", "space_id": sid, "last_seq": seq}))
        replayed = await _recv_frames(batched, "subscribed")
        assert isinstance(replayed[0], list) and _events(replayed[0]) == one_by_one
