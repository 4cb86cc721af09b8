"""Bus fixtures: every contract test runs on the in-memory bus and on the real Redis bus."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from townhall.bus import Bus, MemoryBus

REDIS_URL = os.environ.get("TOWNHALL_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


async def redis_unreachable_reason() -> str | None:
    """None when the test Redis answers PING, else why not."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=1.0)
    try:
        await client.ping()
    except Exception as exc:  # any failure means: skip
        return f"Redis at {REDIS_URL} unreachable ({exc.__class__.__name__}: {exc})"
    finally:
        await client.aclose()
    return None


async def make_bus(
    kind: str, presence_ttl: float = 60.0, replay_size: int = 500, prefix: str = ""
) -> Bus:
    if kind == "memory":
        return MemoryBus(replay_size=replay_size, presence_ttl=presence_ttl)
    reason = await redis_unreachable_reason()
    if reason:
        pytest.skip(reason)
    from townhall.bus.redis import RedisBus

    prefix = prefix or f"townhall-test-{uuid.uuid4().hex[:12]}:"
    return RedisBus(REDIS_URL, prefix=prefix, presence_ttl=presence_ttl, replay_size=replay_size)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def bus_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


BusFactory = Callable[..., Awaitable[Bus]]


@pytest.fixture
async def bus_factory(bus_kind: str) -> AsyncIterator[BusFactory]:
    """Makes buses of this test's kind (keyword args as for make_bus); closes them after."""
    made: list[Bus] = []

    async def factory(**options: float) -> Bus:
        instance = await make_bus(bus_kind, **options)  # type: ignore[arg-type]
        made.append(instance)
        return instance

    yield factory
    for instance in made:
        await instance.close()
    if bus_kind == "redis":
        await delete_test_keys(made)


async def delete_test_keys(buses: list[Bus]) -> None:
    """Remove the keys a test's Redis buses wrote (each has its own prefix)."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        for instance in buses:
            prefix = getattr(instance, "prefix", "")
            if prefix.startswith("townhall-test-"):
                keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
                if keys:
                    await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
async def bus(bus_factory: BusFactory) -> Bus:
    return await bus_factory()
