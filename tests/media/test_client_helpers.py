"""The client helpers other tests, the bot and benchmarks rely on."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import numpy as np
import pytest

from tests.media.room_helpers import join
from townhall.client.media import (
    MediaClient,
    ToneTrack,
    WavTrack,
    band_rms,
    dominant_frequencies,
    read_wav,
    rms,
    write_wav,
)
from townhall.media.server import MediaServer


def write_stereo_16k(path: Path, freq: float, seconds: float = 1.0) -> None:
    n = np.arange(int(16_000 * seconds))
    tone = (np.sin(2 * np.pi * freq * n / 16_000) * 12_000).astype("<i2")
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(16_000)
        wav.writeframes(np.repeat(tone, 2).tobytes())


def test_wav_is_read_as_48k_mono_and_written_back(tmp_path: Path) -> None:
    write_stereo_16k(tmp_path / "in.wav", 500)
    pcm = read_wav(tmp_path / "in.wav")
    assert abs(pcm.size - 48_000) <= 3
    assert abs(dominant_frequencies(pcm, 1)[0] - 500) < 3
    write_wav(tmp_path / "out.wav", pcm)
    assert np.array_equal(read_wav(tmp_path / "out.wav"), pcm)


def test_analysis_helpers_tell_tones_and_silence_apart() -> None:
    tone = ToneTrack(440, 0.5)
    pcm = np.concatenate([tone.samples(i) for i in range(50)])
    assert abs(rms(pcm) - 0.5 / np.sqrt(2)) < 0.01
    assert band_rms(pcm, 440) > 0.3 and band_rms(pcm, 1000) < 0.001
    assert rms(np.zeros(960, dtype=np.int16)) == 0.0
    with pytest.raises(ValueError):
        ToneTrack(30_000)


async def test_wav_track_reaches_a_listener(
    media: MediaServer, clients: list[MediaClient], tmp_path: Path
) -> None:
    write_stereo_16k(tmp_path / "voice.wav", 700, seconds=0.5)
    await join(
        media, "space-wav", 1, clients, on_stage=True, track=WavTrack(tmp_path / "voice.wav")
    )
    listener = await join(media, "space-wav", 2, clients, on_stage=False)
    await asyncio.sleep(0.6)
    pcm = await listener.recorder.wait_samples(48_000, after=listener.recorder.mark())
    assert abs(dominant_frequencies(pcm, 1)[0] - 700) < 8
