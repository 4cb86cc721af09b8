"""LL-HLS benchmarks: packaging cost, glass-to-ear latency, and a crowd through nginx.

    python -m bench.hls packaging [--seconds 120]
    python -m bench.hls latency [--seconds 40]
    python -m bench.hls crowd [--players 2000] [--processes 2] [--seconds 20]

- packaging: the room's HLS packager (AAC-LC 64 kbps encode + PyAV mp4 mux + window) fed
  one space's mix (speech-like tone bursts, then silence) as fast as it goes: CPU seconds
  per second of audio = share of one core per live space; memory held per space.
- latency: a real `townhall serve` behind real nginx (deploy/nginx/townhall.conf); a bot
  speaks over WebRTC, sending tone bursts (800/1000/1200/1400 Hz in turn, one a second,
  200 ms each); LL-HLS players (client/hls.py: blocking reloads, start PART-HOLD-BACK
  behind the live edge) fetch through nginx. Glass = when the bot's track hands the
  burst's first frame to aiortc; ear = when the player plays that sample (it starts with
  its first part and plays on; a late part stalls it). Target p50 <= 2 s, p95 <= 3 s.
- crowd: the same stack; `--players` LL-HLS players spread over `--processes` processes
  (light HTTP/1.1 keep-alive connections, one per player, starts spread over 2 s) play for
  `--seconds`. Reported: players that got every part, players that stalled, townhall's
  CPU during the crowd vs the same time with no player, nginx's CPU, origin requests per
  part (nginx's log: requests passed upstream).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.common import (
    load_average,
    process_cpu_seconds,
    process_rss_bytes,
    summary_ms,
    write_result,
)
from tests.support.nginx import running_nginx
from tests.support.server import free_port
from townhall.client.api import Townhall
from townhall.client.hls import HlsPlayer, Http1, decode
from townhall.client.media import PacedAudioTrack, Samples
from townhall.media.audio import FRAME_SAMPLES, SAMPLE_RATE
from townhall.media.hls.hub import HlsHub
from townhall.media.hls.sink import HlsPackager

ROOT = Path(__file__).resolve().parent.parent
BURST_HZ = (800.0, 1000.0, 1200.0, 1400.0)
BURST_PERIOD_FRAMES = 50  # one burst a second, each frequency every 4 s
BURST_FRAMES = 10


# -- the stack -------------------------------------------------------------------


@contextlib.contextmanager
def townhall(data_dir: Path, env: dict[str, str] | None = None) -> Iterator[tuple[str, int]]:
    """A real `townhall serve` on a free loopback port: (base URL, pid)."""
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    full = (
        os.environ
        | {
            "TOWNHALL_PASSWORD_TIME_COST": "1",
            "TOWNHALL_PASSWORD_MEMORY_KIB": "1024",
            "TOWNHALL_AUTH_RATE_LIMIT": "100000",
            "TOWNHALL_LOG_LEVEL": "warning",
            "TOWNHALL_MEDIA_ADDRESSES": "127.0.0.1",
        }
        | (env or {})
    )
    log = open(data_dir.parent / "server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "townhall.cli",
            "serve",
            "--migrate",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
        ],
        env=full,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=str(ROOT),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError("townhall exited")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("townhall did not start")
            time.sleep(0.1)
        yield base, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def family_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its direct children (nginx's master and workers)."""
    total = process_cpu_seconds(pid)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            total += process_cpu_seconds(int(entry))
    return total


class BurstTrack(PacedAudioTrack):
    """Silence with a 200 ms burst every second, the frequency cycling through BURST_HZ;
    records the wall-clock time each burst's first frame is handed to aiortc."""

    def __init__(self) -> None:
        super().__init__()
        self.onsets: list[tuple[float, float]] = []  # (time.time(), frequency)

    def samples(self, index: int) -> Samples:
        phase = index % BURST_PERIOD_FRAMES
        if phase >= BURST_FRAMES:
            return np.zeros(FRAME_SAMPLES, dtype=np.int16)
        freq = BURST_HZ[(index // BURST_PERIOD_FRAMES) % len(BURST_HZ)]
        if phase == 0:
            self.onsets.append((time.time(), freq))
        t = (np.arange(FRAME_SAMPLES) + index * FRAME_SAMPLES) / SAMPLE_RATE
        return (0.4 * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


async def live_space(base: str, track: Any) -> tuple[Townhall, str, Any]:
    host = Townhall(base)
    await host.signup(f"bench{os.getpid() % 10000}", "correct horse")
    sid = (await host.create_space("HLS bench", visibility="public"))["id"]
    media = await host.connect_media(sid, track=track)
    await media.wait_connected()
    await host.act(sid, "unmute")
    async with httpx.AsyncClient(timeout=10) as http:
        deadline = time.monotonic() + 20
        while True:
            r = await http.get(f"{base}/hls/{sid}/live.m3u8")
            if r.status_code == 200 and r.text.count("#EXT-X-PART:") >= 4:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"no HLS: {r.status_code} {r.text[:200]}")
            await asyncio.sleep(0.2)
    return host, sid, media


# -- packaging ---------------------------------------------------------------------


def packaging(seconds: float) -> dict[str, Any]:
    frames = int(seconds * SAMPLE_RATE / FRAME_SAMPLES)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    hub = HlsHub()
    packager = HlsPackager("bench", hub)
    t = np.arange(FRAME_SAMPLES)
    rng = np.random.default_rng(1)
    began = time.process_time()
    after_voice = 0
    for i in range(frames):
        if i == frames // 2:
            window = hub.local("bench")
            after_voice = window.bytes_held if window is not None else 0
        if i < frames // 2:  # a voice-like signal: tone bursts over noise
            freq = BURST_HZ[(i // 50) % len(BURST_HZ)]
            pcm = 0.3 * np.sin(2 * np.pi * freq * (t + i * FRAME_SAMPLES) / SAMPLE_RATE)
            pcm = (pcm + 0.05 * rng.standard_normal(FRAME_SAMPLES)) * 32767
        else:  # then silence
            pcm = np.zeros(FRAME_SAMPLES)
        packager.write(i, pcm.astype(np.int16))
    total_cpu = time.process_time() - began
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    window = hub.local("bench")
    assert window is not None
    view = window.view()
    parts = [p for s in view.segments for p in s.parts]
    sizes = [len(window.part(p.msn, p.index) or b"") for p in parts]
    audio_seconds = frames * FRAME_SAMPLES / SAMPLE_RATE
    return {
        "audio_seconds": round(audio_seconds, 1),
        "packager_cpu_percent_of_one_core": round(100 * packager.cpu_seconds / audio_seconds, 2),
        "cpu_percent_incl_signal_generation": round(100 * total_cpu / audio_seconds, 2),
        "window_seconds_held": round(sum(p.duration for p in parts), 2),
        "window_bytes_held_after_voice": after_voice,
        "window_bytes_held_after_silence": window.bytes_held,
        # Python-side allocations (tracemalloc): the window, numpy buffers, PyAV objects;
        # not FFmpeg's own C allocations for the encoder and muxer.
        "python_memory_held_per_space_kb": round(held / 1024, 1),
        "part_bytes_silence_median": int(np.median(sizes[-10:])),
        "parts_per_second": round(len(parts) / sum(p.duration for p in parts), 3),
    }


# -- latency ------------------------------------------------------------------------


@dataclass(frozen=True)
class Heard:
    ear: float  # time.time() the player plays the onset
    freq: float
    stream: float  # the onset's time by the stream's own clock (PROGRAM-DATE-TIME)


def onsets_in(player: HlsPlayer) -> list[Heard]:
    """Every burst onset the player played (from where its playback starts)."""
    plays, _ = player.schedule()
    wall = time.time() - time.monotonic()
    start = player.playing_from or 0.0
    found: list[Heard] = []
    window = 480  # 10 ms
    freqs = np.fft.rfftfreq(window, 1 / SAMPLE_RATE)
    for part, play in zip(player.parts, plays, strict=True):
        pcm = decode(player.init, part.data).astype(np.float64)
        pcm = pcm[-round(part.duration * SAMPLE_RATE) :]
        for offset in range(0, len(pcm) - window, window):
            if play + offset / SAMPLE_RATE < start:
                continue  # before the player's start position
            spectrum = np.abs(np.fft.rfft(pcm[offset : offset + window] * np.hanning(window)))
            bands = [spectrum[np.abs(freqs - f) < 60].max() for f in BURST_HZ]
            strongest = int(np.argmax(bands))  # the windows' lobes overlap: take the peak
            if bands[strongest] > 0.05 * 32767 * window / 4:
                t = play + offset / SAMPLE_RATE + wall
                if not found or t - found[-1].ear > 0.5:
                    stream = (part.start or 0.0) + offset / SAMPLE_RATE
                    found.append(Heard(t, BURST_HZ[strongest], stream))
    return found


def _origin_publish_lags(probe: HlsPlayer) -> list[float]:
    """For a player at the origin: how long after its end (by PROGRAM-DATE-TIME) each
    newest part was in the player's hands (blocking reloads that waited at the origin)."""
    wall = time.time() - time.monotonic()
    return [came + wall - edge for sent, came, edge in probe.edges[2:] if came - sent > 0.2]


async def latency(seconds: float, players: int, direct: bool = False) -> dict[str, Any]:
    """Glass-to-ear for `players` LL-HLS players joining at different moments, with a
    breakdown of each heard onset:

    upstream   the bot's frame -> the mixer (WebRTC in, jitter buffer, tick): the onset's
               time by the stream's PROGRAM-DATE-TIME minus the time the bot sent it;
    edge_lag   the newest part's end -> the player has that playlist, at its tune-in
               (part close: AAC look-ahead and the muxer; publish; blocking-reload
               wake-up; the fetch through nginx, including its cache lock);
    hold_back  PART-HOLD-BACK, where the player starts behind its live-edge estimate;
    stalls     later arrivals that made playback wait (and stay later).
    The probe (a player straight at the origin) gives `origin_publish`: part end -> a
    blocking reload returned it at the origin, the part of edge_lag nginx does not add.
    """
    with (
        tempfile.TemporaryDirectory() as tmp,
        townhall(Path(tmp) / "data") as (base, _),
        running_nginx(base, Path(tmp) / "nginx") as nginx,
    ):
        track = BurstTrack()
        host, sid, media = await live_space(nginx.base, track)
        try:
            front = base if direct else nginx.base
            url = f"{front}/hls/{sid}/live.m3u8"
            conns = [Http1(front, timeout=15) for _ in range(players)]
            listeners = [HlsPlayer(c, url, timeout=15) for c in conns]
            probe_conn = Http1(base, timeout=15)
            probe = HlsPlayer(probe_conn, f"{base}/hls/{sid}/live.m3u8", keep_media=False)

            async def play(i: int, p: HlsPlayer) -> None:
                await asyncio.sleep(i * 0.37)  # join at different moments
                await p.play(seconds)

            await asyncio.gather(
                probe.play(seconds), *(play(i, p) for i, p in enumerate(listeners))
            )
            for c in [*conns, probe_conn]:
                await c.close()
        finally:
            await media.close()
            await host.close()
    sent = track.onsets
    wall = time.time() - time.monotonic()
    rows: dict[str, list[float]] = {
        k: [] for k in ("glass_to_ear", "upstream", "edge_lag", "hold_back", "stalls")
    }
    stalls = 0
    per_player = []
    for p in listeners:
        lag = p.edge_lag()
        stalls += p.schedule()[1]
        mine = []
        for heard in onsets_in(p):
            candidates = [t for t, f in sent if f == heard.freq and t < heard.ear]
            if not candidates or heard.ear - candidates[-1] > 4.0 or lag is None:
                continue
            glass = candidates[-1]
            total = heard.ear - glass
            mine.append(total)
            rows["glass_to_ear"].append(total)
            rows["upstream"].append(heard.stream - glass)
            rows["edge_lag"].append(lag + wall)
            rows["hold_back"].append(p.hold_back)
            rows["stalls"].append(heard.ear - heard.stream - lag - wall - p.hold_back)
        per_player.append(
            {
                "stalls": p.schedule()[1],
                "edge_lag_ms": round(1000 * (lag + wall), 1) if lag is not None else None,
                "glass_to_ear": summary_ms(mine),
            }
        )
    return {
        "players": players,
        "seconds": seconds,
        "bursts_sent": len(sent),
        "onsets_heard": len(rows["glass_to_ear"]),
        "glass_to_ear": summary_ms(rows["glass_to_ear"]),
        "breakdown_mean_ms": {
            k: round(1000 * statistics.fmean(v), 1) if v else None for k, v in rows.items()
        },
        "breakdown_p95_ms": {k: summary_ms(v)["p95_ms"] for k, v in rows.items()},
        "origin_publish": summary_ms(_origin_publish_lags(probe)),
        "stalls": stalls,
        "per_player": per_player,
        "through": "origin" if direct else "nginx",
        "target_p50_ms": 2000,
        "target_p95_ms": 3000,
    }


# -- crowd ------------------------------------------------------------------------------


def _crowd_worker(base: str, url: str, count: int, seconds: float, offset: int) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        conns = [Http1(base, timeout=20) for _ in range(count)]
        players = [HlsPlayer(c, url, timeout=20, keep_media=False) for c in conns]

        async def one(i: int, p: HlsPlayer) -> None:
            await asyncio.sleep(((i + offset) % 200) / 100)  # starts spread over 2 s
            with contextlib.suppress(Exception):
                await p.play(seconds)

        began = time.process_time()
        await asyncio.gather(*(one(i, p) for i, p in enumerate(players)))
        cpu = time.process_time() - began
        for c in conns:
            await c.close()
        complete = stalled = errors = 0
        parts = 0
        statuses: dict[str, int] = {}
        for p in players:
            positions = [(x.msn, x.index) for x in p.parts]
            holes = sum(
                1
                for a, b in itertools.pairwise(positions)
                if b not in ((a[0], a[1] + 1), (a[0] + 1, 0))
            )
            if positions and not holes and not p.stats.errors and not p.stats.missed_parts:
                complete += 1
            stalled += p.schedule()[1] > 0
            errors += p.stats.errors
            parts += len(positions)
            for status, n in p.stats.error_statuses.items():
                statuses[str(status)] = statuses.get(str(status), 0) + n
        return {
            "players": count,
            "complete": complete,
            "stalled": stalled,
            "errors": errors,
            "parts": parts,
            "error_statuses": statuses,
            "cpu_seconds": cpu,
        }

    return asyncio.run(main())


async def crowd(players: int, processes: int, seconds: float) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory() as tmp,
        townhall(Path(tmp) / "data") as (base, pid),
        running_nginx(base, Path(tmp) / "nginx", workers=1) as nginx,
    ):
        nginx_pid = int((Path(tmp) / "nginx" / "nginx.pid").read_text())
        track = BurstTrack()
        host, sid, media = await live_space(nginx.base, track)
        try:
            url = f"{nginx.base}/hls/{sid}/live.m3u8"
            # Baseline: the same stretch of time with no player.
            cpu0 = process_cpu_seconds(pid)
            await asyncio.sleep(seconds)
            idle_cpu = process_cpu_seconds(pid) - cpu0
            lines0 = len(nginx.log_lines())
            cpu0, ncpu0, t0 = (
                process_cpu_seconds(pid),
                family_cpu_seconds(nginx_pid),
                time.monotonic(),
            )
            loop = asyncio.get_running_loop()
            share = [players // processes + (i < players % processes) for i in range(processes)]
            with concurrent.futures.ProcessPoolExecutor(processes) as pool:
                results = await asyncio.gather(
                    *(
                        loop.run_in_executor(
                            pool, _crowd_worker, nginx.base, url, n, seconds, i * 37
                        )
                        for i, n in enumerate(share)
                    )
                )
            wall = time.monotonic() - t0
            crowd_cpu = process_cpu_seconds(pid) - cpu0
            nginx_cpu = family_cpu_seconds(nginx_pid) - ncpu0
            rss = process_rss_bytes(pid)
            lines = nginx.log_lines()[lines0:]
        finally:
            await media.close()
            await host.close()
    to_origin = [line for line in lines if not line.startswith("-") and '"/hls/' in line]
    part_fetches = [
        line for line in to_origin if line.rstrip('"').endswith(".m4s") or ".m4s?" in line
    ]
    produced = wall / 0.49067
    served = len([line for line in lines if '"/hls/' in line])
    total = {
        k: sum(r[k] for r in results) for k in ("players", "complete", "stalled", "errors", "parts")
    }
    gen_cpu = sum(r["cpu_seconds"] for r in results)
    nginx_share = nginx_cpu / wall
    return {
        "players": players,
        "processes": processes,
        "seconds": seconds,
        "wall_seconds": round(wall, 1),
        "players_with_every_part": total["complete"],
        "share_stalled": round(total["stalled"] / players, 4),
        "errors": total["errors"],
        "error_statuses": {
            k: sum(r["error_statuses"].get(k, 0) for r in results)
            for k in sorted({k for r in results for k in r["error_statuses"]})
        },
        "parts_per_player_mean": round(total["parts"] / players, 1),
        "parts_per_player_expected": round(seconds / 0.49067, 1),
        "parts_received": total["parts"],
        "requests_through_nginx": served,
        "requests_per_second_through_nginx": round(served / wall),
        "origin_requests": len(to_origin),
        "origin_part_fetches": len(part_fetches),
        "parts_produced_during_crowd": round(produced, 1),
        "origin_requests_per_part": round(len(to_origin) / produced, 2),
        "townhall_cpu_percent_with_crowd": round(100 * crowd_cpu / wall, 1),
        "townhall_cpu_percent_same_space_no_players": round(100 * idle_cpu / seconds, 1),
        "townhall_cpu_percent_for_the_crowd": round(
            100 * (crowd_cpu / wall - idle_cpu / seconds), 1
        ),
        "townhall_rss_mb": round(rss / 2**20, 1),
        "nginx_cpu_percent_of_one_core": round(100 * nginx_share, 1),
        "nginx_requests_per_cpu_second": round(served / nginx_cpu) if nginx_cpu else None,
        # A player on time makes about two requests per part (blocking reload + part).
        "players_per_nginx_core_by_this_measure": round(served / nginx_cpu / (2 / 0.49067))
        if nginx_cpu
        else None,
        "load_generator_cpu_percent": round(100 * gen_cpu / wall, 1),
        "load_average_after": load_average(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("packaging")
    p.add_argument("--seconds", type=float, default=120)
    p = sub.add_parser("latency")
    p.add_argument("--seconds", type=float, default=40)
    p.add_argument("--players", type=int, default=8)
    p.add_argument("--direct", action="store_true", help="players fetch from townhall itself")
    p = sub.add_parser("crowd")
    p.add_argument("--players", type=int, default=2000)
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--name", default="hls-crowd")
    args = parser.parse_args()
    if args.what == "packaging":
        result, name = packaging(args.seconds), "hls-packaging"
    elif args.what == "latency":
        result = asyncio.run(latency(args.seconds, args.players, args.direct))
        name = "hls-latency-direct" if args.direct else "hls-latency"
    else:
        result = asyncio.run(crowd(args.players, args.processes, args.seconds))
        name = args.name
    path = write_result(name, result)
    for key, value in result.items():
        print(f"{key}: {value}")
    print(f"-> {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
