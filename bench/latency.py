"""Latency benchmark: server-added delay and end-to-end delay of tone-burst onsets.

townhall's MediaServer (bench/server.py) hosts one space: a burst speaker sends 1000 Hz
bursts (200 ms on, 800 ms off, pre-encoded Opus, onset at the start of every 50th frame),
two more speakers send steady 300/500 Hz tones, `--listeners` listeners count packets, and
one decoding listener (stock aiortc receiver) records what it hears.

- server-added delay: from the arrival at the server's socket of the speaker packet that
  starts a burst (recorded in the server process) to the arrival at the listener's socket
  of the first mixed packet that carries it (onset found in the decoded 1000 Hz band,
  20 ms frames). Both clocks are CLOCK_MONOTONIC on this machine. Target p95 <= 40 ms.
- end-to-end: from the moment the speaker's burst packet is handed to its aiortc sender to
  the moment the listener's aiortc track returns the decoded frame with the onset
  (includes aiortc's receive jitter buffer, which prefetches 4 packets).

    python -m bench.latency --listeners 500 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from typing import Any

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from bench.common import FRAME_SAMPLES, SAMPLE_RATE, encode_pcm, summary_ms, tone, write_result
from bench.fanout import wait_attached
from bench.loadgen import EncodedTrack, LoadGenerator
from bench.process import bench_server
from townhall.media.ice import use_host_addresses

BURST_HZ = 1000.0
BURST_PERIOD_FRAMES = 50
BURST_FRAMES = 10
LEAD_FRAMES = 25
TARGET_SERVER_P95_MS = 40.0
_BIN = int(BURST_HZ * FRAME_SAMPLES / SAMPLE_RATE)


def burst_signal(frames: int) -> np.ndarray:
    """Silence with a BURST_HZ burst starting at every frame k = LEAD + n*PERIOD."""
    pcm = np.zeros(frames * FRAME_SAMPLES, dtype=np.int16)
    burst = tone(BURST_HZ, BURST_FRAMES * FRAME_SAMPLES, 0.4)
    for start in range(LEAD_FRAMES, frames - BURST_FRAMES, BURST_PERIOD_FRAMES):
        pcm[start * FRAME_SAMPLES : (start + BURST_FRAMES) * FRAME_SAMPLES] = burst
    return pcm


def onset_frames(frames: int) -> list[int]:
    return list(range(LEAD_FRAMES, frames - BURST_FRAMES, BURST_PERIOD_FRAMES))


def band_level(samples: np.ndarray) -> float:
    """Magnitude of the BURST_HZ bin of one 960-sample frame (normalised)."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(spectrum[_BIN - 1 : _BIN + 2].max() / len(samples))


class GatedTrack(EncodedTrack):
    """An EncodedTrack that sends nothing until `gate` is set."""

    def __init__(self, packets: list[bytes]) -> None:
        super().__init__(packets, loop=False)
        self.gate = asyncio.Event()

    async def recv(self) -> Any:
        await self.gate.wait()
        return await super().recv()


async def record_decoded(track: MediaStreamTrack, out: list[tuple[float, int, float]]) -> None:
    """(time returned by recv, pts, 1000 Hz band level) of each decoded frame."""
    with contextlib.suppress(MediaStreamError):
        while True:
            frame = await track.recv()
            now = time.perf_counter()
            assert isinstance(frame, av.AudioFrame)
            samples = frame.to_ndarray().reshape(-1, 2)[:, 0].astype(np.float64)
            out.append((now, int(frame.pts or 0), band_level(samples)))


ONSET_FRACTION = 0.1
"""A frame is loud from this fraction of the loudest frame's band level on. The first frame
carrying an onset holds only ~0.19-0.24 of the peak (each Opus encode delays the signal by
6.5 ms, so the tone fills only the end of that frame, where the Hann window is small): the
earlier threshold of 0.2 missed that frame in about half the runs and added 20 ms."""


def detect_onsets(
    decoded: list[tuple[float, int, float]], fraction: float = ONSET_FRACTION
) -> list[tuple[float, int]]:
    """(recv time, pts) of decoded frames where the band rises after >= 10 quiet frames."""
    if not decoded:
        return []
    peak = max(level for _, _, level in decoded)
    threshold = fraction * peak
    onsets = []
    quiet = 0
    for now, pts, level in decoded:
        if level >= threshold:
            if quiet >= 10:
                onsets.append((now, pts))
            quiet = 0
        else:
            quiet += 1
    return onsets


async def run(listeners: int, seconds: float, server_args: list[str]) -> dict[str, Any]:
    use_host_addresses(["127.0.0.1"])
    frames = int(seconds / 0.02)
    burst = GatedTrack(encode_pcm(burst_signal(frames)))
    async with bench_server("--mix", "mediaserver", *server_args) as server:
        crowd = LoadGenerator(server.channel)
        await crowd.join_speakers([300.0, 500.0], first_user=2)
        await crowd.join(1, role="speaker", track=burst)
        await server.channel.request({"op": "record_arrivals", "user": 1})
        await crowd.join_many(listeners, concurrency=8, timeout=150)
        await wait_attached(server, crowd.totals()["listeners"])
        probe = await crowd.join(500_000, consume=False, record=True)
        assert probe.remote_track is not None
        decoded: list[tuple[float, int, float]] = []
        recorder = asyncio.create_task(record_decoded(probe.remote_track, decoded))
        await asyncio.sleep(1.0)
        burst.gate.set()
        await asyncio.sleep(seconds + 1.0)
        speaker_arrivals = (await server.channel.request({"op": "arrivals", "user": 1}))["arrivals"]
        stats = await server.channel.request({"op": "stats"})
        recorder.cancel()
        listener_arrivals = list(probe.tap.arrivals)
        await crowd.close()

    # Speaker packet k (RTP ts = first + 960 k) arrived at the server at speaker_at[k].
    first_ts = speaker_arrivals[0][1]
    speaker_at = {((ts - first_ts) & 0xFFFFFFFF) // FRAME_SAMPLES: t for t, ts in speaker_arrivals}
    # aiortc's decoded frames count pts from the first packet it received (the tap's first).
    listener_first_ts = listener_arrivals[0][1]
    listener_at = {
        ((ts - listener_first_ts) & 0xFFFFFFFF) // FRAME_SAMPLES: t for t, ts in listener_arrivals
    }

    def delays(fraction: float) -> tuple[list[float], list[float], int]:
        server_added: list[float] = []
        end_to_end: list[float] = []
        heard = detect_onsets(decoded, fraction)
        for k in onset_frames(frames):
            sent = burst.sent_at[k] if k < len(burst.sent_at) else None
            at_server = speaker_at.get(k)
            if sent is None or at_server is None:
                continue
            later = [(t, pts) for t, pts in heard if t > sent]
            if not later or later[0][0] - sent > 0.9:
                continue
            heard_time, pts = later[0]
            end_to_end.append(heard_time - sent)
            mixed_at = listener_at.get(pts // FRAME_SAMPLES)
            if mixed_at is not None:
                server_added.append(mixed_at - at_server)
        return server_added, end_to_end, len(heard)

    server_added, end_to_end, heard = delays(ONSET_FRACTION)
    old_server_added, old_end_to_end, _ = delays(0.2)
    return {
        "listeners": listeners,
        "speakers": 3,
        "bursts_sent": len(onset_frames(frames)),
        "bursts_heard": heard,
        "speaker_packets_recorded_at_server": len(speaker_arrivals),
        "onset_threshold_fraction_of_peak": ONSET_FRACTION,
        "server_added_delay": summary_ms(server_added),
        "end_to_end_delay": summary_ms(end_to_end),
        "with_earlier_onset_threshold_0.2": {
            "server_added_delay": summary_ms(old_server_added),
            "end_to_end_delay": summary_ms(old_end_to_end),
        },
        "target_server_added_p95_ms": TARGET_SERVER_P95_MS,
        "server_skipped_ticks": stats["skipped_ticks"],
        "server_speaker_jitter": stats.get("speaker_jitter", {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listeners", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--jitter-prefetch-ms",
        type=int,
        default=None,
        help="the server rooms' jitter prefetch (default: TOWNHALL_JITTER_PREFETCH_MS, 20)",
    )
    parser.add_argument("--name", default="latency")
    args = parser.parse_args()
    server_args: list[str] = []
    if args.jitter_prefetch_ms is not None:
        server_args += ["--jitter-prefetch-ms", str(args.jitter_prefetch_ms)]
    started = time.perf_counter()
    result = asyncio.run(run(args.listeners, args.seconds, server_args))
    result["server_ingest"] = "rtp_in"
    result["server_jitter_prefetch_ms"] = (
        "default (TOWNHALL_JITTER_PREFETCH_MS)"
        if args.jitter_prefetch_ms is None
        else args.jitter_prefetch_ms
    )
    result["run_seconds"] = round(time.perf_counter() - started, 1)
    path = write_result(args.name, result)
    for key, value in result.items():
        print(f"{key}: {value}")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
