"""Per-speaker playout buffer of decoded PCM, indexed by media timestamp.

Bounded: it never holds more than `max_delay` samples, so delay cannot grow. Data for a
time already played out is late and dropped; a gap is concealed by repeating the last
frame once (faded) and then by silence. After a long silence the buffer goes idle and the
next frame re-anchors it with a short prefetch.
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
    concealed: int = 0
    resets: int = 0


class JitterBuffer:
    """Timestamp-ordered samples between decoder and mixer; one per speaker."""

    def __init__(
        self,
        *,
        prefetch: int = 2 * FRAME_SAMPLES,
        max_delay: int = 6 * FRAME_SAMPLES,
        idle_after_frames: int = 10,
        resync_samples: int = 48_000,
    ) -> None:
        if not 0 < prefetch < max_delay:
            raise ValueError("need 0 < prefetch < max_delay")
        self._prefetch = prefetch
        self._max_delay = max_delay
        self._idle_after = idle_after_frames
        self._resync = resync_samples
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
            if overlap >= pcm.size:
                self.stats.late += 1
                return
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
            return out
        return self._conceal()

    def skip(self, frames: int) -> None:
        """Discard `frames` frames of playout (the clock skipped ticks)."""
        for _ in range(max(0, frames)):
            if self.pop() is None:
                return

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
