"""Frame pacing for batched WebSocket clients: a busy space costs a node a bounded number
of frames per second, however many events it produces.

Sending one WebSocket frame costs tens of µs of CPU whatever it holds, so a space whose
events arrive faster than its members' sockets can be written (2,000 listeners joining
in 30 s make 4,000 events for up to 2,000 sockets) would spend the node on frames. A
batched subscription (`?batch=1`) therefore sends at most one frame per interval: the
first event after a quiet spell goes out at once, and events arriving within the
interval of the last frame wait for it and go out together, in one JSON array, in seq
order. The interval grows with the subscriptions on the node, so that all of them
together send at most `frames_per_second` frames (and never waits longer than
`max_interval`): a room of 20 feels instant, a room of 2,000 gets its busy bursts in
half-second frames.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field

from townhall.clock import SYSTEM_CLOCK, Clock, SystemClock

FRAMES_PER_SECOND = 4000.0
"""The node's frame budget for batched subscriptions (about 0.2 of a core at ~50 µs)."""
MAX_INTERVAL_SECONDS = 0.5
"""The longest an event waits for its frame, however many subscriptions share the node."""
SLOT_MIN_SECONDS = 0.005
"""The finest grid shared wake-ups are rounded to."""


@dataclass
class FramePacer:
    """One per node: counts batched subscriptions and spaces their frames.

    Waiting subscriptions share wake-ups: a wait is rounded up to the next slot on a
    grid of a quarter interval, and every subscription due in one slot awaits one
    future, set by one timer, so a node of 2,000 sockets arms a few timers per interval
    rather than one per socket and frame."""

    frames_per_second: float = FRAMES_PER_SECOND
    max_interval: float = MAX_INTERVAL_SECONDS
    clock: Clock = SYSTEM_CLOCK
    subscriptions: int = 0
    _slots: dict[tuple[float, int], asyncio.Future[None]] = field(default_factory=dict)

    def now(self) -> float:
        return self.clock.monotonic()

    def interval(self) -> float:
        """Seconds between two frames of one subscription, at the node's current size."""
        return min(self.max_interval, self.subscriptions / self.frames_per_second)

    def delay(self, last_frame_at: float | None) -> float:
        """How long a subscription whose last frame went at `last_frame_at` waits now."""
        if last_frame_at is None:
            return 0.0
        return max(0.0, last_frame_at + self.interval() - self.now())

    async def wait_turn(self, last_frame_at: float | None) -> None:
        """Wait until this subscription may send its next frame."""
        delay = self.delay(last_frame_at)
        if delay <= 0:
            return
        grid = max(SLOT_MIN_SECONDS, self.interval() / 4)
        if not isinstance(self.clock, SystemClock):
            await self.clock.sleep(delay)  # an injected clock: its own sleep
            return
        # Keyed by the grid too: a slot number means a time only on its own grid.
        slot = (grid, math.ceil((self.now() + delay) / grid))
        waiter = self._slots.get(slot)
        if waiter is None:
            loop = asyncio.get_running_loop()
            waiter = self._slots[slot] = loop.create_future()
            loop.call_at(loop.time() + slot[1] * grid - self.now(), self._release, slot)
        await asyncio.shield(waiter)  # one waiter's cancel must not cancel the others

    def _release(self, slot: tuple[float, int]) -> None:
        waiter = self._slots.pop(slot, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
