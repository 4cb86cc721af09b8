"""What a room hands its full mix to, every tick, besides the listeners' encoder.

A `MixSink` gets each 20 ms frame of the full mix (48 kHz mono int16, what listeners
hear) with its tick index; the room calls `write` on the mixer's clock, so a sink must
be quick (no I/O, no awaiting) and must not keep the array. Skipped ticks show as a gap
in the index. `close` is called once when the room closes (`ended`: the space ended).
The HLS packager is one; a captioner can be another.
"""

from __future__ import annotations

from typing import Protocol

from townhall.media.audio import Pcm


class MixSink(Protocol):
    def write(self, index: int, pcm: Pcm) -> None: ...

    def close(self, ended: bool) -> None: ...
