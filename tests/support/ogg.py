"""Reading a recording back: decode an Ogg Opus file to 48 kHz mono int16 (PyAV)."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt


def decode_ogg(source: Path | bytes) -> tuple[npt.NDArray[np.int16], float]:
    """The recording's samples (48 kHz mono int16) and its duration in seconds as the
    container states it."""
    handle = io.BytesIO(source) if isinstance(source, bytes) else str(source)
    with av.open(handle, "r") as container:
        assert container.format.name == "ogg", container.format.name
        stream = container.streams.audio[0]
        assert stream.codec_context.name in ("opus", "libopus"), stream.codec_context.name
        assert stream.duration is not None and stream.time_base is not None
        duration = float(stream.duration * stream.time_base)
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48_000)
        parts = [
            out.to_ndarray().reshape(-1)
            for frame in container.decode(stream)
            for out in resampler.resample(frame)
        ]
    pcm = np.concatenate(parts).astype(np.int16) if parts else np.zeros(0, np.int16)
    return pcm, duration
