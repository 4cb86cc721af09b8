"""The room's mix into HLS: encode and mux (`CmafEncoder`), number the parts, publish."""

from __future__ import annotations

import logging
import secrets
import time
from typing import Protocol

from townhall.media.audio import FRAME_SAMPLES, SAMPLE_RATE, Pcm, silence
from townhall.media.hls.cmaf import PRIMING_SAMPLES, CmafEncoder, Fragment
from townhall.media.hls.playlist import PARTS_PER_SEGMENT
from townhall.media.hls.window import PartRecord

log = logging.getLogger(__name__)

MAX_GAP_FRAMES = 50  # skipped ticks filled with silence (1 s); a longer stall is not


class HlsPublisher(Protocol):
    """Where a packager's stream goes (the node's `HlsHub`)."""

    def start_stream(self, space_id: str, stream: str, init: bytes) -> None: ...

    def publish_part(self, space_id: str, record: PartRecord) -> None: ...

    def end_stream(self, space_id: str, stream: str) -> None: ...


class HlsPackager:
    """A `MixSink`: one stream for one run of a room. Silence still makes parts."""

    def __init__(self, space_id: str, publisher: HlsPublisher) -> None:
        self.space_id = space_id
        self.stream = secrets.token_hex(4)
        self._publisher = publisher
        self._encoder = CmafEncoder()
        self._next_index: int | None = None
        self._started_at = 0.0  # wall clock of the first sample
        self._parts = 0
        self._segment_start = 0.0
        self.cpu_seconds = 0.0
        self.closed = False
        publisher.start_stream(space_id, self.stream, self._encoder.init)

    def write(self, index: int, pcm: Pcm) -> None:
        if self.closed:
            return
        began = time.process_time()
        if self._next_index is None:
            self._started_at = time.time()
        elif index > self._next_index:
            gap = min(index - self._next_index, MAX_GAP_FRAMES)
            self._publish(self._encoder.write(silence(gap * FRAME_SAMPLES)))
        self._next_index = index + 1
        self._publish(self._encoder.write(pcm))
        self.cpu_seconds += time.process_time() - began

    def close(self, ended: bool) -> None:
        if self.closed:
            return
        self._publish(self._encoder.close())
        self.closed = True
        self._publisher.end_stream(self.space_id, self.stream)

    def _publish(self, fragments: list[Fragment]) -> None:
        for fragment in fragments:
            if fragment.samples <= 0:
                continue
            msn, part = divmod(self._parts, PARTS_PER_SEGMENT)
            if part == 0:
                # The wall-clock time its first decoded sample was mixed.
                first_input = fragment.decode_time - PRIMING_SAMPLES
                self._segment_start = self._started_at + first_input / SAMPLE_RATE
            self._parts += 1
            record = PartRecord(
                stream=self.stream,
                msn=msn,
                index=part,
                duration=fragment.seconds,
                segment_start=self._segment_start,
                data=fragment.data,
            )
            try:
                self._publisher.publish_part(self.space_id, record)
            except Exception:
                log.exception("publishing an HLS part of %s failed", self.space_id)
