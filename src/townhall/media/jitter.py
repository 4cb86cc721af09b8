"""Per-speaker playout buffer of decoded PCM, indexed by media timestamp.

Bounded: it never holds more than `max_delay` samples, and delay cannot creep up: when
more than the prefetch stayed buffered at every pop for `drain_after_frames` pops (a burst
of packets after a network or sender stall leaves a standing backlog), the excess is
dropped. Data for a time already played out is late and dropped; a reordered packet that
arrives before its time is played fills its place; a gap is concealed by repeating the last
frame once (faded) and then by silence. After a long silence the buffer goes idle and the
next frame re-anchors it with a short prefetch.

Timestamps are media time in samples on a line that does not wrap (the caller unwraps RTP's
32-bit timestamps: `TimestampUnwrapper`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from townhall.media.audio import FRAME_SAMPLES, Pcm, silence


@dataclass
class JitterStats:
    """Counters for tests and diagnostics."""

    pushed: int = 0
    late: int = 0
    overflow_samples: int = 0
    drained_samples: int = 0
    filled: int = 0
    concealed: int = 0
    resets: int = 0


class TimestampUnwrapper:
    """RTP's 32-bit timestamps onto a line that does not wrap (reordering-safe)."""

    def __init__(self) -> None:
        self._last: int | None = None

    def unwrap(self, timestamp: int) -> int:
        if self._last is None:
            self._last = timestamp
            return timestamp
        delta = ((timestamp - self._last + 0x8000_0000) & 0xFFFF_FFFF) - 0x8000_0000
        value = self._last + delta
        if delta > 0:
            self._last = value
        return value


class JitterBuffer:
    """Timestamp-ordered samples between decoder and mixer; one per speaker."""

    def __init__(
        self,
        *,
        prefetch: int = FRAME_SAMPLES,
        max_delay: int | None = None,
        idle_after_frames: int = 10,
        resync_samples: int = 48_000,
        drain_after_frames: int = 50,
    ) -> None:
        if max_delay is None:
            max_delay = max(6 * FRAME_SAMPLES, prefetch + 4 * FRAME_SAMPLES)
        if not 0 <= prefetch < max_delay:
            raise ValueError("need 0 <= prefetch < max_delay")
        self._prefetch = prefetch
        self._max_delay = max_delay
        self._idle_after = idle_after_frames
        self._resync = resync_samples
        # What stays buffered right after a pop when packets arrive evenly.
        self._standing = max(0, prefetch - FRAME_SAMPLES)
        self._drain_after = drain_after_frames
        self._floor = max_delay  # least depth left after a pop in the current window
        self._window = 0
        self._buf: Pcm = silence(0)
        self._play_pts: int | None = None  # media time of _buf[0]
        self._started = False
        self._misses = 0
        self._last: Pcm | None = None
        self.stats = JitterStats()

    @property
    def depth(self) -> int:
        """Samples buffered ahead of the playout point."""
        return int(self._buf.size)

    def clear(self) -> None:
        """Forget everything (muted, demoted): the next frame starts afresh."""
        self._buf = silence(0)
        self._play_pts = None
        self._started = False
        self._misses = 0
        self._last = None
        self._reset_window()

    def push(self, pcm: Pcm, pts: int | None) -> None:
        """Add decoded samples whose first sample has media time `pts` (None: contiguous)."""
        if pcm.size == 0:
            return
        self.stats.pushed += 1
        if self._play_pts is None:
            self._anchor(pcm, pts)
            return
        end = self._play_pts + self._buf.size
        if pts is None:
            pts = end
        gap = pts - end
        if abs(gap) > self._resync:
            self.stats.resets += 1
            self._anchor(pcm, pts)
            return
        if gap > 0:
            # Lost packets: fill the hole with silence so later audio keeps its place.
            self._buf = np.concatenate([self._buf, silence(gap), pcm])
        elif gap < 0:
            overlap = -gap
            offset = pts - self._play_pts  # where it starts in _buf (negative: played)
            if offset + pcm.size <= 0:
                self.stats.late += 1
                return
            # Reordered (or duplicate): fill its place, the part not played yet.
            start = max(0, offset)
            inside = min(pcm.size, overlap)
            self._buf[start : offset + inside] = pcm[start - offset : inside]
            self.stats.filled += 1
            if overlap < pcm.size:
                self._buf = np.concatenate([self._buf, pcm[overlap:]])
        else:
            self._buf = np.concatenate([self._buf, pcm])
        self._bound()

    def pop(self) -> Pcm | None:
        """The next 20 ms for the mixer, or None while idle or prefetching."""
        if self._play_pts is None:
            return None
        if not self._started:
            if self._buf.size < self._prefetch:
                return None
            self._started = True
        if self._buf.size >= FRAME_SAMPLES:
            out = self._buf[:FRAME_SAMPLES]
            self._buf = self._buf[FRAME_SAMPLES:]
            self._play_pts += FRAME_SAMPLES
            self._misses = 0
            self._last = out
            self._drain_standing_excess()
            return out
        self._reset_window()
        return self._conceal()

    def skip(self, frames: int) -> None:
        """Discard `frames` frames of playout (the clock skipped ticks)."""
        for _ in range(max(0, frames)):
            if self.pop() is None:
                return

    def _reset_window(self) -> None:
        self._floor = self._max_delay
        self._window = 0

    def _drain_standing_excess(self) -> None:
        """Drop a backlog that every pop of the last window left unused (pure delay)."""
        self._floor = min(self._floor, self._buf.size)
        self._window += 1
        if self._window < self._drain_after:
            return
        excess = self._floor - self._standing
        self._reset_window()
        if excess > 0:
            assert self._play_pts is not None
            self.stats.drained_samples += excess
            self._buf = self._buf[excess:]
            self._play_pts += excess

    def _conceal(self) -> Pcm | None:
        assert self._play_pts is not None
        self.stats.concealed += 1
        self._misses += 1
        if self._misses > self._idle_after:
            self.clear()
            return None
        partial = self._buf
        self._buf = silence(0)
        self._play_pts += FRAME_SAMPLES
        if partial.size:
            return np.concatenate([partial, silence(FRAME_SAMPLES - partial.size)])
        if self._misses == 1 and self._last is not None:
            faded = self._last.astype(np.float32) * np.linspace(0.5, 0.0, FRAME_SAMPLES)
            return faded.astype(np.int16)
        return silence()

    def _anchor(self, pcm: Pcm, pts: int | None) -> None:
        self._buf = pcm.copy()
        self._play_pts = pts if pts is not None else 0
        self._started = False
        self._misses = 0
        self._bound()

    def _bound(self) -> None:
        excess = self._buf.size - self._max_delay
        if excess > 0:
            assert self._play_pts is not None
            self.stats.overflow_samples += excess
            self._buf = self._buf[excess:]
            self._play_pts += excess
