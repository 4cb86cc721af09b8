"""The latest seconds of one HLS stream: init segment, parts, segments, and waiting.

Bounded: parts older than `keep_seconds` are dropped as new ones arrive, so nothing
grows with the length of the space. Waiting (a blocking playlist reload, a request for
the hinted part) is bounded by the caller's timeout and holds no more than an
`asyncio.Event` wait; nothing is kept per waiter.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

from townhall.media.hls.playlist import PARTS_PER_SEGMENT, PartInfo, PlaylistView, SegmentInfo

KEEP_SECONDS = 30.0


@dataclass(frozen=True)
class PartRecord:
    """One part as the packager publishes it (and the Redis relay carries it)."""

    stream: str
    msn: int
    index: int
    duration: float
    segment_start: float  # wall clock of its segment's first sample
    data: bytes


@dataclass
class _Segment:
    msn: int
    start_time: float
    parts: list[PartInfo]
    data: list[bytes]
    complete: bool = False


class HlsWindow:
    """One stream (one run of a room's packager) of one space."""

    def __init__(self, space_id: str, stream: str, init: bytes, keep_seconds: float = KEEP_SECONDS):
        self.space_id = space_id
        self.stream = stream
        self.init = init
        self.keep_seconds = keep_seconds
        self.ended = False
        self.ended_at: float | None = None
        self._segments: list[_Segment] = []
        self._changed = asyncio.Event()
        self._view: PlaylistView | None = None

    # -- producing --------------------------------------------------------

    def add(self, record: PartRecord) -> bool:
        """Add the next part; False (ignored) when it is not after the last one."""
        if self.ended or record.stream != self.stream:
            return False
        last = self._segments[-1] if self._segments else None
        if last is not None and (record.msn, record.index) <= (last.msn, len(last.parts) - 1):
            return False
        if last is None or record.msn != last.msn:
            if last is not None:
                last.complete = True
            last = _Segment(record.msn, record.segment_start, [], [])
            self._segments.append(last)
        last.parts.append(PartInfo(record.msn, record.index, record.duration))
        last.data.append(record.data)
        if record.index + 1 >= PARTS_PER_SEGMENT:
            last.complete = True
        self._trim()
        self._notify()
        return True

    def end(self) -> None:
        if self.ended:
            return
        if self._segments:
            self._segments[-1].complete = True
        self.ended = True
        self.ended_at = time.monotonic()
        self._notify()

    def _trim(self) -> None:
        total = sum(p.duration for s in self._segments for p in s.parts)
        while len(self._segments) > 2 and total - self._seconds(self._segments[0]) >= (
            self.keep_seconds
        ):
            total -= self._seconds(self._segments.pop(0))

    @staticmethod
    def _seconds(segment: _Segment) -> float:
        return sum(p.duration for p in segment.parts)

    def _notify(self) -> None:
        self._view = None
        self._changed.set()
        self._changed = asyncio.Event()

    # -- reading ----------------------------------------------------------

    def view(self) -> PlaylistView:
        if self._view is None:
            self._view = PlaylistView(
                stream=self.stream,
                segments=tuple(
                    SegmentInfo(s.msn, s.start_time, tuple(s.parts), s.complete)
                    for s in self._segments
                ),
                ended=self.ended,
            )
        return self._view

    def _segment(self, msn: int) -> _Segment | None:
        if not self._segments:
            return None
        position = msn - self._segments[0].msn
        if 0 <= position < len(self._segments):
            return self._segments[position]
        return None

    def part(self, msn: int, index: int) -> bytes | None:
        segment = self._segment(msn)
        if segment is None or index >= len(segment.data):
            return None
        return segment.data[index]

    def segment(self, msn: int) -> bytes | None:
        segment = self._segment(msn)
        if segment is None or not segment.complete:
            return None
        return b"".join(segment.data)

    @property
    def first_msn(self) -> int:
        return self._segments[0].msn if self._segments else 0

    @property
    def parts_held(self) -> int:
        return sum(len(s.parts) for s in self._segments)

    @property
    def bytes_held(self) -> int:
        return len(self.init) + sum(len(d) for s in self._segments for d in s.data)

    async def wait(self, msn: int, index: int | None, timeout: float) -> bool:
        """Wait until the playlist has that part (None: that whole segment) or ended;
        True when it has it. Never longer than `timeout`."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not self.view().has(msn, index):
            if self.ended:
                return False
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return True
