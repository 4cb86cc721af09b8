"""The evidence ring buffer on its own: bounded to 10 minutes (and under 5 MB) of real Opus
packets, its stage timeline, windows written as Ogg with the recorder's writer, and
everything dropped when the room closes. Time is a fake clock stepped per tick."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tests.support.ogg import decode_ogg
from townhall.bus.evidence import EvidenceRequest
from townhall.client.media import band_rms
from townhall.media.audio import FRAME_SAMPLES, OpusEncoder
from townhall.media.evidence import (
    BUFFER_SECONDS,
    Captured,
    EvidenceBuffer,
    write_evidence,
)

T0 = 1_700_000_000.0


def tone_packets(freq: float = 440, seconds: float = 1.0) -> list[bytes]:
    encoder = OpusEncoder()
    t = np.arange(int(seconds * 48_000)) / 48_000
    pcm = (np.sin(2 * np.pi * freq * t) * 9000).astype(np.int16)
    packets = [
        encoder.encode(pcm[i : i + FRAME_SAMPLES]) for i in range(0, pcm.size, FRAME_SAMPLES)
    ]
    return [p for p in packets if p]


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def test_ten_minutes_are_kept_in_under_five_megabytes() -> None:
    clock = Clock()
    buffer = EvidenceBuffer("s1", clock=clock)
    packets = tone_packets()  # a loud tone: about the largest packets the encoder makes
    for index in range(12 * 60 * 50):  # 12 minutes
        clock.now = T0 + index * 0.02
        buffer.tick(index, packets[index % len(packets)], {7: 0.6})
    assert BUFFER_SECONDS * 50 <= buffer.packets <= BUFFER_SECONDS * 50 + 100
    held = buffer.nbytes()
    payload = sum(len(p) for p in packets) / len(packets) * buffer.packets
    assert held < 5_000_000, held
    assert held < payload * 1.1  # the containers add under a tenth
    buffer.close()
    assert buffer.nbytes() < 2_000 and buffer.packets == 0


def test_a_window_keeps_the_timeline_and_is_written_as_ogg(tmp_path: Path) -> None:
    clock = Clock()
    taken: list[Captured] = []
    buffer = EvidenceBuffer("s1", clock=clock, on_capture=taken.append)
    packets = tone_packets(440)
    silent_encoder = OpusEncoder()
    silence = [silent_encoder.encode(np.zeros(FRAME_SAMPLES, np.int16)) for _ in range(50)]
    for index in range(500):  # 10 s: host (1) on stage throughout; speaks 2-6 s
        clock.now = T0 + index * 0.02
        speaking = 100 <= index < 300
        levels = {1: 0.6 if speaking else 0.0}
        if 150 <= index < 400:
            levels[2] = 0.0  # a speaker on stage, muted then (never audible-loud)
        if index == 200:
            assert buffer.capture(EvidenceRequest(9, "s1", clock.now, 3.0, 2.0))
            assert not buffer.capture(EvidenceRequest(9, "s1", clock.now, 3.0, 2.0))
        payload = packets[index % len(packets)] if speaking else silence[index % 50]
        if index == 260:
            continue  # a skipped tick: a new chunk starts
        buffer.tick(index, payload, levels)
    assert len(taken) == 1
    captured = taken[0]
    assert (captured.start, captured.end) == (T0 + 1.0, T0 + 6.0)
    spans = {(s.user_id, s.kind): (s.start - T0, s.end - T0) for s in captured.spans}
    assert set(spans) == {(1, "stage"), (1, "speaking"), (2, "stage")}
    assert spans[(1, "speaking")][0] == 2.0
    assert abs(spans[(2, "stage")][0] - 3.0) < 1e-6

    path = write_evidence(tmp_path, captured)
    assert path is not None and path.name == "9.ogg"
    assert write_evidence(tmp_path, captured) is None  # written once
    pcm, duration = decode_ogg(path)
    assert abs(duration - (5.0 - 0.02)) < 0.05  # 1 s .. 6 s, less the skipped tick
    assert band_rms(pcm[:40_000], 440) < 0.003  # 1-1.8 s: silence
    assert band_rms(pcm[60_000:], 440) > 0.05  # from 2.25 s: the tone
    sidecar = json.loads((tmp_path / "evidence" / "9.json").read_text())
    places = {(t["user_id"], t["kind"]): (t["start_ms"], t["end_ms"]) for t in sidecar["timeline"]}
    assert places[(1, "speaking")] == (1000, 4980)  # the skipped tick is not in the file
    assert places[(2, "stage")][0] == 2000 and sidecar["report_at_ms"] == 3000
    buffer.close()


def test_a_room_that_closes_hands_over_its_open_window() -> None:
    clock = Clock()
    taken: list[Captured] = []
    buffer = EvidenceBuffer("s1", clock=clock, on_capture=taken.append)
    packets = tone_packets()
    for index in range(100):
        clock.now = T0 + index * 0.02
        buffer.tick(index, packets[index % len(packets)], {})
    buffer.capture(EvidenceRequest(3, "s1", clock.now, 300.0, 120.0))
    assert taken == []
    buffer.close()
    assert len(taken) == 1 and taken[0].end == clock.now
    assert sum(len(lengths) for _, _, lengths in taken[0].chunks) == 100
    assert not buffer.capture(EvidenceRequest(4, "s1", clock.now, 1.0, 1.0))
