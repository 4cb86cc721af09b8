"""Bus fixtures: every contract test runs on the in-memory bus and on the real Redis bus."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tests.bus.redis_helpers import REDIS_URL, delete_test_keys, redis_unreachable_reason
from townhall.bus import Bus, MemoryBus
from townhall.clock import SYSTEM_CLOCK, Clock

BusFactory = Callable[..., Awaitable[Bus]]


async def make_bus(
    kind: str,
    presence_ttl: float = 60.0,
    replay_size: int = 500,
    prefix: str = "",
    clock: Clock = SYSTEM_CLOCK,
) -> Bus:
    """A bus of this kind; `clock` drives the memory bus's TTLs (Redis keeps its own)."""
    if kind == "memory":
        return MemoryBus(replay_size=replay_size, presence_ttl=presence_ttl, clock=clock)
    reason = await redis_unreachable_reason()
    if reason:
        pytest.skip(reason)
    from townhall.bus.redis import RedisBus

    prefix = prefix or f"townhall-test-{uuid.uuid4().hex[:12]}:"
    return RedisBus(REDIS_URL, prefix=prefix, presence_ttl=presence_ttl, replay_size=replay_size)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def bus_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def bus_factory(bus_kind: str) -> AsyncIterator[BusFactory]:
    """Makes buses of this test's kind (keyword args as for make_bus); closes them after."""
    made: list[Bus] = []

    async def factory(**options: Any) -> Bus:
        instance = await make_bus(bus_kind, **options)
        made.append(instance)
        return instance

    yield factory
    for instance in made:
        await instance.close()
    if bus_kind == "redis":
        await delete_test_keys(made)


@pytest.fixture
async def bus(bus_factory: BusFactory) -> Bus:
    return await bus_factory()
