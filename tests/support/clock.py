"""A clock that moves only when the test says so (or when code sleeps on it)."""

from __future__ import annotations

import asyncio


class ManualClock:
    """`monotonic()`/`time()` return the current manual time; `sleep(s)` advances it by `s`
    at once (and yields to the loop once), so that code waiting on it runs without delay."""

    def __init__(self, start: float = 1_000.0, wall_offset: float = 1.7e9) -> None:
        self.now = start
        self._wall_offset = wall_offset
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now + self._wall_offset

    def advance(self, seconds: float) -> None:
        assert seconds >= 0
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)
