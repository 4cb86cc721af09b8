"""Speaking levels of a room, published on the bus at most 10 times a second."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol

from townhall.bus.events import Event, Levels

log = logging.getLogger(__name__)

CHANGE_THRESHOLD = 0.05


class Publisher(Protocol):
    async def publish(self, event: Event) -> Any: ...


def changed_meaningfully(old: dict[int, float], new: dict[int, float]) -> bool:
    """True when any level moved by more than the threshold or crossed silence."""
    for user_id in old.keys() | new.keys():
        a, b = old.get(user_id, 0.0), new.get(user_id, 0.0)
        if (a == 0.0) != (b == 0.0) or abs(a - b) > CHANGE_THRESHOLD:
            return True
    return False


class LevelReporter:
    """Collects per-tick levels; every `window` ticks publishes the window's peaks if changed.

    While someone is audible, the levels are also re-sent every `refresh` windows even when
    steady, so that a client who just joined lights up the right speakers within seconds.
    """

    def __init__(
        self, space_id: str, bus: Publisher | None, window: int = 5, refresh: int = 20
    ) -> None:
        self._space_id = space_id
        self._bus = bus
        self._window = window
        self._refresh = refresh
        self._windows_since_publish = 0
        self._peaks: dict[int, float] = {}
        self._count = 0
        self._published: dict[int, float] = {}
        self._pending: dict[int, float] | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.published_count = 0
        self._failing = False

    def start(self) -> None:
        if self._bus is not None and self._task is None:
            self._task = asyncio.create_task(self._run(), name="townhall-levels")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def add(self, levels: dict[int, float]) -> None:
        """One tick's levels of the audible speakers."""
        for user_id, value in levels.items():
            if value > self._peaks.get(user_id, 0.0):
                self._peaks[user_id] = value
            else:
                self._peaks.setdefault(user_id, 0.0)
        self._count += 1
        if self._count < self._window:
            return
        current = {u: round(v, 3) for u, v in self._peaks.items()}
        self._peaks, self._count = {}, 0
        self._windows_since_publish += 1
        steady_but_audible = self._windows_since_publish >= self._refresh and any(
            v > 0 for v in current.values()
        )
        if steady_but_audible or changed_meaningfully(self._published, current):
            self._windows_since_publish = 0
            # Users who left the stage are reported once at 0, then dropped.
            report = {u: 0.0 for u in self._published if u not in current} | current
            self._published = {u: v for u, v in current.items()}
            self._pending = report
            self._wake.set()

    async def _run(self) -> None:
        assert self._bus is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            report, self._pending = self._pending, None
            if report is None:
                continue
            levels = Levels(levels={str(u): v for u, v in report.items()})
            event = Event.of(self._space_id, levels)
            try:
                await self._bus.publish(event)
            except Exception as exc:  # the bus is away: logged once, levels are volatile
                if not self._failing:
                    self._failing = True
                    log.warning("publishing levels of %s failed (%s)", self._space_id, exc)
                continue
            self.published_count += 1
            if self._failing:
                self._failing = False
                log.warning("publishing levels of %s works again", self._space_id)
