"""Frame pacing: a batched client gets a busy space's events in few frames (at most one
per interval), every event once and in seq order; the first event after a quiet spell
is not held back; the node's interval grows with its batched subscriptions."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import websockets

from tests.api.test_ws import WsClient, _events, _live_space, _open, _post, base, clients
from tests.api.test_ws_batches import _recv_frames
from tests.support.clock import ManualClock
from townhall.api.ws.pacing import FramePacer

__all__ = ["base", "clients"]  # fixtures


def test_the_interval_grows_with_the_subscriptions_up_to_its_bound() -> None:
    pacer = FramePacer(frames_per_second=4000, max_interval=0.5, clock=ManualClock())
    assert pacer.interval() == 0.0
    pacer.subscriptions = 20
    assert pacer.interval() == 20 / 4000  # a small room: 5 ms
    pacer.subscriptions = 2000
    assert pacer.interval() == 0.5  # 2,000 sockets x 2 frames/s = the budget
    pacer.subscriptions = 100_000
    assert pacer.interval() == 0.5  # never longer than the bound


async def test_a_subscription_waits_only_for_what_is_left_of_its_interval() -> None:
    clock = ManualClock()
    pacer = FramePacer(frames_per_second=10, max_interval=1.0, clock=clock, subscriptions=5)
    assert pacer.delay(None) == 0.0  # no frame yet: at once
    sent = clock.monotonic()
    assert pacer.delay(sent) == 0.5
    clock.advance(0.2)
    assert abs(pacer.delay(sent) - 0.3) < 1e-9
    await pacer.wait_turn(sent)
    assert len(clock.slept) == 1 and abs(clock.slept[0] - 0.3) < 1e-9
    assert pacer.delay(sent) == 0.0  # its turn has come


async def test_a_busy_space_reaches_a_batched_client_in_paced_frames_every_event_once(
    app: Any, base: str, client: httpx.AsyncClient, make_user: Any, clients: list[WsClient]
) -> None:
    # One batched subscription at 0.1 frames/s: one frame per 10 s at most (the joins
    # below take far less, even on a slow machine).
    app.state.pacer = FramePacer(frames_per_second=0.1, max_interval=10.0)
    host = await make_user("phost")
    fans = [await make_user(f"pfan{i}") for i in range(4)]
    sid = (await _live_space(client, host))["id"]
    plain = await _open(clients, base, host)  # one frame per event, unpaced
    seq = (await plain.subscribe(sid))[-1]["seq"]
    url = f"ws://{base}/api/v1/ws?token={host.token}&batch=1"
    async with websockets.connect(url, open_timeout=5, max_queue=None) as batched:
        await batched.send(json.dumps({"op": "subscribe", "space_id": sid, "last_seq": seq}))
        await _recv_frames(batched, "subscribed")
        assert app.state.pacer.subscriptions == 1

        for fan in fans:  # each join commits member.joined + listeners.count
            await _post(client, f"/api/v1/spaces/{sid}/join", fan)
        frames: list[list[Any]] = []
        while sum(len(f) for f in frames) < 2 * len(fans):
            got = json.loads(await batched.recv())
            frames.append(got if isinstance(got, list) else [got])
        one_by_one = _events(
            await plain.recv_until(
                lambda m: m["type"] == "listeners.count" and m["data"]["count"] == len(fans)
            )
        )
        # The first join's events went at once (both, or the first alone when the bus
        # handed over the second a moment later); the rest, committed within the
        # interval, waited for the next frame and came together.
        assert len(frames) == 2
        assert {m["seq"] for m in frames[0]} <= {seq + 1, seq + 2}
        flat = [m for f in frames for m in f]
        assert _events(flat) == one_by_one  # every event once, in seq order
        assert [s for s, _, _ in one_by_one] == list(range(seq + 1, seq + 1 + 2 * len(fans)))

        await batched.send(json.dumps({"op": "unsubscribe", "space_id": sid}))
        await _recv_frames(batched, "unsubscribed")
        assert app.state.pacer.subscriptions == 0  # an ended watch is no longer counted


async def test_waiting_subscriptions_share_wake_ups_and_a_cancel_spares_the_others() -> None:
    pacer = FramePacer(frames_per_second=100, max_interval=1.0, subscriptions=10)  # 0.1 s
    sent = pacer.now()
    waits = [asyncio.create_task(pacer.wait_turn(sent)) for _ in range(50)]
    await asyncio.sleep(0)
    assert 1 <= len(pacer._slots) <= 2  # fifty waits, one or two timers
    waits[0].cancel()
    done, pending = await asyncio.wait(waits[1:], timeout=10)
    assert not pending and all(t.exception() is None for t in done)
    assert waits[0].cancelled()
    assert pacer._slots == {}
