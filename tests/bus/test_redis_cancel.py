"""A task cancelled while it talks to Redis ends: no call swallows the cancellation.

redis-py bounds each send with `asyncio.wait_for` when a socket timeout is set, and on
Python 3.11 `wait_for` swallows a cancellation that arrives as its inner future
completes: a presence-refresh loop then went on for ever after its socket was gone.
"""

from __future__ import annotations

import asyncio
import random
import uuid

import pytest

from tests.bus.redis_helpers import REDIS_URL, delete_test_keys, redis_unreachable_reason

pytestmark = pytest.mark.redis


async def test_tasks_cancelled_in_the_middle_of_redis_calls_all_end() -> None:
    reason = await redis_unreachable_reason()
    if reason:
        pytest.skip(reason)
    from townhall.bus.redis import RedisBus

    bus = RedisBus(REDIS_URL, prefix=f"townhall-test-{uuid.uuid4().hex[:12]}:")
    loops = 0

    async def refresh(user_id: int) -> None:
        nonlocal loops
        while True:  # like the presence refresher, without any sleep between calls
            await bus.touch("space", user_id, "client")
            await bus.present("space")
            loops += 1
            await asyncio.sleep(0)

    try:
        rng = random.Random(8)
        for _ in range(4):
            tasks = [asyncio.create_task(refresh(i)) for i in range(40)]
            await asyncio.sleep(0.2)
            for task in tasks:
                task.cancel()
                await asyncio.sleep(rng.random() * 0.005)
            _, pending = await asyncio.wait(tasks, timeout=5)
            for task in pending:  # do not leak them into other tests
                task.cancel()
            await asyncio.wait(tasks, timeout=5)
            assert not pending, f"{len(pending)} of 40 cancelled tasks were still running"
        assert loops > 0
    finally:
        await bus.close()
        await delete_test_keys([bus])
