"""AAC-LC mono in fragmented MP4 (CMAF): PyAV's AAC encoder and its mp4 muxer.

The muxer writes the init segment (`ftyp` + empty `moov`) when it starts and one
`moof` + `mdat` fragment each time a fragment reaches `frag_duration`; every AAC frame is
a sync sample, so each fragment is an independent part. We only split the muxer's output
at its top-level box boundaries (and read the fragment's sample count from its `trun`);
the boxes are the muxer's.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import av
import numpy as np

from townhall.media.audio import SAMPLE_RATE, Pcm

AAC_FRAME = 1024  # samples per AAC-LC frame
# The muxer's decode times count the encoder's priming frame: the sample decoded at
# decode time t is input sample t - PRIMING_SAMPLES.
PRIMING_SAMPLES = 1024
FRAMES_PER_PART = 23  # 23 x 1024 / 48 kHz = 0.4907 s: the largest part within 0.5 s
PART_SAMPLES = FRAMES_PER_PART * AAC_FRAME
BITRATE = 64_000
MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof+cmaf"


@dataclass(frozen=True)
class Fragment:
    """One `moof` + `mdat`: a part, `samples` long (48 kHz), starting at `decode_time`."""

    data: bytes
    samples: int
    decode_time: int

    @property
    def seconds(self) -> float:
        return self.samples / SAMPLE_RATE


class BoxCollector(io.RawIOBase):
    """The muxer's output file: gathers bytes and hands out whole top-level boxes."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._buffer += data
        return len(data)

    def boxes(self) -> list[tuple[bytes, bytes]]:
        """Every complete top-level box written so far, as (type, bytes)."""
        out: list[tuple[bytes, bytes]] = []
        buffer = self._buffer
        offset = 0
        while len(buffer) - offset >= 8:
            size, kind = struct.unpack_from(">I4s", buffer, offset)
            if size == 1 and len(buffer) - offset >= 16:
                size = struct.unpack_from(">Q", buffer, offset + 8)[0]
            if size < 8 or len(buffer) - offset < size:
                break
            out.append((bytes(kind), bytes(buffer[offset : offset + size])))
            offset += size
        del buffer[:offset]
        return out


def _children(box: bytes, header: int = 8) -> list[tuple[bytes, bytes]]:
    out = []
    offset = header
    while offset + 8 <= len(box):
        size, kind = struct.unpack_from(">I4s", box, offset)
        if size < 8:
            break
        out.append((bytes(kind), box[offset : offset + size]))
        offset += size
    return out


def fragment_timing(moof: bytes) -> tuple[int, int]:
    """(sample count, base decode time) of a one-track `moof`, read from `trun` and `tfdt`."""
    samples, decode_time = 0, 0
    for kind, traf in _children(moof):
        if kind != b"traf":
            continue
        for child, body in _children(traf):
            if child == b"trun":
                samples += struct.unpack_from(">I", body, 12)[0]
            elif child == b"tfdt":
                version = body[8]
                decode_time = (
                    struct.unpack_from(">Q", body, 12)[0]
                    if version == 1
                    else struct.unpack_from(">I", body, 12)[0]
                )
    return samples, decode_time


class CmafEncoder:
    """Feed 48 kHz mono int16 PCM; get the init segment once and parts as they complete."""

    def __init__(self, bitrate: int = BITRATE, part_samples: int = PART_SAMPLES) -> None:
        if part_samples % AAC_FRAME:
            raise ValueError("parts are whole AAC frames")
        self._out = BoxCollector()
        # The fragment is cut before the packet that would make it reach frag_duration:
        # a threshold just under the part's length cuts exactly `part_samples`.
        frag_us = (part_samples - AAC_FRAME // 2) * 1_000_000 // SAMPLE_RATE
        self._container = av.open(
            self._out,
            "w",
            format="mp4",
            options={"movflags": MOVFLAGS, "frag_duration": str(frag_us)},
        )
        stream = self._container.add_stream("aac", rate=SAMPLE_RATE)
        stream.layout = "mono"
        stream.bit_rate = bitrate
        self._stream = stream
        self._container.start_encoding()
        self.init = b"".join(data for _, data in self._out.boxes())
        if b"moov" not in self.init:
            raise RuntimeError("the mp4 muxer wrote no init segment")
        self._pending = np.zeros(0, dtype=np.float32)
        self._pts = 0
        self._moof: bytes | None = None
        self.closed = False

    def write(self, pcm: Pcm) -> list[Fragment]:
        """Add samples; returns the parts completed by them (usually none, or one)."""
        if self.closed:
            return []
        self._pending = np.concatenate((self._pending, pcm.astype(np.float32) / 32768.0))
        while self._pending.size >= AAC_FRAME:
            chunk, self._pending = self._pending[:AAC_FRAME], self._pending[AAC_FRAME:]
            frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="fltp", layout="mono")
            frame.sample_rate = SAMPLE_RATE
            frame.pts = self._pts
            self._pts += AAC_FRAME
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        return self._fragments()

    def close(self) -> list[Fragment]:
        """Flush the encoder and the muxer; returns the last (shorter) parts."""
        if self.closed:
            return []
        self.closed = True
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            self._container.close()
        except (av.FFmpegError, ValueError):
            return []
        return self._fragments()

    def _fragments(self) -> list[Fragment]:
        out = []
        for kind, data in self._out.boxes():
            if kind == b"moof":
                self._moof = data
            elif kind == b"mdat" and self._moof is not None:
                samples, decode_time = fragment_timing(self._moof)
                out.append(Fragment(self._moof + data, samples * AAC_FRAME, decode_time))
                self._moof = None
        return out
