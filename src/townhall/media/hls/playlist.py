"""The LL-HLS media playlist of one stream, as text (pure: no I/O, no clock).

Rules followed (RFC 8216bis, Apple's LL-HLS): `EXT-X-TARGETDURATION` is the largest
segment duration rounded to the nearest integer; every `EXT-X-PART` lasts at most
`PART-TARGET`; `PART-HOLD-BACK` is at least three part targets; parts are listed only
for the segments within the last three target durations; each segment carries its
`EXT-X-PROGRAM-DATE-TIME`; an `EXT-X-PRELOAD-HINT` names the next part while the stream
is live, and `EXT-X-ENDLIST` closes an ended one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

# A part is 23 AAC frames (23 x 1024 / 48 kHz = 0.490667 s, the most that fits in half a
# second); the part target is that, rounded up, so PART-HOLD-BACK (three part targets)
# is three parts back, not four.
PART_TARGET = 0.49067
PARTS_PER_SEGMENT = 4
PART_HOLD_BACK = round(3 * PART_TARGET, 5)
TARGET_DURATION = 2
CONTENT_TYPE = "application/vnd.apple.mpegurl"


@dataclass(frozen=True)
class PartInfo:
    msn: int
    index: int
    duration: float


@dataclass(frozen=True)
class SegmentInfo:
    """A segment of the window; `complete` once its last part is in (or the stream ended)."""

    msn: int
    start_time: float  # wall clock (epoch seconds) of its first sample
    parts: tuple[PartInfo, ...]
    complete: bool

    @property
    def duration(self) -> float:
        return sum(p.duration for p in self.parts)


@dataclass(frozen=True)
class PlaylistView:
    stream: str
    segments: tuple[SegmentInfo, ...]
    ended: bool
    part_target: float = PART_TARGET
    target_duration: int = TARGET_DURATION

    @property
    def first_msn(self) -> int:
        return self.segments[0].msn if self.segments else 0

    def next_part(self) -> tuple[int, int]:
        """(msn, index) of the part that will be produced next."""
        if not self.segments:
            return 0, 0
        last = self.segments[-1]
        if last.complete:
            return last.msn + 1, 0
        return last.msn, len(last.parts)

    def has(self, msn: int, index: int | None) -> bool:
        """Does the playlist contain that part (index None: that whole segment), or later?"""
        for segment in reversed(self.segments):
            if segment.msn > msn:
                return True
            if segment.msn == msn:
                if index is None:
                    return segment.complete
                return len(segment.parts) > index or segment.complete
        return False


def program_date_time(epoch: float) -> str:
    stamp = datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def _uri(view: PlaylistView, name: str, query: str) -> str:
    return f"{view.stream}/{name}" + (f"?{query}" if query else "")


def render(view: PlaylistView, query: str = "") -> str:
    """The playlist; `query` (e.g. "token=...") is appended to every media URI."""
    longest = max((s.duration for s in view.segments if s.complete), default=0.0)
    target = max(view.target_duration, math.floor(longest + 0.5))
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:9",
        f"#EXT-X-TARGETDURATION:{target}",
        f"#EXT-X-PART-INF:PART-TARGET={view.part_target:.5f}",
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,"
        f"PART-HOLD-BACK={3 * view.part_target:.5f},HOLD-BACK={3 * target:.3f}",
        f"#EXT-X-MEDIA-SEQUENCE:{view.first_msn}",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        f'#EXT-X-MAP:URI="{_uri(view, "init.mp4", query)}"',
    ]
    if view.segments:
        # Parts stay listed for the segments that end within three target durations
        # of the live edge.
        edge = sum(s.duration for s in view.segments)
        elapsed = 0.0
        cutoff = edge - 3 * target
        for segment in view.segments:
            elapsed += segment.duration
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{program_date_time(segment.start_time)}")
            if elapsed > cutoff or not segment.complete:
                for part in segment.parts:
                    name = f"{part.msn}.{part.index}.m4s"
                    lines.append(
                        f"#EXT-X-PART:DURATION={part.duration:.5f},"
                        f'URI="{_uri(view, name, query)}",INDEPENDENT=YES'
                    )
            if segment.complete:
                lines.append(f"#EXTINF:{segment.duration:.5f},")
                lines.append(_uri(view, f"{segment.msn}.m4s", query))
    if view.ended:
        lines.append("#EXT-X-ENDLIST")
    else:
        msn, index = view.next_part()
        name = f"{msn}.{index}.m4s"
        lines.append(f'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="{_uri(view, name, query)}"')
    return "\n".join(lines) + "\n"
