"""Shared helpers for the benchmarks: process CPU/RSS from /proc, tone encoding, results."""

from __future__ import annotations

import fractions
import json
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import av
import numpy as np

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SAMPLE_RATE = 48000
FRAME_SAMPLES = 960
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def process_rss_bytes(pid: int) -> int:
    """Resident set size of a process, from /proc/<pid>/statm."""
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * _PAGE_SIZE


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation; nan when empty."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return float(np.percentile(np.asarray(values), q))


def summary_ms(values: list[float]) -> dict[str, float]:
    """p50/p95/max/mean of values given in seconds, as milliseconds."""
    ms = [v * 1000 for v in values]
    return {
        "count": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "max_ms": round(max(ms), 2) if ms else float("nan"),
        "mean_ms": round(statistics.fmean(ms), 2) if ms else float("nan"),
    }


def tone(frequency: float, samples: int, amplitude: float = 0.3) -> np.ndarray:
    """A sine tone as int16 samples at 48 kHz."""
    t = np.arange(samples) / SAMPLE_RATE
    return (amplitude * 32767 * np.sin(2 * np.pi * frequency * t)).astype(np.int16)


def encode_pcm(pcm: np.ndarray, bit_rate: int = 32000) -> list[bytes]:
    """Mono int16 samples -> 20 ms stereo Opus packets (libopus via PyAV), one per frame.

    Packet i carries input frame i (decoded 312 samples later: libopus's lookahead);
    trailing silence flushes the encoder so every frame gets its packet.
    """
    encoder = av.CodecContext.create("libopus", "w")
    encoder.sample_rate = SAMPLE_RATE
    encoder.layout = "stereo"
    encoder.format = "s16"
    encoder.bit_rate = bit_rate
    encoder.time_base = fractions.Fraction(1, SAMPLE_RATE)
    frames = len(pcm) // FRAME_SAMPLES
    padded = np.concatenate([pcm[: frames * FRAME_SAMPLES], np.zeros(4 * FRAME_SAMPLES, np.int16)])
    packets: list[bytes] = []
    for index in range(frames + 4):
        mono = padded[index * FRAME_SAMPLES : (index + 1) * FRAME_SAMPLES]
        frame = av.AudioFrame.from_ndarray(
            np.repeat(mono, 2).reshape(1, -1), format="s16", layout="stereo"
        )
        frame.sample_rate = SAMPLE_RATE
        frame.pts = index * FRAME_SAMPLES
        packets.extend(bytes(p) for p in encoder.encode(frame))
    return packets[:frames]


def encode_tone(
    frequency: float, frames: int, amplitude: float = 0.3, bit_rate: int = 32000
) -> list[bytes]:
    """`frames` 20 ms stereo Opus packets of a sine tone, encoded by libopus (PyAV)."""
    return encode_pcm(tone(frequency, frames * FRAME_SAMPLES, amplitude), bit_rate)


def code_version() -> str:
    """The commit measured, with "+changes" when the work tree differs from it."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short=12", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "src", "bench/*.py")
    return commit + ("+changes" if dirty else "")


def write_result(name: str, result: dict[str, Any]) -> Path:
    """Write bench/results/<name>.json with the code version, the machine's load average
    and a timestamp."""
    result = {
        "benchmark": name,
        "code": code_version(),
        "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "load_average_1_5_15": load_average(),
        **result,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path
