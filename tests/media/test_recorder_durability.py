"""A recording survives the process that writes it: Ogg pages reach the file as they are
made, and a partial file left by a process that died is recovered (at start-up, or by the
next recorder of the space) instead of being truncated or left behind. The audio is real
Opus (a 440 Hz tone), decoded back with PyAV and checked on the signal."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from tests.support.ogg import decode_ogg
from townhall.client.media import dominant_frequencies
from townhall.media.audio import FRAME_SAMPLES, SAMPLE_RATE, OpusEncoder
from townhall.media.recorder import (
    Recorder,
    partial_path,
    recording_path,
    recover_partial,
    recover_partials,
)

SPACE = "dur-aaaaaaaa"


def tone_packets(seconds: float, freq: float = 440.0) -> list[bytes]:
    encoder = OpusEncoder()
    t = np.arange(FRAME_SAMPLES)
    packets = []
    for i in range(int(seconds * SAMPLE_RATE / FRAME_SAMPLES)):
        wave = np.sin(2 * np.pi * freq * (t + i * FRAME_SAMPLES) / SAMPLE_RATE) * 8000
        payload = encoder.encode(wave.astype(np.int16))
        if payload:
            packets.append(payload)
    return packets


def record(recorder: Recorder, seconds: float) -> None:
    for payload in tone_packets(seconds):
        recorder.write(payload)


def is_440(pcm: np.ndarray) -> bool:
    freqs = dominant_frequencies(pcm[pcm.size // 4 :], 1)
    return bool(freqs) and abs(freqs[0] - 440) < 8


def crashed_copy(recorder: Recorder, elsewhere: Path) -> Path:
    """The partial file as a process killed now would leave it (its lock gone with it)."""
    path = recording_path(elsewhere, SPACE)
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(recorder.partial, partial_path(path))
    return path


def test_pages_reach_the_file_while_recording(tmp_path: Path) -> None:
    recorder = Recorder(recording_path(tmp_path, SPACE))
    try:
        record(recorder, 3.0)
        written = recorder.partial.read_bytes()  # not closed: what a crash now would leave
    finally:
        recorder.close()
    pcm, duration = decode_ogg(written)
    assert 3.0 - 1.1 <= duration <= 3.0, duration  # at most a page (1 s) not yet written
    assert is_440(pcm)


def test_the_next_recorder_carries_on_a_partial_file_left_by_a_crash(tmp_path: Path) -> None:
    first = Recorder(recording_path(tmp_path / "before", SPACE))
    try:
        record(first, 3.0)
        path = crashed_copy(first, tmp_path / "after")
    finally:
        first.close()
    recorder = Recorder(path)  # used to truncate the partial file
    record(recorder, 1.0)
    recorder.close()
    assert not partial_path(path).exists()
    pcm, duration = decode_ogg(path)
    assert 4.0 - 1.1 <= duration <= 4.0, duration
    assert is_440(pcm)


def test_start_up_recovers_every_partial_file(tmp_path: Path) -> None:
    source = Recorder(recording_path(tmp_path / "src", SPACE))
    try:
        record(source, 5.0)
        data = tmp_path / "data"
        cut = crashed_copy(source, data)  # cut in the middle of a page
        with partial_path(cut).open("r+b") as f:
            f.truncate(partial_path(cut).stat().st_size - 500)
        empty = recording_path(data, "dur-empty")
        partial_path(empty).touch()  # the process died before its first page
        busy = Recorder(recording_path(data, "dur-busy"))  # a live recorder's file
        record(busy, 2.0)
        shorter = recording_path(data, "dur-shorter")  # died while copying its old file
        shutil.copyfile(source.partial, shorter)
        shutil.copyfile(source.partial, partial_path(shorter))
        with partial_path(shorter).open("r+b") as f:
            f.truncate(partial_path(shorter).stat().st_size // 3)
        stale = cut.with_name(cut.name + ".recovering")
        stale.write_bytes(b"half a recovery")
    finally:
        source.close()

    assert sorted(recover_partials(data)) == sorted([SPACE, "dur-empty", "dur-shorter"])

    assert not partial_path(cut).exists() and not stale.exists()
    pcm, duration = decode_ogg(cut)
    assert 5.0 - 2.1 <= duration <= 5.0, duration  # the last page on disk was cut too
    assert is_440(pcm)
    assert not partial_path(empty).exists() and not empty.exists()
    assert partial_path(busy.path).exists()  # left to the recorder that writes it
    assert not recover_partial(busy.path)
    busy.close()
    assert decode_ogg(busy.path)[1] > 1.9
    assert not partial_path(shorter).exists()
    assert decode_ogg(shorter)[1] > 3.9  # the longer finished file was kept
    assert recover_partials(data) == []


def test_packets_written_while_an_earlier_part_is_copied_follow_it(tmp_path: Path) -> None:
    """The copy of the earlier part runs in a thread (the room's clock never waits for
    it): what the room writes meanwhile is held and comes after it, in order."""
    path = recording_path(tmp_path, SPACE)
    first = Recorder(path)
    record(first, 30.0)
    first.close()
    recorder = Recorder(path)
    later = tone_packets(1.0, freq=660.0)
    for payload in later:  # at once: the copy of 30 s is most likely still running
        recorder.write(payload)
    assert recorder.samples >= 30 * SAMPLE_RATE  # the position counts the earlier part
    recorder.close()
    pcm, duration = decode_ogg(path)
    assert 30.9 <= duration <= 31.05, duration
    freqs = dominant_frequencies(pcm[-int(0.8 * SAMPLE_RATE) :], 1)
    assert freqs and abs(freqs[0] - 660) < 8, freqs
    assert is_440(pcm[: 29 * SAMPLE_RATE])
