"""Many calls at once on one Redis bus wait for a pooled connection instead of failing
("Too many connections" past redis-py's default of 100): a crowd of WebSockets touching
their presence at the same moment must not look like a Redis outage; and a replay from
a recent seq gives exactly the events after it."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.bus.redis_helpers import REDIS_URL, delete_test_keys, redis_unreachable_reason
from townhall.bus import Event

pytestmark = pytest.mark.redis


async def test_a_crowd_of_calls_at_once_all_go_through_and_replay_reads_the_tail() -> None:
    reason = await redis_unreachable_reason()
    if reason:
        pytest.skip(reason)
    from townhall.bus.redis import POOL_CONNECTIONS, RedisBus

    bus = RedisBus(REDIS_URL, prefix=f"townhall-test-{uuid.uuid4().hex[:12]}:")
    try:
        calls = [bus.touch("crowd", i, f"c{i}") for i in range(3 * max(100, POOL_CONNECTIONS))]
        await asyncio.gather(*calls)
        assert len(await bus.present("crowd")) == len(calls)

        events = [Event("hand.raised", "tail", {"n": i}, seq=i, at=1.0) for i in range(1, 41)]
        await bus.relay(events)
        assert [e.seq for e in await bus.replay("tail", 37) or []] == [38, 39, 40]
        assert [e.seq for e in await bus.replay("tail", 0) or []] == list(range(1, 41))
        assert await bus.replay("tail", 40) == []
        assert await bus.replay("tail", 41) is None
    finally:
        await bus.close()
        await delete_test_keys([bus])
