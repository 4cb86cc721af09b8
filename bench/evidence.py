"""Evidence and moderation benchmarks.

`python -m bench.evidence buffer [--minutes 10] [--runs 2]`: the ring buffer alone on real
listener packets (townhall's own `OpusEncoder`, 48 kbit/s, complexity 10, of a voice-like
signal: tone bursts with noise, pauses and a loud stretch): bytes it holds after
`--minutes` (its own count and tracemalloc's), and CPU time per packet of `tick` (append
plus timeline, three speakers' levels) next to the CPU time of encoding that packet (the
encode the mixer does anyway); also the cost of writing a 7-minute window (in a thread,
off the mixer's clock). Writes `results/evidence-buffer.json`.

`python -m bench.evidence moderation [--reports 20] [--listeners 5] [--runs 2]`: a real
`townhall serve` (SQLite, in-memory bus); a host speaks a tone over WebRTC, listeners
listen. Report -> visible to a moderator: the `report.filed` push at the moderator's
WebSocket and the review queue read after it (what the web page does); evidence ready
(the `evidence.ready` push) after the window closes; ban -> the host's WebSocket closed
(4401), the host's media connection closed, every listener told `space.ended` and their
media closed. Writes `results/evidence-moderation.json`.

`python -m bench.evidence page [--reports 20]`: the same reports, timed to the group's
appearance on a moderator's open `#/admin/reports` page in headless Chromium (push, queue
read and render), twice. Writes `results/evidence-page.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.common import FRAME_SAMPLES, SAMPLE_RATE, load_average, summary_ms, write_result
from townhall.bus.evidence import EvidenceRequest
from townhall.media.audio import OpusEncoder
from townhall.media.evidence import Captured, EvidenceBuffer, write_evidence

# -- the ring buffer ----------------------------------------------------------------


def voice_like(seconds: float, seed: int = 1) -> np.ndarray:
    """Tone bursts (syllables) with noise, pauses, and a loud stretch: a speech-ish load."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    syllables = (np.sin(2 * np.pi * 4 * t) > -0.2).astype(np.float64)
    pauses = (np.sin(2 * np.pi * 0.15 * t) > -0.6).astype(np.float64)
    pitch = 180 + 40 * np.sin(2 * np.pi * 0.5 * t)
    voiced = np.sin(2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE) * 0.4
    noise = rng.normal(0, 0.08, n)
    signal = (voiced + noise) * syllables * pauses
    signal[: n // 6] += np.sin(2 * np.pi * 440 * t[: n // 6]) * 0.5  # a loud tone
    return np.clip(signal * 32767 * 0.6, -32768, 32767).astype(np.int16)


def encoded_pool(seconds: float) -> tuple[list[bytes], float]:
    """Real listener packets of `seconds` of voice-like audio, and CPU s per encode."""
    pcm = voice_like(seconds)
    encoder = OpusEncoder()
    frames = [
        pcm[i : i + FRAME_SAMPLES] for i in range(0, pcm.size - FRAME_SAMPLES + 1, FRAME_SAMPLES)
    ]
    started = time.process_time()
    packets = [encoder.encode(f) for f in frames]
    spent = time.process_time() - started
    return [p for p in packets if p], spent / len(frames)


def buffer_run(minutes: float, pool: list[bytes]) -> dict[str, Any]:
    ticks = int(minutes * 60 * 50)
    now = [1_700_000_000.0]
    levels_cycle = [{1: 0.6, 2: 0.0, 3: 0.1}, {1: 0.0, 2: 0.5, 3: 0.0}, {1: 0.0, 2: 0.0, 3: 0.0}]
    n = len(pool)
    # CPU first (tracemalloc would slow every allocation), then the bytes, traced.
    timed = EvidenceBuffer("bench", clock=lambda: now[0])
    started = time.process_time()
    for index in range(ticks):
        now[0] += 0.02
        timed.tick(index, pool[index % n], levels_cycle[(index // 150) % 3])
    cpu = time.process_time() - started
    timed.close()
    baseline = time.process_time()
    for index in range(ticks):  # the loop's own cost, without the buffer
        now[0] += 0.02
        _ = (index, pool[index % n], levels_cycle[(index // 150) % 3])
    cpu -= time.process_time() - baseline
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    buffer = EvidenceBuffer("bench", clock=lambda: now[0])
    for index in range(ticks):
        now[0] += 0.02
        buffer.tick(index, pool[index % n], levels_cycle[(index // 150) % 3])
    traced = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    held = buffer.nbytes()
    payload = sum(len(pool[i % n]) for i in range(max(0, ticks - buffer.packets), ticks))
    taken: list[Captured] = []
    buffer.on_capture = taken.append
    buffer.capture(EvidenceRequest(1, "bench", now[0] - 120, 300, 120))
    with tempfile.TemporaryDirectory() as tmp:
        started = time.process_time()
        wall = time.perf_counter()
        path = write_evidence(Path(tmp), taken[0])
        write_cpu = time.process_time() - started
        write_wall = time.perf_counter() - wall
        size = path.stat().st_size if path else 0
    buffer.close()
    return {
        "minutes": minutes,
        "packets_held": buffer_packets(ticks),
        "bytes_held": held,
        "bytes_held_tracemalloc": traced,
        "payload_bytes": payload,
        "overhead_bytes": held - payload,
        "tick_cpu_us_per_packet": round(cpu / ticks * 1e6, 3),
        "window_seconds": 420,
        "window_write_cpu_ms": round(write_cpu * 1000, 1),
        "window_write_wall_ms": round(write_wall * 1000, 1),
        "window_file_bytes": size,
    }


def buffer_packets(ticks: int) -> int:
    return min(ticks, 600 * 50)


def bench_buffer(minutes: float, runs: int) -> dict[str, Any]:
    pool, encode_cpu = encoded_pool(60.0)
    results = [buffer_run(minutes, pool) for _ in range(runs)]
    mean_packet = sum(len(p) for p in pool) / len(pool)
    result = {
        "encoder": {
            "bitrate": 48_000,
            "complexity": 10,
            "mean_packet_bytes": round(mean_packet, 1),
        },
        "encode_cpu_us_per_packet": round(encode_cpu * 1e6, 1),
        "runs": results,
    }
    for run in results:
        run["tick_share_of_encode"] = round(run["tick_cpu_us_per_packet"] / (encode_cpu * 1e6), 4)
    return result


# -- report, queue, ban ---------------------------------------------------------------


async def _signup(http: httpx.AsyncClient, handle: str) -> dict[str, Any]:
    r = await http.post(
        "/api/v1/auth/signup",
        json={"handle": handle, "display_name": handle.title(), "password": "correct horse"},
    )
    r.raise_for_status()
    http.cookies.clear()
    body = r.json()
    return {
        "id": body["user"]["id"],
        "handle": handle,
        "token": body["token"],
        "headers": {"Authorization": f"Bearer {body['token']}"},
    }


class Socket:
    """One WebSocket; every message is stamped with its arrival time."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.messages: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()
        self.seen: list[tuple[float, dict[str, Any]]] = []  # everything, in order
        self.closed_at: float | None = None
        self.close_code: int | None = None
        self._task = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, base: str, token: str) -> Socket:
        import websockets

        url = base.replace("http://", "ws://") + f"/api/v1/ws?token={token}"
        return cls(await websockets.connect(url, open_timeout=10, max_queue=None))

    async def _read(self) -> None:
        try:
            async for raw in self.conn:
                item = (time.perf_counter(), json.loads(raw))
                self.seen.append(item)
                self.messages.put_nowait(item)
        except Exception:
            pass
        self.closed_at = time.perf_counter()
        self.close_code = self.conn.close_code

    async def until(self, match: Any, timeout: float = 10.0) -> float:
        async with asyncio.timeout(timeout):
            while True:
                at, message = await self.messages.get()
                if match(message):
                    return at

    async def closed(self, timeout: float = 10.0) -> float:
        async with asyncio.timeout(timeout):
            await asyncio.shield(self._task)
        assert self.closed_at is not None
        return self.closed_at

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.conn.close()
        self._task.cancel()


def _closed_at(client: Any) -> asyncio.Future[float]:
    done: asyncio.Future[float] = asyncio.get_running_loop().create_future()

    @client.pc.on("connectionstatechange")  # type: ignore[untyped-decorator]
    def _state() -> None:
        if client.pc.connectionState in ("closed", "failed") and not done.done():
            done.set_result(time.perf_counter())

    return done


async def moderation_run(
    base: str, data: Path, run: int, reports: int, listeners: int
) -> dict[str, Any]:
    from townhall.client.media import ToneTrack, connect, http_answer

    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        host = await _signup(http, f"host{run}")
        mod = await _signup(http, f"mod{run}")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "townhall.cli",
                "admin",
                "grant",
                mod["handle"],
                "--role",
                "moderator",
                "--data-dir",
                str(data),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        people = [await _signup(http, f"r{run}x{i}") for i in range(reports)]
        r = await http.post(
            "/api/v1/spaces",
            json={"title": f"Bench {run}", "visibility": "public"},
            headers=host["headers"],
        )
        r.raise_for_status()
        sid = r.json()["id"]
        (
            await http.post(f"/api/v1/spaces/{sid}/unmute", headers=host["headers"])
        ).raise_for_status()
        for who in people:
            (
                await http.post(f"/api/v1/spaces/{sid}/join", headers=who["headers"])
            ).raise_for_status()
        speaker = await connect(http_answer(http, sid, host["headers"]), track=ToneTrack(440))
        ears = [await connect(http_answer(http, sid, p["headers"])) for p in people[:listeners]]
        await asyncio.gather(speaker.wait_connected(), *(e.wait_connected() for e in ears))
        mod_ws = await Socket.open(base, mod["token"])
        host_ws = await Socket.open(base, host["token"])
        room_ws = [await Socket.open(base, p["token"]) for p in people[:listeners]]
        for ws in room_ws:
            await ws.conn.send(json.dumps({"op": "subscribe", "space_id": sid}))
        await asyncio.sleep(2.0)

        pushed, queued = [], []
        first_report: float | None = None
        for who in people:
            t0 = time.perf_counter()
            first_report = first_report or t0
            r = await http.post(
                f"/api/v1/spaces/{sid}/report", json={"reason": "bench"}, headers=who["headers"]
            )
            r.raise_for_status()
            rid = r.json()["id"]
            seen = await mod_ws.until(
                lambda m, rid=rid: m.get("type") == "report.filed" and m["data"]["report_id"] == rid
            )
            queue = (await http.get("/api/v1/admin/reports", headers=mod["headers"])).json()
            assert any(x["id"] == rid for g in queue["groups"] for x in g["reports"])
            pushed.append(seen - t0)
            queued.append(time.perf_counter() - t0)
            await asyncio.sleep(0.1)
        assert first_report is not None
        reports_took = time.perf_counter() - first_report
        queue = (await http.get("/api/v1/admin/reports", headers=mod["headers"])).json()
        ours = [g for g in queue["groups"] if g["space"]["id"] == sid]  # not earlier runs'
        evidence = {e["id"] for g in ours for e in g["evidence"]}
        deadline = time.perf_counter() + 30
        while True:  # every window written and announced
            ready = [(at, m) for at, m in mod_ws.seen if m.get("type") == "evidence.ready"]
            if {m["data"]["evidence_id"] for _, m in ready} >= evidence:
                break
            if time.perf_counter() > deadline:
                queue = (await http.get("/api/v1/admin/reports", headers=mod["headers"])).json()
                states = [(e["id"], e["status"]) for g in queue["groups"] for e in g["evidence"]]
                raise RuntimeError(f"evidence not all ready: {states}, pushed {ready}")
            await asyncio.sleep(0.05)
        evidence_ready = ready[0][0] - first_report

        ear_closed = [_closed_at(e) for e in ears]
        host_closed = _closed_at(speaker)
        t0 = time.perf_counter()
        r = await http.post(
            f"/api/v1/admin/users/{host['handle']}/actions",
            json={"action": "ban", "reason": "bench"},
            headers=mod["headers"],
        )
        r.raise_for_status()
        answered = time.perf_counter() - t0
        host_ws_closed = await host_ws.closed() - t0
        host_media = (await asyncio.wait_for(host_closed, 10)) - t0
        ended = [await ws.until(lambda m: m.get("type") == "space.ended") - t0 for ws in room_ws]
        ears_media = [(await asyncio.wait_for(f, 10)) - t0 for f in ear_closed]
        for ws in (mod_ws, *room_ws):
            await ws.close()
        await asyncio.gather(speaker.close(), *(e.close() for e in ears), return_exceptions=True)
        return {
            "reports": reports,
            "evidence_files": len(evidence),
            "reports_seconds": round(reports_took, 2),
            "report_to_push": summary_ms(pushed),
            "report_to_queue_read": summary_ms(queued),
            "evidence_ready_after_first_report_ms": round(evidence_ready * 1000, 1),
            "ban": {
                "answered_ms": round(answered * 1000, 1),
                "host_websocket_closed_ms": round(host_ws_closed * 1000, 1),
                "host_websocket_close_code": host_ws.close_code,
                "host_media_closed_ms": round(host_media * 1000, 1),
                "listeners_told_space_ended": summary_ms(ended),
                "listeners_media_closed": summary_ms(ears_media),
            },
        }


async def bench_moderation(reports: int, listeners: int, runs: int) -> dict[str, Any]:
    from tests.support.server import server_process
    from townhall.media.ice import use_host_addresses

    use_host_addresses(["127.0.0.1"])
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        env = {"TOWNHALL_MEDIA_ADDRESSES": "127.0.0.1", "TOWNHALL_EVIDENCE_AFTER_SECONDS": "2"}
        with server_process(data, env) as (base, _proc):
            results = []
            for run in range(runs):
                results.append(await moderation_run(base, data, run, reports, listeners))
                results[-1]["load_average_after"] = load_average()
    return {"evidence_after_seconds": 2, "listeners": listeners, "runs": results}


def bench_page(reports: int) -> dict[str, Any]:
    """Report -> the group on the moderator's open `#/admin/reports` page in headless
    Chromium (the `report.filed` push, the queue read, the render), and the evidence
    player's appearance after the window."""
    from playwright.sync_api import sync_playwright

    from tests.support.server import server_process
    from tests.web.conftest import BASE_FLAGS, CHROMIUM
    from tests.web.flows import login

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        env = {"TOWNHALL_MEDIA_ADDRESSES": "127.0.0.1", "TOWNHALL_EVIDENCE_AFTER_SECONDS": "2"}
        with server_process(data, env) as (base, _proc), httpx.Client(base_url=base) as http:

            def signup(handle: str) -> dict[str, str]:
                r = http.post(
                    "/api/v1/auth/signup",
                    json={"handle": handle, "display_name": handle, "password": "correct horse"},
                )
                r.raise_for_status()
                http.cookies.clear()
                return {"Authorization": f"Bearer {r.json()['token']}"}

            host, _ = signup("host"), signup("mod")
            people = [signup(f"rep{i}") for i in range(reports)]
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "townhall.cli",
                    "admin",
                    "grant",
                    "mod",
                    "--role",
                    "moderator",
                    "--data-dir",
                    str(data),
                ],
                check=True,
                capture_output=True,
                timeout=60,
            )
            r = http.post(
                "/api/v1/spaces", json={"title": "Page", "visibility": "public"}, headers=host
            )
            sid = r.json()["id"]
            for who in people:
                http.post(f"/api/v1/spaces/{sid}/join", headers=who).raise_for_status()
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=str(CHROMIUM), headless=True, args=BASE_FLAGS
                )
                page = browser.new_page(base_url=base)
                login(page, "mod")
                page.goto("/#/admin/reports")
                page.wait_for_selector(".report-status")
                seen = []
                for who in people:
                    t0 = time.perf_counter()
                    r = http.post(
                        f"/api/v1/spaces/{sid}/report", json={"reason": "page"}, headers=who
                    )
                    rid = r.json()["id"]
                    page.wait_for_selector(f'[data-report="{rid}"]', timeout=10_000)
                    seen.append(time.perf_counter() - t0)
                browser.close()
    return {
        "reports": reports,
        "report_to_page": summary_ms(seen),
        "note": "no one connected to the space's audio: evidence stays pending here",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    b = sub.add_parser("buffer")
    b.add_argument("--minutes", type=float, default=10.0)
    b.add_argument("--runs", type=int, default=2)
    m = sub.add_parser("moderation")
    m.add_argument("--reports", type=int, default=20)
    m.add_argument("--listeners", type=int, default=5)
    m.add_argument("--runs", type=int, default=2)
    p = sub.add_parser("page")
    p.add_argument("--reports", type=int, default=20)
    args = parser.parse_args()
    if args.what == "page":
        result = {"runs": [bench_page(args.reports) for _ in range(2)]}
        path = write_result("evidence-page", result)
    elif args.what == "buffer":
        result = bench_buffer(args.minutes, args.runs)
        path = write_result("evidence-buffer", result)
    else:
        result = asyncio.run(bench_moderation(args.reports, args.listeners, args.runs))
        path = write_result("evidence-moderation", result)
    print(json.dumps(result, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
