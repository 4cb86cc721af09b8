"""A per-speaker voice-activity gate on the mixer's levels: pure logic, no I/O.

The gate opens when a speaker's level stays above `open_level` for `open_frames` ticks
(handing over the `preroll` frames before, so the first syllable is not cut), passes
frames while they talk, and closes after `hangover` ticks under the level (or after
`max_frames`, so a long monologue still gets final captions). While closed it only
keeps references to the last few frames: silence costs next to nothing.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum

from townhall.media.audio import Pcm


class Step(Enum):
    IDLE = 0  # closed, nothing to send
    OPENED = 1  # send `backlog` (preroll + this frame) as a new utterance
    FEED = 2  # send this frame
    CLOSED = 3  # send this frame, then end the utterance


@dataclass(frozen=True)
class GateConfig:
    open_level: float = 0.25  # about -45 dBFS on the mixer's 0..1 scale
    open_frames: int = 2
    preroll: int = 10  # 200 ms
    hangover: int = 25  # 500 ms
    max_frames: int = 750  # 15 s


class SpeechGate:
    def __init__(self, config: GateConfig | None = None) -> None:
        self.config = config or GateConfig()
        self._recent: deque[Pcm] = deque(maxlen=self.config.preroll + self.config.open_frames)
        self.open = False
        self._loud = 0
        self._quiet = 0
        self.frames = 0  # frames in the open utterance
        self.backlog: list[Pcm] = []

    def push(self, pcm: Pcm | None, level: float) -> Step:
        c = self.config
        if not self.open:
            if pcm is not None:
                self._recent.append(pcm)
            self._loud = self._loud + 1 if level >= c.open_level else 0
            if self._loud < c.open_frames:
                return Step.IDLE
            self.open, self._quiet = True, 0
            self.backlog = list(self._recent)
            self._recent.clear()
            self.frames = len(self.backlog)
            return Step.OPENED
        self.frames += 1
        self._quiet = 0 if level >= c.open_level else self._quiet + 1
        if self._quiet >= c.hangover or self.frames >= c.max_frames:
            self.reset()
            return Step.CLOSED
        return Step.FEED

    def reset(self) -> None:
        self.open, self._loud, self._quiet, self.frames = False, 0, 0, 0
        self.backlog = []
