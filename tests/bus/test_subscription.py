"""A subscription's delivery (bus/base.py): items in order, the consumer woken only when
it waits, `ready()` handing over what queued, lag after the queue bound, and the direct
path offered only to a consumer that waits with nothing queued."""

from __future__ import annotations

import asyncio

from townhall.bus.base import Subscription, SubscriptionLagged


async def _closed(sub: Subscription[int]) -> None:
    return None


def _sub(maxsize: int = 1000) -> Subscription[int]:
    return Subscription("c", _closed, maxsize=maxsize)


async def test_items_come_in_order_and_what_queued_is_handed_over_at_once() -> None:
    sub = _sub()
    for i in range(5):
        sub.deliver(i)
    assert await sub.get(1) == 0
    assert sub.ready() == [1, 2, 3, 4]
    waiting = asyncio.create_task(sub.get(5))
    await asyncio.sleep(0)
    sub.deliver(9)
    assert await waiting == 9
    await sub.close()
    assert [i async for i in sub] == []


async def test_past_the_bound_the_queued_items_come_then_the_lag() -> None:
    sub = _sub(maxsize=3)
    for i in range(5):
        sub.deliver(i)
    assert [await sub.get(1) for _ in range(3)] == [0, 1, 2]
    try:
        await sub.get(1)
    except SubscriptionLagged:
        pass
    else:
        raise AssertionError("a lagged subscription must say so")


async def test_direct_delivery_only_while_the_consumer_waits_with_nothing_queued() -> None:
    sub = _sub()
    taken: list[int] = []
    accept = True

    def direct(item: int) -> bool:
        if item == 13:
            raise RuntimeError("a bad consumer")
        if accept:
            taken.append(item)
        return accept

    sub.direct = direct
    sub.deliver(1)  # nobody waits: queued, not offered
    assert taken == [] and sub.ready() == [1]

    waiting = asyncio.create_task(sub.get(5))
    await asyncio.sleep(0)
    sub.deliver(2)  # the consumer waits, nothing queued: taken directly, no wake-up
    sub.deliver(3)
    assert taken == [2, 3] and not waiting.done()

    accept = False
    sub.deliver(4)  # declined: queued, and the consumer is woken with it
    assert await waiting == 4
    sub.deliver(5)  # the consumer is not waiting now: queued in order
    assert sub.ready() == [5]

    accept = True
    waiting = asyncio.create_task(sub.get(5))
    await asyncio.sleep(0)
    sub.deliver(13)  # the direct path failed: the item is queued, not lost
    assert await waiting == 13
    await sub.close()
