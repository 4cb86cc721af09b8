"""What a room hands its full mix to, every tick, besides the listeners' encoder.

A `MixSink` gets each 20 ms frame of the full mix (48 kHz mono int16, what listeners
hear) with its tick index; the room calls `write` on the mixer's clock, so a sink must
be quick (no I/O, no awaiting) and must not keep the array. Skipped ticks show as a gap
in the index. `close` is called once when the room closes (`ended`: the space ended).
The HLS packager is one.

A `SpeakerSink` gets, before mixing, the frame popped from each audible speaker's jitter
buffer (missing frames are absent) and every audible speaker's level (0 when it had no
frame), once per tick; it too runs on the mixer's clock and must never block. The
captions tap is one (it queues what it keeps and drops when full).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from townhall.media.audio import Pcm


class MixSink(Protocol):
    def write(self, index: int, pcm: Pcm) -> None: ...

    def close(self, ended: bool) -> None: ...


class SpeakerSink(Protocol):
    def speakers(self, tick: int, frames: Mapping[int, Pcm], levels: Mapping[int, float]) -> None:
        """One tick's per-speaker frames (user id -> 960 samples, 48 kHz) and levels."""
        ...

    def close(self) -> None:
        """The room closed, or the sink was replaced: end what is open."""
        ...
