"""Evidence as a media node writes it, for tests that need ready evidence without a call."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from townhall.bus.evidence import EvidenceRequest
from townhall.media.audio import FRAME_SAMPLES, OpusEncoder
from townhall.media.evidence import Captured, EvidenceBuffer, write_evidence


def write_tone_evidence(
    data_dir: Path, evidence_id: int, space_id: str, seconds: float = 1.0
) -> None:
    """What a media node does for a request, without a call: a room's buffer fed a 440 Hz
    tone encoded by the listeners' encoder, one window taken and written."""
    start = time.time() - seconds
    clock = iter(start + i * 0.02 for i in range(10_000))
    taken: list[Captured] = []
    buffer = EvidenceBuffer(space_id, clock=lambda: next(clock), on_capture=taken.append)
    encoder = OpusEncoder()
    t = np.arange(FRAME_SAMPLES) / 48_000
    for index in range(int(seconds * 50)):
        tone = (np.sin(2 * np.pi * 440 * (t + index * 0.02)) * 9000).astype(np.int16)
        buffer.tick(index, encoder.encode(tone), {})
    buffer.capture(EvidenceRequest(evidence_id, space_id, start + seconds, seconds, 0.0))
    buffer.close()
    assert write_evidence(data_dir, taken[0]) is not None
