"""Per-speaker playout buffer of decoded PCM, indexed by media timestamp.

Adaptive playout delay (NetEQ-style, from the order of pushes and pops alone: no clock).
The configured prefetch is the *minimum* target delay. When a packet arrives after its
time was played out as concealment (late, not a duplicate), the target rises by one frame
(at most once per `raise_interval_frames` pops, up to `max_target`) and playout is held
back by one frame: the frame just concealed is re-opened so the late packet still plays
(`rescued`), or, if it cannot be, one more frame is concealed now so the following packets
arrive in time. After `lower_after_frames` pops without late packets or underruns in which
every packet arrived at least a frame ahead of its time, the target steps down one frame
(never below the minimum) and a frame of audio is dropped, at a quiet moment if one comes.

Bounded: it never holds more than `max_delay` samples, and delay cannot creep up: when
more than the current target stayed buffered at every pop for `drain_after_frames` pops (a
burst of packets after a network or sender stall leaves a standing backlog), the excess is
dropped. Data for a time already played out is late and dropped; a reordered packet that
arrives before its time is played fills its place; a gap is concealed by repeating the last
frame once (faded) and then by silence. After a long silence the buffer goes idle and the
next frame re-anchors it with a prefetch of the current target (the learned target is kept:
it belongs to the network path, not to the talk spurt).

Timestamps are media time in samples on a line that does not wrap (the caller unwraps RTP's
32-bit timestamps: `TimestampUnwrapper`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from townhall.media.audio import FRAME_SAMPLES, Pcm, level, silence

DEFAULT_MAX_TARGET = 10 * FRAME_SAMPLES  # 200 ms
QUIET_LEVEL = 0.25  # `level` of a frame that may be dropped unnoticed (-45 dBFS or quieter)
LOWER_WAIT_FRAMES = 25  # pops to wait for a quiet frame before dropping one anyway


@dataclass
class JitterStats:
    """Counters for tests and diagnostics (samples are 48 kHz)."""

    pushed: int = 0
    late: int = 0  # packets dropped: their time was already played out
    overflow_samples: int = 0
    drained_samples: int = 0
    filled: int = 0
    concealed: int = 0
    resets: int = 0
    rescued: int = 0  # late packets played after all: playout was held back for them
    target_samples: int = 0  # the current playout target delay
    target_raises: int = 0
    target_lowers: int = 0
    lowered_samples: int = 0  # audio dropped to come down to a lowered target


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
        max_target: int | None = None,
        idle_after_frames: int = 10,
        resync_samples: int = 48_000,
        drain_after_frames: int = 50,
        raise_interval_frames: int = 5,
        lower_after_frames: int = 400,
    ) -> None:
        if max_delay is None:
            top = DEFAULT_MAX_TARGET if max_target is None else max_target
            max_delay = max(
                6 * FRAME_SAMPLES, prefetch + 4 * FRAME_SAMPLES, top + 2 * FRAME_SAMPLES
            )
        if not 0 <= prefetch < max_delay:
            raise ValueError("need 0 <= prefetch < max_delay")
        if max_target is None:
            max_target = min(DEFAULT_MAX_TARGET, max_delay - 2 * FRAME_SAMPLES)
        max_target = max(prefetch, max_target)
        if max_target >= max_delay:
            raise ValueError("need max_target < max_delay")
        self._min_target = prefetch
        self._max_target = max_target
        self._target = prefetch
        self._max_delay = max_delay
        self._idle_after = idle_after_frames
        self._resync = resync_samples
        self._drain_after = drain_after_frames
        self._raise_interval = raise_interval_frames
        self._lower_after = lower_after_frames
        self._floor = max_delay  # least depth left after a pop in the current window
        self._window = 0
        self._buf: Pcm = silence(0)
        self._play_pts: int | None = None  # media time of _buf[0]
        self._started = False
        self._misses = 0
        self._last: Pcm | None = None
        # Adaptation state.
        self._since_raise = raise_interval_frames  # pops since the target last rose
        self._quiet = 0  # pops since the last late packet, underrun or target change
        self._min_slack: int | None = None  # least (pts - playout point) of a push since then
        self._hold = 0  # frames of playout to hold back (conceal without consuming)
        self._lower = 0  # samples still to drop after the target was lowered
        self._lower_wait = 0
        self._missing: deque[tuple[int, int]] = deque(maxlen=32)  # media times played without data
        self._prev_concealed = False  # the last frame of media time played was a concealment
        self._reopened: int | None = None  # media time of a re-opened frame not filled yet
        self._skipping = False
        self.stats = JitterStats(target_samples=prefetch)

    @property
    def depth(self) -> int:
        """Samples buffered ahead of the playout point."""
        return int(self._buf.size)

    @property
    def target(self) -> int:
        """The current playout target delay in samples (prefetch <= target <= max)."""
        return self._target

    @property
    def _standing(self) -> int:
        """What stays buffered right after a pop when packets arrive evenly."""
        return max(0, self._target - FRAME_SAMPLES)

    def clear(self) -> None:
        """Forget the audio (muted, demoted): the next frame starts afresh (the target stays)."""
        self._buf = silence(0)
        self._play_pts = None
        self._last = None
        self._reset_playout()

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
        if abs(pts - end) > self._resync:
            self.stats.resets += 1
            self._anchor(pcm, pts)
            return
        if pts + pcm.size <= self._play_pts:
            if not self._late(pts, pcm.size):
                self.stats.late += 1
                return
            self.stats.rescued += 1
            end = self._play_pts + self._buf.size
        else:
            slack = pts - self._play_pts
            self._min_slack = slack if self._min_slack is None else min(self._min_slack, slack)
        if self._reopened is not None and pts <= self._reopened < pts + pcm.size:
            self._reopened = None
        gap = pts - end
        if gap > 0:
            # Lost packets: fill the hole with silence so later audio keeps its place.
            self._missing.append((end, pts))
            self._buf = np.concatenate([self._buf, silence(gap), pcm])
        elif gap < 0:
            overlap = -gap
            offset = pts - self._play_pts  # where it starts in _buf (negative: played)
            # Reordered (or duplicate): fill its place, the part not played yet.
            start = max(0, offset)
            inside = min(pcm.size, overlap)
            self._buf[start : offset + inside] = pcm[start - offset : inside]
            self.stats.filled += 1
            filled_from, filled_to = self._play_pts + start, self._play_pts + offset + inside
            self._missing = deque(
                ((a, b) for a, b in self._missing if not filled_from <= a < b <= filled_to),
                maxlen=self._missing.maxlen,
            )
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
            if self._buf.size < self._target:
                return None
            self._started = True
        self._since_raise += 1
        if self._hold:
            self._hold -= 1
            return self._conceal(advance=False)
        self._drop_for_lower_target()
        if self._buf.size >= FRAME_SAMPLES and self._reopened != self._play_pts:
            out = self._buf[:FRAME_SAMPLES]
            self._buf = self._buf[FRAME_SAMPLES:]
            self._play_pts += FRAME_SAMPLES
            self._misses = 0
            self._last = out
            self._prev_concealed = False
            self._drain_standing_excess()
            self._lower_target_if_quiet()
            return out
        self._reset_window()
        return self._conceal(advance=True)

    def skip(self, frames: int) -> None:
        """Discard `frames` frames of playout (the clock skipped ticks).

        The server fell behind, not the network: packets for the skipped time that arrive
        afterwards are late and dropped, but do not raise the target.
        """
        self._skipping = True
        try:
            for _ in range(max(0, frames)):
                if self.pop() is None:
                    return
        finally:
            self._skipping = False

    # -- adaptation --------------------------------------------------------

    def _late(self, pts: int, size: int) -> bool:
        """A packet for a time already played: raise the target if it shows jitter.

        True when playout was held back so that the packet still plays. A packet for a time
        that was played from data (a duplicate) changes nothing.
        """
        self._reset_quiet()
        if not any(a < pts + size and pts < b for a, b in self._missing):
            return False
        if not self._raise_target():
            return False
        assert self._play_pts is not None
        return pts + size > self._play_pts

    def _raise_target(self) -> bool:
        if (
            self._since_raise < self._raise_interval
            or self._target + FRAME_SAMPLES > self._max_target
        ):
            return False
        self._target += FRAME_SAMPLES
        self.stats.target_raises += 1
        self.stats.target_samples = self._target
        self._since_raise = 0
        self._lower = 0
        self._reset_window()
        assert self._play_pts is not None
        if self._prev_concealed and self._reopened is None:
            # The frame just concealed plays again: the late packet (or a later one) fills
            # it, or it is concealed once more. Either way playout is a frame later.
            self._buf = np.concatenate([silence(), self._buf])
            self._play_pts -= FRAME_SAMPLES
            self._reopened = self._play_pts
            self._prev_concealed = False
        else:
            self._hold += 1
        return True

    def _lower_target_if_quiet(self) -> None:
        """After a quiet period in which every packet came a frame early, step down."""
        self._quiet += 1
        if self._quiet < self._lower_after:
            return
        slack = self._min_slack
        self._reset_quiet()
        if self._target <= self._min_target or slack is None or slack < FRAME_SAMPLES:
            return
        self._target = max(self._min_target, self._target - FRAME_SAMPLES)
        self.stats.target_lowers += 1
        self.stats.target_samples = self._target
        self._lower += FRAME_SAMPLES
        self._lower_wait = 0
        self._reset_window()

    def _drop_for_lower_target(self) -> None:
        """Drop a frame owed to a lowered target, at a quiet frame if one comes soon."""
        if not self._lower:
            return
        self._lower_wait += 1
        if self._buf.size < self._lower + FRAME_SAMPLES or self._reopened is not None:
            if self._lower_wait > 2 * LOWER_WAIT_FRAMES:
                self._lower = 0  # the buffer is already that low: nothing to drop
            return
        drop = self._buf[: self._lower]
        if self._lower_wait <= LOWER_WAIT_FRAMES and level(drop) > QUIET_LEVEL:
            return
        assert self._play_pts is not None
        self.stats.lowered_samples += self._lower
        self._buf = self._buf[self._lower :]
        self._play_pts += self._lower
        self._lower = 0
        self._reset_window()

    def _reset_quiet(self) -> None:
        self._quiet = 0
        self._min_slack = None

    # -- internals ---------------------------------------------------------

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
            self._lower = max(0, self._lower - excess)

    def _conceal(self, *, advance: bool) -> Pcm | None:
        """A frame without data; `advance=False` holds playout back (consumes nothing)."""
        assert self._play_pts is not None
        self.stats.concealed += 1
        self._misses += 1
        self._reset_quiet()
        if self._misses > self._idle_after:
            self.clear()
            return None
        partial = silence(0)
        if advance:
            if self._reopened == self._play_pts:  # re-opened for a late packet that never came
                self._reopened = None
                self._buf = self._buf[FRAME_SAMPLES:]
            else:
                partial, self._buf = self._buf, silence(0)
            if not self._skipping:  # evidence of jitter when its packet comes late
                self._missing.append(
                    (self._play_pts + partial.size, self._play_pts + FRAME_SAMPLES)
                )
            self._play_pts += FRAME_SAMPLES
            self._prev_concealed = not self._skipping
        if partial.size:
            return np.concatenate([partial, silence(FRAME_SAMPLES - partial.size)])
        if self._misses == 1 and self._last is not None:
            faded = self._last.astype(np.float32) * np.linspace(0.5, 0.0, FRAME_SAMPLES)
            return faded.astype(np.int16)
        return silence()

    def _anchor(self, pcm: Pcm, pts: int | None) -> None:
        self._buf = pcm.copy()
        self._play_pts = pts if pts is not None else 0
        self._reset_playout()
        self._bound()

    def _reset_playout(self) -> None:
        """Playout starts afresh from the buffer's head (the learned target stays)."""
        self._started = False
        self._misses = 0
        self._hold = 0
        self._lower = 0
        self._prev_concealed = False
        self._reopened = None
        self._missing.clear()
        self._reset_window()
        self._reset_quiet()

    def _bound(self) -> None:
        excess = self._buf.size - self._max_delay
        if excess > 0:
            assert self._play_pts is not None
            self.stats.overflow_samples += excess
            self._buf = self._buf[excess:]
            self._play_pts += excess
