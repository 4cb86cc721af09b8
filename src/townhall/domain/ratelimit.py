"""A sliding-window rate limiter: pure, the caller passes the time."""

from __future__ import annotations

from collections import deque

from townhall.domain.errors import RateLimited


class SlidingWindow:
    """At most `limit` hits per `window` seconds for each key."""

    def __init__(self, limit: int, window: float, *, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}

    def retry_after(self, key: str, now: float) -> float:
        """Seconds until `key` may act again; 0 when it may act now."""
        hits = self._hits.get(key)
        if not hits:
            return 0.0
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) < self.limit:
            return 0.0
        return hits[0] + self.window - now

    def hit(self, key: str, now: float, what: str = "attempts") -> None:
        """Record one hit, or raise RateLimited when the key is over its limit."""
        wait = self.retry_after(key, now)
        if wait > 0:
            raise RateLimited("rate_limited", f"too many {what}; try again in {int(wait) + 1} s")
        if key not in self._hits and len(self._hits) >= self.max_keys:
            self._evict(now)
        self._hits.setdefault(key, deque()).append(now)

    def _evict(self, now: float) -> None:
        stale = [k for k, h in self._hits.items() if not h or h[-1] <= now - self.window]
        for k in stale:
            del self._hits[k]
        if len(self._hits) >= self.max_keys:  # still full: drop the oldest keys
            for k in list(self._hits)[: len(self._hits) // 2]:
                del self._hits[k]
