"""Records a room's full mix: the Opus packets already encoded for listeners, muxed into
an Ogg Opus file without re-encoding.

While recording, the file is `<space_id>.ogg.part`; closing the recorder finishes it and
renames it to `<space_id>.ogg`, so a finished file is never half written. Paused stretches
are simply not written (timestamps run on from the last packet). A recorder opened on a
space that already has a finished file (its room closed when everyone left, and someone
came back) copies that file's packets first and goes on from their end.
"""

from __future__ import annotations

import contextlib
import fractions
import logging
import os
from pathlib import Path

import av

from townhall.media.audio import FRAME_SAMPLES, SAMPLE_RATE

log = logging.getLogger(__name__)

TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)


def recording_path(data_dir: Path, space_id: str) -> Path:
    """Where a space's finished recording lives."""
    return data_dir / "recordings" / f"{space_id}.ogg"


class Recorder:
    """One Ogg Opus file being written, one 20 ms packet at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".part")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._container = av.open(str(self.partial), "w", format="ogg")
        stream = self._container.add_stream("libopus", rate=SAMPLE_RATE)
        stream.layout = "mono"
        stream.time_base = TIME_BASE
        stream.codec_context.time_base = TIME_BASE
        self._stream = stream
        self._container.start_encoding()
        self.samples = 0
        self.closed = False
        if path.exists():
            self._copy(path)

    def _copy(self, previous: Path) -> None:
        try:
            with av.open(str(previous)) as source:
                for packet in source.demux(audio=0):
                    if packet.size:
                        self.write(bytes(packet), packet.duration or FRAME_SAMPLES)
        except (av.FFmpegError, OSError):
            log.exception("could not carry on the recording in %s", previous)

    @property
    def seconds(self) -> float:
        return self.samples / SAMPLE_RATE

    def write(self, payload: bytes, samples: int = FRAME_SAMPLES) -> None:
        """Append one Opus packet (20 ms unless told); empty payloads are skipped."""
        if self.closed or not payload:
            return
        packet = av.Packet(payload)
        packet.stream = self._stream
        packet.time_base = TIME_BASE
        packet.pts = packet.dts = self.samples
        packet.duration = samples
        try:
            self._container.mux(packet)
        except (av.FFmpegError, OSError):
            log.exception("writing the recording %s failed; it stops here", self.partial)
            self.close()
            return
        self.samples += samples

    def close(self) -> None:
        """Finish the file and move it to `path` (nothing is kept when nothing was written,
        or when the partial file was deleted meanwhile)."""
        if self.closed:
            return
        self.closed = True
        try:
            self._container.close()
        except (av.FFmpegError, OSError):
            log.exception("finishing the recording %s failed", self.partial)
        if not self.samples:
            with contextlib.suppress(OSError):
                self.partial.unlink()
            return
        try:
            os.replace(self.partial, self.path)
        except FileNotFoundError:  # deleted while recording (the space's data was deleted)
            log.info("the recording %s was deleted before it was finished", self.partial)
