"""The room's 20 ms clock and the mixing arithmetic (saturating sums, mix-minus-self)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from townhall.clock import SYSTEM_CLOCK, Clock
from townhall.media.audio import FRAME_SAMPLES, FRAME_SECONDS, Pcm, saturate, silence

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Mix:
    """One tick's mix: the full sum (wide, unclipped) and the frames that went into it."""

    total: npt.NDArray[np.int32]
    frames: Mapping[int, Pcm] = field(default_factory=dict)

    @property
    def full(self) -> Pcm:
        """Everyone on stage, clipped to int16: what listeners hear."""
        return saturate(self.total)

    def minus(self, key: int) -> Pcm:
        """Everyone but `key`: what that speaker hears (no echo of their own voice)."""
        own = self.frames.get(key)
        if own is None:
            return self.full
        return saturate(self.total - own)


def mix(frames: Mapping[int, Pcm]) -> Mix:
    """Sum 960-sample frames in 32 bits (clipping happens once, per output)."""
    total = np.zeros(FRAME_SAMPLES, dtype=np.int32)
    for pcm in frames.values():
        total += pcm
    return Mix(total=total, frames=dict(frames))


SILENT_MIX = Mix(total=silence().astype(np.int32))


class FrameClock:
    """Calls `tick(index, skipped)` every 20 ms on absolute deadlines, without drift.

    When the loop falls more than one period behind, the missed ticks are skipped (and
    reported in `skipped`) instead of being run in a burst.
    """

    def __init__(
        self,
        tick: Callable[[int, int], None],
        period: float = FRAME_SECONDS,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._tick = tick
        self._period = period
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self.ticks = 0
        self.skipped = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="townhall-mix-clock")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self) -> None:
        now = self._clock.monotonic
        start = now()
        index = 0
        while True:
            delay = start + index * self._period - now()
            if delay > 0:
                await self._clock.sleep(delay)
            due = int((now() - start) / self._period)
            skipped = 0
            if due - index >= 2:
                skipped = due - index
                index = due
                self.skipped += skipped
            try:
                self._tick(index, skipped)
            except Exception:  # one bad tick must not end the room
                log.exception("mix tick %d failed", index)
            self.ticks += 1
            index += 1
            if delay <= 0:
                await asyncio.sleep(0)  # never starve the loop when running late
