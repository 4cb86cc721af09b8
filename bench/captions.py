"""Captions benchmarks: accuracy, delay, cost, and what happens when the worker saturates.

python -m bench.captions wer          # word error rate: recorded speech and espeak-ng
python -m bench.captions delay        # 3 speakers in turn in one room: end of phrase -> final
python -m bench.captions cost         # worker CPU per talking speaker; tap cost per silent one
python -m bench.captions saturate     # more talkers than the worker can take: the mixer's tick

Recorded speech: CMU ARCTIC slt a0007 ("and you always want to see it in the superlative
degree"), as shipped in the pysptk 1.0.1 package (pysptk/example_audio_data/; a copy with
its licence is in tests/data/). Synthetic speech: espeak-ng (en-us, 150 wpm).
Everything goes through the real worker process and wire protocol; delay and saturation
go through real aiortc speakers, the real mixer and the captions tap.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import load_average, percentile, process_cpu_seconds, write_result
from townhall.captions.gate import GateConfig
from townhall.captions.supervisor import CaptionsWorker, Utterance
from townhall.captions.tap import CaptionsTap
from townhall.client.media import MediaClient, ScheduleTrack, connect, read_wav
from townhall.config import load_settings
from townhall.media.ice import use_host_addresses
from townhall.media.room import MediaRoom
from townhall.media.server import MediaServer

ROOT = Path(__file__).resolve().parent.parent
ARCTIC = ROOT / "tests" / "data" / "arctic_a0007.wav"
ARCTIC_TEXT = "and you always want to see it in the superlative degree"
ESPEAK = [
    "the meeting will start at nine tomorrow morning",
    "please tell me about the weather today",
    "we are going to talk about the city budget tonight",
    "thank you all for coming to the town hall",
    "the library will be open on saturday",
]


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            cur = min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
            prev, row[j] = row[j], cur
    return row[-1]


def espeak(text: str, path: Path) -> np.ndarray:
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(path), text], check=True)
    return read_wav(path)


class Collector:
    def __init__(self) -> None:
        self.finals: dict[int, list[tuple[str, float]]] = {}
        # user -> (utterance start, utterance end, arrival), wall clock
        self.spans: dict[int, list[tuple[float, float, float]]] = {}

    async def on_text(self, utterance: Utterance, text: str, final: bool) -> None:
        if final:
            self.finals.setdefault(utterance.user_id, []).append((text, time.monotonic()))
            end = utterance.ended_at or time.time()
            self.spans.setdefault(utterance.user_id, []).append(
                (utterance.started_at, end, time.time())
            )


async def wer(engine: str, model: Path | None) -> dict[str, Any]:
    """Each sample through the worker, fed faster than real time (one utterance each)."""
    samples = [("arctic_a0007", ARCTIC_TEXT, read_wav(ARCTIC))]
    with tempfile.TemporaryDirectory() as tmp:
        for i, text in enumerate(ESPEAK):
            samples.append((f"espeak_{i}", text, espeak(text, Path(tmp) / f"{i}.wav")))
    got = Collector()
    worker = CaptionsWorker(engine, model, got.on_text)
    worker.start()
    await worker.wait_up(120)
    assert worker.process is not None
    cpu0 = process_cpu_seconds(worker.process.pid)
    out: dict[str, Any] = {}
    audio_seconds = 0.0
    for n, (name, text, pcm) in enumerate(samples):
        utterance = worker.open("bench", n, "en", time.time())
        assert utterance is not None
        for start in range(0, pcm.size - 959, 960):
            worker.audio(utterance, pcm[start : start + 960].tobytes())
            if worker.queued > 200:
                await asyncio.sleep(0.01)
        worker.close(utterance, time.time())
        for _ in range(3000):
            if n in got.finals:
                break
            await asyncio.sleep(0.01)
        heard = got.finals.get(n, [("", 0.0)])[0][0]
        errors = edit_distance(words(text), words(heard))
        out[name] = {"said": text, "heard": heard, "errors": errors, "words": len(words(text))}
        audio_seconds += pcm.size / 48000
    cpu = process_cpu_seconds(worker.process.pid) - cpu0
    await worker.stop()

    def rate(prefix: str) -> float:
        parts = [v for k, v in out.items() if k.startswith(prefix)]
        ratio: float = sum(p["errors"] for p in parts) / sum(p["words"] for p in parts)
        return round(ratio, 3)

    return {
        "engine": engine,
        "wer_recorded_arctic": rate("arctic"),
        "wer_espeak": rate("espeak"),
        "worker_cpu_s_per_audio_s": round(cpu / audio_seconds, 3),
        "samples": out,
    }


async def _room_with_speakers(
    schedules: list[list[tuple[float, np.ndarray]]], captions: bool, engine: str
) -> tuple[MediaServer, CaptionsWorker, Collector, list[MediaClient], list[ScheduleTrack]]:
    use_host_addresses(["127.0.0.1"])
    settings = load_settings(
        data_dir=Path(tempfile.mkdtemp()), media_addresses=["127.0.0.1"], ice_servers=[]
    )
    media = MediaServer(settings, None)
    got = Collector()
    worker = CaptionsWorker(engine, None, got.on_text)

    def tap(room: MediaRoom, language: str) -> CaptionsTap:
        return CaptionsTap(room.space_id, language, worker, gate=GateConfig())

    media.captions_sinks = tap
    worker.start()
    await worker.wait_up(120)
    clients, tracks = [], []
    for user_id, clips in enumerate(schedules, 1):
        track = ScheduleTrack(clips)
        answer = functools.partial(media.answer, "bench", user_id, on_stage=True, muted=False)
        client = await connect(answer, track=track)
        await client.wait_connected()
        clients.append(client)
        tracks.append(track)
    media.set_captions("bench", captions, "en")
    return media, worker, got, clients, tracks


async def delay(rounds: int, engine: str) -> dict[str, Any]:
    """3 speakers take turns saying the recorded sentence (5 s apart): from the end of each
    phrase, as sent by its speaker, to its final caption event."""
    clip = read_wav(ARCTIC)
    length = clip.size / 48000
    turn = length + 2.0
    schedules: list[list[tuple[float, np.ndarray]]] = [[], [], []]
    for r in range(rounds):
        for s in range(3):
            schedules[s].append((2.0 + (r * 3 + s) * turn, clip))
    media, worker, got, clients, tracks = await _room_with_speakers(schedules, True, engine)
    assert worker.process is not None
    cpu0 = process_cpu_seconds(worker.process.pid)
    main0 = time.process_time()
    total = 2.0 + rounds * 3 * turn + 3.0
    started = time.monotonic()
    await asyncio.sleep(total)
    for _ in range(300):  # a loaded machine plays late: until every phrase was sent, +3 s
        if all(len(t.ended) == len(c) for t, c in zip(tracks, schedules, strict=True)):
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(3.0)
    total = time.monotonic() - started
    cpu = process_cpu_seconds(worker.process.pid) - cpu0
    main_cpu = time.process_time() - main0
    delays = []
    wall = time.time() - time.monotonic()
    for s, track in enumerate(tracks):
        spans = got.spans.get(s + 1, [])
        for k in range(len(schedules[s])):
            if k not in track.ended:
                continue
            begin, end = wall + track.began[k], wall + track.ended[k]
            # The phrase's captions: final captions of utterances overlapping it; its delay
            # is from its end (as its speaker sent it) to the last of them.
            arrivals = [arr for b, e, arr in spans if b < end and e > begin]
            if arrivals:
                delays.append(max(0.0, max(arrivals) - end))
    room = media.room("bench")
    skipped = room.clock.skipped if room else -1
    for client in clients:
        await client.close()
    await media.close()
    await worker.stop()
    speech = rounds * 3 * length
    return {
        "engine": engine,
        "phrases": rounds * 3,
        "finals_matched": len(delays),
        "delay_p50_s": round(percentile(delays, 50), 3) if delays else None,
        "delay_p95_s": round(percentile(delays, 95), 3) if delays else None,
        "delay_max_s": round(max(delays), 3) if delays else None,
        "worker_cpu_s_per_speech_s": round(cpu / speech, 3),
        "worker_cpu_share_of_a_core": round(cpu / total, 3),
        "media_process_cpu_share_of_a_core": round(main_cpu / total, 3),
        "mixer_skipped_ticks": skipped,
        "dropped_utterances": worker.dropped,
    }


async def delay_tap(rounds: int, engine: str) -> dict[str, Any]:
    """The same turns handed straight to the captions tap on a 20 ms clock (what the mixer
    does each tick), without WebRTC: the captions pipeline's own delay (voice gate's
    hangover, the worker's final decoding, the result's way back)."""
    from townhall.media.audio import level

    clip = read_wav(ARCTIC)
    frames = [clip[i : i + 960] for i in range(0, clip.size - 959, 960)]
    gap = 100  # 2 s of silence between turns
    got = Collector()
    worker = CaptionsWorker(engine, None, got.on_text)
    worker.start()
    await worker.wait_up(120)
    tap = CaptionsTap("bench", "en", worker)
    silence = np.zeros(960, dtype=np.int16)
    script: list[tuple[int, int | None]] = []  # per tick: (speaker, frame index or None)
    ends: list[tuple[int, int]] = []  # (speaker, tick of its phrase's last frame)
    for _round in range(rounds):
        for s in range(1, 4):
            script += [(s, None)] * gap
            script += [(s, k) for k in range(len(frames))]
            ends.append((s, len(script) - 1))
    script += [(1, None)] * 150
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    sent_at: dict[int, float] = {}
    lateness = []
    for tick, (speaker, k) in enumerate(script):
        due = t0 + tick * 0.02
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        lateness.append(max(0.0, -delay))
        pcm = frames[k] if k is not None else silence
        levels = {s: (level(pcm) if s == speaker else 0.0) for s in (1, 2, 3)}
        tap.speakers(tick, {s: (pcm if s == speaker else silence) for s in (1, 2, 3)}, levels)
        sent_at[tick] = time.time()
    await asyncio.sleep(2.0)
    delays = []
    for speaker, tick in ends:
        end = sent_at[tick]
        begin = end - len(frames) * 0.02
        arrivals = [a for b, e, a in got.spans.get(speaker, []) if b < end and e > begin]
        if arrivals:
            delays.append(max(0.0, max(arrivals) - end))
    await worker.stop()
    return {
        "phrases": len(ends),
        "finals_matched": len(delays),
        "delay_p50_s": round(percentile(delays, 50), 3) if delays else None,
        "delay_p95_s": round(percentile(delays, 95), 3) if delays else None,
        "clock_late_p95_ms": round(percentile(lateness, 95) * 1000, 1),
        "gate_hangover_s": GateConfig().hangover * 0.02,
    }


def silent_tap_cost(speakers: int = 13, ticks: int = 50_000) -> dict[str, Any]:
    """The tap's cost per tick for silent stage members (no worker messages at all)."""

    class Nothing:
        up = True
        opened = 0

        def open(self, *a: Any) -> None:
            self.opened += 1

    sink = Nothing()
    tap = CaptionsTap("bench", "en", sink)  # type: ignore[arg-type]
    frame = np.zeros(960, dtype=np.int16)
    frames = dict.fromkeys(range(1, speakers + 1), frame)
    levels = dict.fromkeys(range(1, speakers + 1), 0.0)
    t0 = time.process_time()
    for i in range(ticks):
        tap.speakers(i, frames, levels)
    spent = time.process_time() - t0
    return {
        "silent_speakers": speakers,
        "tap_us_per_silent_speaker_tick": round(spent / ticks / speakers * 1e6, 3),
        "tap_share_of_a_core_per_silent_speaker": round(spent / ticks / speakers / 0.02, 6),
        "utterances_opened": sink.opened,
    }


async def saturate(talkers: int, seconds: float, engine: str) -> dict[str, Any]:
    """`talkers` speakers all talking at once without pause, captions on then off: the
    worker's drops and the mixer's tick (interval between ticks, skipped ticks)."""
    clip = read_wav(ARCTIC)
    reps = int(seconds / (clip.size / 48000)) + 2
    out: dict[str, Any] = {"talkers": talkers, "seconds": seconds}
    for captions in (True, False):
        schedules = [
            [(0.5 + k * clip.size / 48000 + 0.05 * i, clip) for k in range(reps)]
            for i in range(talkers)
        ]
        media, worker, got, clients, _ = await _room_with_speakers(schedules, captions, engine)
        room = media.room("bench")
        assert room is not None
        stamps: list[float] = []

        def stamp(_index: int, _mix: Any, stamps: list[float] = stamps) -> None:
            stamps.append(time.monotonic())

        room.on_mixed = stamp
        skipped0 = room.clock.skipped
        await asyncio.sleep(seconds)
        gaps = np.diff(np.array(stamps)) * 1000
        key = "captions_on" if captions else "captions_off"
        out[key] = {
            "tick_interval_p50_ms": round(float(np.percentile(gaps, 50)), 2),
            "tick_interval_p99_ms": round(float(np.percentile(gaps, 99)), 2),
            "skipped_ticks": room.clock.skipped - skipped0,
            "dropped_utterances": worker.dropped,
            "worker_queue_at_end": worker.queued,
            "finals": sum(len(v) for v in got.finals.values()),
        }
        for client in clients:
            await client.close()
        await media.close()
        await worker.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("what", choices=["wer", "delay", "cost", "saturate", "all"])
    parser.add_argument("--engine", default="pocketsphinx")
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--talkers", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    result: dict[str, Any] = {"load_before": load_average()}
    if args.what in ("wer", "all"):
        result["wer"] = asyncio.run(wer(args.engine, args.model))
    if args.what in ("delay", "cost", "all"):
        result["delay_tap"] = asyncio.run(delay_tap(args.rounds, args.engine))
        result["delay"] = asyncio.run(delay(args.rounds, args.engine))
    if args.what in ("cost", "all"):
        result["silent"] = silent_tap_cost()
    if args.what in ("saturate", "all"):
        result["saturate"] = asyncio.run(saturate(args.talkers, args.seconds, args.engine))
    suffix = "" if args.engine == "pocketsphinx" else f"-{args.engine}"
    path = write_result(f"captions-{args.what}{suffix}", result)
    for key, value in result.items():
        if isinstance(value, dict):
            print(key, {k: v for k, v in value.items() if k != "samples"})
    print("wrote", path, file=sys.stderr)


if __name__ == "__main__":
    main()
