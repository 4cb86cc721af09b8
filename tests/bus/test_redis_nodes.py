"""Two Redis buses sharing one Redis behave as one bus: the many-node case."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from tests.bus.redis_helpers import REDIS_URL, delete_test_keys, redis_unreachable_reason
from townhall.bus import Event
from townhall.bus.redis import RedisBus

pytestmark = pytest.mark.redis


@pytest.fixture
async def two_nodes() -> AsyncIterator[tuple[RedisBus, RedisBus]]:
    reason = await redis_unreachable_reason()
    if reason:
        pytest.skip(reason)
    prefix = f"townhall-test-{uuid.uuid4().hex[:12]}:"
    a = RedisBus(REDIS_URL, prefix=prefix)
    b = RedisBus(REDIS_URL, prefix=prefix)
    yield a, b
    await a.close()
    await b.close()
    await delete_test_keys([a])


async def test_events_published_on_one_node_reach_subscribers_on_both(
    two_nodes: tuple[RedisBus, RedisBus],
) -> None:
    a, b = two_nodes
    on_a = await a.subscribe("s1")
    on_b = await b.subscribe("s1")
    try:
        await a.publish(Event("hand.raised", "s1", {"user_id": 1}))
        await b.publish(Event("hand.lowered", "s1", {"user_id": 1}))
        await a.publish(Event("reaction", "s1", {"user_id": 2, "emoji": "🔥"}))
        for sub in (on_a, on_b):
            got = [await sub.get(3.0) for _ in range(3)]
            assert [(e.seq, e.type) for e in got] == [
                (1, "hand.raised"),
                (2, "hand.lowered"),
                (3, "reaction"),
            ]
        replay = await b.replay("s1", 1)
        assert replay is not None and [e.type for e in replay] == ["hand.lowered", "reaction"]
    finally:
        await on_a.close()
        await on_b.close()


async def test_concurrent_publishers_get_unique_ordered_seqs(
    two_nodes: tuple[RedisBus, RedisBus],
) -> None:
    a, b = two_nodes
    watcher = await b.subscribe("s2")
    try:
        published = await asyncio.gather(
            *[
                (a if i % 2 else b).publish(Event("reaction", "s2", {"user_id": i, "emoji": "x"}))
                for i in range(40)
            ]
        )
        assert sorted(e.seq for e in published) == list(range(1, 41))
        received = [await watcher.get(3.0) for _ in range(40)]
        assert [e.seq for e in received] == list(range(1, 41))  # delivered in seq order
        by_seq = {e.seq: e.data for e in published}
        assert all(by_seq[e.seq] == e.data for e in received)
    finally:
        await watcher.close()


async def test_user_channel_and_presence_are_shared(
    two_nodes: tuple[RedisBus, RedisBus],
) -> None:
    a, b = two_nodes
    inbox = await b.subscribe_user(42)
    try:
        await a.publish_user(42, {"type": "notification", "data": {"id": 1}})
        assert await inbox.get(3.0) == {"type": "notification", "data": {"id": 1}}
    finally:
        await inbox.close()
    await a.touch("s3", 7, "client-a")
    assert await b.present("s3") == {7}
    await b.leave("s3", 7, "client-a")
    assert await a.present("s3") == set()


async def test_unsubscribing_the_last_local_subscriber_stops_delivery_on_that_node(
    two_nodes: tuple[RedisBus, RedisBus],
) -> None:
    a, b = two_nodes
    first = await b.subscribe("s4")
    second = await b.subscribe("s4")
    await first.close()
    await a.publish(Event("hand.raised", "s4", {"user_id": 1}))
    assert (await second.get(3.0)).seq == 1
    await second.close()
    again = await b.subscribe("s4")  # resubscribing after the channel was dropped works
    try:
        await a.publish(Event("hand.raised", "s4", {"user_id": 2}))
        got = await again.get(3.0)
        assert (got.seq, got.data) == (2, {"user_id": 2})
    finally:
        await again.close()


async def test_losing_the_pubsub_connection_makes_subscribers_resynchronise(
    two_nodes: tuple[RedisBus, RedisBus],
) -> None:
    import redis.asyncio as aioredis

    from townhall.bus import SubscriptionLagged

    a, b = two_nodes
    sub = await b.subscribe("s5")
    admin = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        await a.publish(Event("hand.raised", "s5", {"user_id": 1}))
        assert (await sub.get(3.0)).seq == 1
        clients = await admin.client_list()
        pubsub_ids = [
            c["id"] for c in clients if c.get("name") == f"{b.prefix}bus" and c.get("sub") != "0"
        ]
        assert len(pubsub_ids) == 1
        await admin.client_kill_filter(_id=pubsub_ids[0])
        with pytest.raises(SubscriptionLagged):
            await sub.get(5.0)
        # A fresh subscription works again once the connection is back, and replay
        # gives what was missed in between.
        await a.publish(Event("hand.lowered", "s5", {"user_id": 1}))
        await sub.close()
        await asyncio.sleep(0.7)  # the node's reader reconnects after 0.5 s
        fresh = await b.subscribe("s5")
        try:
            missed = await b.replay("s5", 1)
            assert missed is not None and [e.type for e in missed] == ["hand.lowered"]
            await a.publish(Event("reaction", "s5", {"user_id": 1, "emoji": "x"}))
            # An event in flight when it subscribed (seq 2) may arrive too; seq 3 must.
            seqs = [(await fresh.get(5.0)).seq]
            if seqs[0] == 2:
                seqs.append((await fresh.get(5.0)).seq)
            assert seqs[-1] == 3
        finally:
            await fresh.close()
    finally:
        await sub.close()
        await admin.aclose()
