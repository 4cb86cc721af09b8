"""Reaching the test Redis and cleaning up after tests (each test uses its own key prefix)."""

from __future__ import annotations

import os
from typing import Any

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


async def delete_test_keys(buses: list[Any]) -> None:
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
