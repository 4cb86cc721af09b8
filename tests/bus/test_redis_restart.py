"""The Redis bus across a Redis restart (the test's own redis-server, killed and started):
subscribers are told that events may have been lost, subscribing while Redis is away fails
cleanly, and once it is back, subscriptions work again on every node."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from redis.exceptions import ConnectionError

from tests.support.redis_server import RedisServer, redis_server
from townhall.bus import Event, Subscription, SubscriptionLagged
from townhall.bus.redis import RedisBus

pytestmark = pytest.mark.redis


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path / "redis") as server:
        yield server


async def subscribed_again(
    bus: RedisBus, space_id: str, bound: float = 15.0
) -> Subscription[Event]:
    """Subscribe, retrying (bounded) while the bus reconnects."""
    deadline = asyncio.get_running_loop().time() + bound
    while True:
        try:
            return await bus.subscribe(space_id)
        except Exception:
            assert asyncio.get_running_loop().time() < deadline, "never subscribed again"
            await asyncio.sleep(0.2)


async def retried(make: Callable[[], Awaitable[object]], bound: float = 10.0) -> None:
    """Run a command, retrying (bounded): the first use of a connection pooled before the
    restart fails, as it would for a publisher (the outbox relay retries)."""
    deadline = asyncio.get_running_loop().time() + bound
    while True:
        try:
            await make()
            return
        except ConnectionError:
            assert asyncio.get_running_loop().time() < deadline, "the command kept failing"
            await asyncio.sleep(0.1)


async def test_subscriptions_survive_a_redis_restart(own_redis: RedisServer) -> None:
    prefix = f"townhall-test-{uuid.uuid4().hex[:8]}:"
    node_a, node_b = RedisBus(own_redis.url, prefix=prefix), RedisBus(own_redis.url, prefix=prefix)
    try:
        events = await node_a.subscribe("s1")
        notes = await node_a.subscribe_user(7)
        await node_b.publish(Event("reaction", "s1", {"n": 1}))
        assert (await events.get(5)).data == {"n": 1}

        own_redis.stop()
        # Both subscriptions are told that items may have been lost.
        with pytest.raises(SubscriptionLagged):
            await events.get(10)
        with pytest.raises(SubscriptionLagged):
            await notes.get(10)
        await events.close()
        await notes.close()
        # Subscribing while Redis is away fails (and leaves nothing half made behind).
        with pytest.raises((ConnectionError, OSError)):
            await node_a.subscribe("s1")
        with pytest.raises((ConnectionError, OSError)):
            await node_a.subscribe("s2")

        own_redis.start()
        again = await subscribed_again(node_a, "s1")
        other = await subscribed_again(node_a, "s2")
        notes = await node_a.subscribe_user(7)
        # Another node's events reach the subscriptions made after the restart. (The
        # first resubscription may be interrupted once more as the connection settles:
        # then subscribe again, as a subscriber does.)
        for attempt in range(5):
            s1, s2 = Event("reaction", "s1", {"n": attempt}), Event("reaction", "s2", {})
            await retried(lambda: node_b.publish(s1))  # noqa: B023 (awaited at once)
            await retried(lambda: node_b.publish(s2))  # noqa: B023
            await retried(lambda: node_b.publish_user(7, {"hello": attempt}))  # noqa: B023
            try:
                assert (await again.get(5)).type == "reaction"
                assert (await other.get(5)).type == "reaction"
                assert (await notes.get(5)) == {"hello": attempt}
                break
            except SubscriptionLagged:
                for sub in (again, other, notes):
                    await sub.close()
                again = await subscribed_again(node_a, "s1")
                other = await subscribed_again(node_a, "s2")
                notes = await node_a.subscribe_user(7)
        else:
            pytest.fail("the subscriptions kept being interrupted after the restart")
        assert await node_a.ping() and await node_b.ping()
    finally:
        await node_a.close()
        await node_b.close()
