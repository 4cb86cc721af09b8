"""PCM helpers of the media plane: 48 kHz mono int16 frames, levels, mixing, Opus encoding."""

from __future__ import annotations

import fractions
from typing import cast

import av
import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 48_000
FRAME_SAMPLES = 960  # 20 ms at 48 kHz
FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE
TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)
SILENCE_DBFS = -60.0

Pcm = npt.NDArray[np.int16]


def silence(samples: int = FRAME_SAMPLES) -> Pcm:
    """A frame of digital silence."""
    return np.zeros(samples, dtype=np.int16)


class MonoConverter:
    """Turns decoded frames of any layout and rate into 48 kHz mono int16 samples."""

    def __init__(self) -> None:
        self._resampler: av.AudioResampler | None = None

    def convert(self, frame: av.AudioFrame) -> Pcm:
        """The frame's samples as 48 kHz mono int16 (stereo is averaged)."""
        if frame.sample_rate == SAMPLE_RATE and frame.format.name == "s16":
            data = frame.to_ndarray().reshape(-1)
            channels = len(frame.layout.channels)
            if channels == 1:
                return cast(Pcm, data.astype(np.int16, copy=False))
            wide = data.reshape(-1, channels).astype(np.int32).sum(axis=1) // channels
            return cast(Pcm, wide.astype(np.int16))
        if self._resampler is None:
            self._resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        parts = [f.to_ndarray().reshape(-1) for f in self._resampler.resample(frame)]
        if not parts:
            return silence(0)
        return np.concatenate(parts).astype(np.int16, copy=False)


def level(pcm: Pcm) -> float:
    """Loudness 0..1 for speaking indicators: -60 dBFS (or quieter) is 0, full scale is 1."""
    if pcm.size == 0:
        return 0.0
    rms = float(np.sqrt(np.mean(np.square(pcm, dtype=np.float64))))
    if rms < 1.0:
        return 0.0
    dbfs = 20.0 * np.log10(rms / 32768.0)
    return float(min(1.0, max(0.0, (dbfs - SILENCE_DBFS) / -SILENCE_DBFS)))


def saturate(total: npt.NDArray[np.int32]) -> Pcm:
    """Clip a wide sum to int16 (saturating, never wrapping)."""
    return np.clip(total, -32768, 32767).astype(np.int16)


class OpusEncoder:
    """One libopus encoder producing one packet per 20 ms mono frame.

    `complexity` 0..10 trades CPU for quality: 10 for the one listener mix (its cost is
    shared by every listener), lower for the per-speaker mix-minus encoders.
    """

    def __init__(self, bitrate: int = 48_000, complexity: int = 10) -> None:
        if not 0 <= complexity <= 10:
            raise ValueError("complexity must be 0..10")
        codec = av.CodecContext.create("libopus", "w")
        assert isinstance(codec, av.AudioCodecContext)
        codec.bit_rate = bitrate
        codec.format = "s16"
        codec.layout = "mono"
        codec.sample_rate = SAMPLE_RATE
        codec.time_base = TIME_BASE
        codec.options = {
            "application": "audio",
            "frame_duration": "20",
            "compression_level": str(complexity),
        }
        codec.open()
        self._codec = codec
        self._pts = 0

    def encode(self, pcm: Pcm) -> bytes:
        """Encode one 960-sample frame; returns the Opus payload (b"" while priming)."""
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._pts
        self._pts += FRAME_SAMPLES
        return b"".join(bytes(p) for p in self._codec.encode(frame))
