"""Replays as VOD HLS: fMP4 AAC segments cut on demand from the recording (Ogg Opus).

Segment n covers recording samples [n * SEGMENT_SAMPLES, (n + 1) * SEGMENT_SAMPLES) and
its decode times are those sample positions (`tfdt` = n * SEGMENT_SAMPLES), so a player
seeks by fetching the one segment it needs. Each segment has its own AAC encoder, started
`WARMUP_SAMPLES` earlier with the warm-up packets dropped, so segments join without the
encoder's priming gap; decoding starts `OPUS_PREROLL` before that (Opus needs 80 ms to
converge after a seek). PyAV's mp4 muxer writes the boxes (`frag_discont` with no edit
list keeps the absolute decode times); the playlist (pure) is ours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import av
import numpy as np

from townhall.media.audio import SAMPLE_RATE
from townhall.media.hls.cmaf import AAC_FRAME, BITRATE, BoxCollector

SEGMENT_FRAMES = 282  # 282 x 1024 / 48 kHz = 6.016 s
SEGMENT_SAMPLES = SEGMENT_FRAMES * AAC_FRAME
TARGET_DURATION = round(SEGMENT_SAMPLES / SAMPLE_RATE)
WARMUP_SAMPLES = 2 * AAC_FRAME
OPUS_PREROLL = 3840  # 80 ms
MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof+frag_discont"
_MUX_OPTIONS = {
    "movflags": MOVFLAGS,
    "frag_duration": str(10**9),  # one fragment per segment
    "use_editlist": "0",
    "avoid_negative_ts": "disabled",
}
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"


@dataclass(frozen=True)
class VodLayout:
    """The segments of a recording `samples` long (48 kHz)."""

    samples: int

    @property
    def count(self) -> int:
        return max(1, math.ceil(self.samples / SEGMENT_SAMPLES))

    def frames(self, n: int) -> int:
        """AAC frames in segment n (the last one rounded up to a whole frame)."""
        left = min(self.samples, (n + 1) * SEGMENT_SAMPLES) - n * SEGMENT_SAMPLES
        return max(1, math.ceil(left / AAC_FRAME))

    def duration(self, n: int) -> float:
        return self.frames(n) * AAC_FRAME / SAMPLE_RATE


def render(layout: VodLayout, version: str, query: str = "") -> str:
    """The VOD media playlist; media URIs are `replay/{version}/…` plus `query`."""
    tail = f"?{query}" if query else ""
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        f"#EXT-X-TARGETDURATION:{TARGET_DURATION}",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        f'#EXT-X-MAP:URI="replay/{version}/init.mp4{tail}"',
    ]
    for n in range(layout.count):
        lines.append(f"#EXTINF:{layout.duration(n):.5f},")
        lines.append(f"replay/{version}/{n}.m4s{tail}")
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def _muxer() -> tuple[av.container.OutputContainer, av.audio.stream.AudioStream, BoxCollector]:
    out = BoxCollector()
    container = av.open(out, "w", format="mp4", options=dict(_MUX_OPTIONS))
    stream = container.add_stream("aac", rate=SAMPLE_RATE)
    stream.layout = "mono"
    stream.bit_rate = BITRATE
    container.start_encoding()
    return container, stream, out


@cache
def init_segment() -> bytes:
    """The `ftyp` + `moov` every replay segment plays with (the same for all)."""
    container, _, out = _muxer()
    init = b"".join(data for _, data in out.boxes())
    container.close()
    return init


def recording_samples(path: Path) -> int:
    """The recording's length in 48 kHz samples (from its packets' durations)."""
    total = 0
    with av.open(str(path)) as source:
        for packet in source.demux(audio=0):
            if packet.size:
                total += int(packet.duration or 0)
    return total


def _decode(path: Path, begin: int, end: int) -> np.ndarray:
    """Recording samples [begin, end) as float32 mono (zeros where the file has none)."""
    out = np.zeros(max(0, end - begin), dtype=np.float32)
    with av.open(str(path)) as source:
        stream = source.streams.audio[0]
        first: int | None = None
        start = max(0, begin - OPUS_PREROLL)
        if start > 0:
            source.seek(start, stream=stream, backward=True, any_frame=False)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        origin = stream.start_time or 0
        for frame in source.decode(stream):
            if frame.pts is None:
                continue
            at = int(frame.pts - origin)
            if first is None:
                first = at
            for chunk in resampler.resample(frame):
                pcm = chunk.to_ndarray().reshape(-1)
                lo, hi = max(at, begin), min(at + pcm.size, end)
                if hi > lo:
                    out[lo - begin : hi - begin] = pcm[lo - at : hi - at]
                at += pcm.size
            if at >= end:
                break
    return out


def cut_segment(path: Path, n: int, layout: VodLayout) -> bytes:
    """Segment n (`moof` + `mdat`) of the recording at `path`, AAC-LC mono."""
    if not 0 <= n < layout.count:
        raise IndexError(n)
    begin = n * SEGMENT_SAMPLES
    frames = layout.frames(n)
    warm = min(WARMUP_SAMPLES, begin)
    # the encoder's look-ahead: two frames past the end
    pcm = _decode(path, begin - warm, begin + (frames + 2) * AAC_FRAME)
    container, stream, out = _muxer()
    codec = stream.codec_context
    packets = []
    for offset in range(0, pcm.size - AAC_FRAME + 1, AAC_FRAME):
        frame = av.AudioFrame.from_ndarray(
            pcm[offset : offset + AAC_FRAME].reshape(1, -1), format="fltp", layout="mono"
        )
        frame.sample_rate = SAMPLE_RATE
        frame.pts = begin - warm + offset
        packets += codec.encode(frame)
    packets += codec.encode(None)
    for packet in packets:
        if packet.pts is not None and begin <= packet.pts < begin + frames * AAC_FRAME:
            container.mux(packet)
    container.close()
    return b"".join(data for kind, data in out.boxes() if kind in (b"moof", b"mdat"))
