"""Rate limits kept where every node sees them: in Redis when TOWNHALL_REDIS_URL is set,
else in this process's memory. Built on the `limits` library (moving windows).

Redis going away must not stop people from signing in, nor let guessing run unlimited:
while it is unreachable every node counts in its own memory (a warning is logged once),
and goes back to Redis once it answers again (logged once). A failed Redis call is not
retried for `RETRY_REDIS_SECONDS`, so a dead Redis costs one timeout, not one per request.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

log = logging.getLogger("townhall.limits")

RETRY_REDIS_SECONDS = 5.0
REDIS_TIMEOUT_SECONDS = 1.0


@dataclass(frozen=True)
class Rule:
    """At most `limit` hits per `window` seconds for each key."""

    name: str
    limit: int
    window: float

    @property
    def item(self) -> RateLimitItem:
        return RateLimitItemPerSecond(self.limit, max(1, math.ceil(self.window)))


class Limiter:
    """Moving-window limits over Redis (shared) with this process's memory as fallback."""

    def __init__(
        self,
        redis_url: str = "",
        prefix: str = "townhall:",
        retry_seconds: float = RETRY_REDIS_SECONDS,
    ) -> None:
        self.redis_url = redis_url
        self.prefix = prefix
        self.retry_seconds = retry_seconds
        self._memory = MovingWindowRateLimiter(MemoryStorage())
        self._redis_storage: Storage | None = None
        self._redis: MovingWindowRateLimiter | None = None
        self._redis_down_until = 0.0
        self._redis_down = False

    @property
    def shared(self) -> bool:
        """Are the limits kept in Redis (when it answers)?"""
        return bool(self.redis_url)

    def _connect(self) -> MovingWindowRateLimiter | None:
        if not self.redis_url:
            return None
        if self._redis is None:
            # Created on first use, inside the server's event loop.
            self._redis_storage = RedisStorage(
                "async+" + self.redis_url,
                wrap_exceptions=True,
                implementation="redispy",
                key_prefix=f"{self.prefix}limits",
                # No socket_timeout (bounded by asyncio.timeout in _call): redis-py's uses
                # asyncio.wait_for, which can swallow a cancellation on Python 3.11.
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            )
            self._redis = MovingWindowRateLimiter(self._redis_storage)
        return self._redis

    async def _call(self, op: str, rule: Rule, key: tuple[str, ...]) -> Any:
        redis = self._connect() if time.monotonic() >= self._redis_down_until else None
        if redis is not None:
            try:
                try:
                    async with asyncio.timeout(REDIS_TIMEOUT_SECONDS):
                        done = await _apply(redis, op, rule, key)
                except Exception:  # once more: a pooled connection may predate a restart
                    async with asyncio.timeout(REDIS_TIMEOUT_SECONDS):
                        done = await _apply(redis, op, rule, key)
            except Exception as exc:  # any storage failure: count here instead
                self._redis_down_until = time.monotonic() + self.retry_seconds
                if not self._redis_down:
                    self._redis_down = True
                    log.warning(
                        "rate limits: Redis is unreachable (%s); counting in this process's "
                        "memory until it is back",
                        exc,
                    )
            else:
                if self._redis_down:
                    self._redis_down = False
                    log.warning("rate limits: Redis is back; limits are shared again")
                return done
        return await _apply(self._memory, op, rule, key)

    async def hit(self, rule: Rule, *key: str) -> bool:
        """Count one hit; False (and nothing counted) when the key is over its limit."""
        return bool(await self._call("hit", rule, key))

    async def allows(self, rule: Rule, *key: str) -> bool:
        """Would one more hit be allowed? (counts nothing)"""
        return bool(await self._call("test", rule, key))

    async def retry_after(self, rule: Rule, *key: str) -> float:
        """Seconds until the key may hit again (0 when it may now)."""
        stats = await self._call("get_window_stats", rule, key)
        if stats.remaining > 0:
            return 0.0
        return max(0.0, float(stats.reset_time) - time.time())

    async def mark(self, rule: Rule, *key: str) -> None:
        """Remember `key` for `rule.window` seconds (a marker, e.g. a known address)."""
        await self._call("mark", rule, key)

    async def marked(self, rule: Rule, *key: str) -> bool:
        """Was `key` marked less than `rule.window` seconds ago?"""
        return bool(await self._call("marked", rule, key))

    async def close(self) -> None:
        """Close the Redis connections, if any were opened."""
        storage = self._redis_storage
        client = getattr(getattr(storage, "bridge", None), "storage", None)
        if client is not None:
            try:
                await client.aclose()
            except Exception as exc:  # closing a dead connection
                log.debug("closing the rate-limit Redis client: %s", exc)


async def _apply(
    limiter: MovingWindowRateLimiter, op: str, rule: Rule, key: tuple[str, ...]
) -> Any:
    item = rule.item
    if op == "hit":
        return await limiter.hit(item, rule.name, *key)
    if op == "test":
        return await limiter.test(item, rule.name, *key)
    if op == "get_window_stats":
        return await limiter.get_window_stats(item, rule.name, *key)
    marker = item.key_for(rule.name, *key)
    if op == "mark":
        return await limiter.storage.incr(marker, item.get_expiry())
    if op == "marked":
        return await limiter.storage.get(marker) > 0
    raise ValueError(op)
