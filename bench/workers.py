"""Media workers: does one space's audience scale with workers, and how fast is failover?

The real `WorkerPool` (worker processes, channel, placement, relay) on an in-memory bus,
3 speakers (pre-encoded tones) and N light listeners of `bench/loadgen.py` (real ICE and
DTLS, packets counted at the socket) in this process.

`scale`: 1 worker holding all N listeners, then 2 workers (the origin holds N/2, the edge
the rest through the relay). Per worker: CPU seconds / listener-packets sent in the window.
Each worker's fixed cost (its CPU with the speakers but no listeners: decode, mix,
mix-minus encodes; about nothing on an edge) is measured first; its marginal cost is
(CPU - fixed) / listener-packets. A worker's capacity is the packets/s that fill its
core at that cost, (1 - fixed) / marginal, and a configuration's the sum over its
workers (placement fills the origin, then the edges). The scaling figure is
capacity(2) / capacity(1), with both marginal costs reported beside it.

`failover`: 2 workers, SIGKILL the space's origin; the moved members (the pool publishes
`media.moved` on the bus) offer again like the clients do; per listener, the time from the
kill until it receives audio again (packets whose mean size is that of the tones' mix, not
of the silence a fresh origin mixes before its speakers are back).

    python -m bench.workers scale --listeners 100 --seconds 10
    python -m bench.workers failover --listeners 60 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import encode_tone, load_average, percentile, process_cpu_seconds, write_result
from bench.loadgen import EncodedTrack, LoadGenerator, LoadListener
from townhall.bus.events import MEDIA_MOVED
from townhall.bus.memory import MemoryBus
from townhall.config import load_settings
from townhall.media.ice import use_host_addresses
from townhall.media.room_state import RoomState
from townhall.media.workers.pool import WorkerPool

SPACE = "benchspace01"
SPEAKERS = (1, 2, 3)
TONES = (330.0, 440.0, 550.0)
AUDIBLE_MEAN_BYTES = 60  # SRTP packets of the tones' mix are ~100 bytes; silence ~30


class States:
    """The bench space as the database would describe it: everyone in, speakers on stage."""

    async def room_state(self, space_id: str) -> RoomState:
        users = frozenset(range(1, 100_000))
        return RoomState(ended=False, members=users, on_stage=frozenset(SPEAKERS))


class PoolSignalling:
    """What `LoadGenerator` asks its server for (`op: offer`), answered by the pool."""

    def __init__(self, pool: WorkerPool) -> None:
        self.pool = pool

    async def request(self, message: dict[str, Any]) -> dict[str, Any]:
        sdp, type_ = await self.pool.answer(
            SPACE,
            int(message["user"]),
            message["sdp"],
            message["type"],
            on_stage=message["role"] == "speaker",
            muted=False,
        )
        return {"sdp": sdp, "type": type_}


@contextlib.asynccontextmanager
async def running_pool(workers: int, per_worker: int) -> Any:
    async def allowed(space_id: str, user_id: int, credential: int | None) -> bool:
        return True

    with tempfile.TemporaryDirectory(prefix="townhall-bench-") as data:
        settings = load_settings(
            data_dir=Path(data),
            media_addresses=["127.0.0.1"],
            hls=False,
            captions_engine="off",
            log_level="warning",
        )
        bus = MemoryBus()
        pool = WorkerPool(
            settings, bus, States(), allowed, count=workers, listeners_per_worker=per_worker
        )
        await pool.start()
        try:
            yield pool, bus
        finally:
            await pool.close()


async def join_speakers(generator: LoadGenerator) -> None:
    for user, tone in zip(SPEAKERS, TONES, strict=True):
        track = EncodedTrack(encode_tone(tone, 250))
        await generator.join(user, role="speaker", track=track)


async def measure_scale(workers: int, listeners: int, seconds: float) -> dict[str, Any]:
    per_worker = listeners if workers == 1 else -(-listeners // workers)
    async with running_pool(workers, per_worker) as (pool, _bus):
        generator = LoadGenerator(PoolSignalling(pool))
        await join_speakers(generator)
        await asyncio.sleep(3.0)  # the speakers' handshakes are over
        # Baseline: each worker's CPU with the speakers but no listeners (decode, mix,
        # the mix-minus encodes): the fixed cost of the origin.
        idle_0, idle_wall = await pool.stats(), time.perf_counter()
        await asyncio.sleep(4.0)
        idle_1, idle_wall = await pool.stats(), time.perf_counter() - idle_wall
        idle = [
            (a.cpu_seconds - b.cpu_seconds) / idle_wall for b, a in zip(idle_0, idle_1, strict=True)
        ]
        await generator.join_many(listeners, concurrency=8, timeout=150 + 0.3 * listeners)
        await asyncio.sleep(2.0)
        load_0 = process_cpu_seconds(os.getpid())
        got_0 = generator.totals()["packets"]
        wall_0 = time.perf_counter()
        before = await pool.stats()
        await asyncio.sleep(seconds)
        after = await pool.stats()
        wall = time.perf_counter() - wall_0
        received = generator.totals()["packets"] - got_0
        load_cpu = process_cpu_seconds(os.getpid()) - load_0
        per_worker_out = []
        capacity = 0.0
        for b, a, fixed in zip(before, after, idle, strict=True):
            packets = a.listener_packets - b.listener_packets
            cpu = a.cpu_seconds - b.cpu_seconds
            marginal = (cpu - fixed * wall) / packets if packets else None
            if marginal and marginal > 0:
                capacity += (1.0 - fixed) / marginal  # packets/s with this core full
            roles = {s: ("edge" if v.edge else "origin") for s, v in a.spaces.items()}
            per_worker_out.append(
                {
                    "index": a.index,
                    "roles": roles,
                    "listeners": a.listeners,
                    "packets_per_second": round(packets / wall, 1),
                    "cpu_share_of_core": round(cpu / wall, 3),
                    "fixed_cpu_share_without_listeners": round(fixed, 3),
                    "cpu_us_per_listener_packet": round(cpu / packets * 1e6, 2)
                    if packets
                    else None,
                    "marginal_cpu_us_per_listener_packet": round(marginal * 1e6, 2)
                    if marginal
                    else None,
                    "relay_received": a.relay_received,
                    "relay_lost": a.relay_lost,
                }
            )
        sent = sum(w["packets_per_second"] for w in per_worker_out)
        edges = [w for w in per_worker_out if "edge" in w["roles"].values()]
        origin_out = next(w for w in per_worker_out if "origin" in w["roles"].values())
        if edges and origin_out["marginal_cpu_us_per_listener_packet"]:
            # 16 cores by the same measure: the origin as measured plus 15 edges like this one.
            edge_marginal = edges[0]["marginal_cpu_us_per_listener_packet"]
            origin_capacity = (1 - origin_out["fixed_cpu_share_without_listeners"]) / (
                origin_out["marginal_cpu_us_per_listener_packet"] / 1e6
            )
            cores_16 = origin_capacity + 15 / (edge_marginal / 1e6)
            projected = {"packets_per_second": round(cores_16), "listeners": round(cores_16 / 50)}
        else:
            projected = None
        total_cpu = sum(w["cpu_share_of_core"] for w in per_worker_out)
        result = {
            "workers": workers,
            "listeners_requested": listeners,
            "listeners_joined": generator.totals()["listeners"],
            "join_failures": generator.failures,
            "window_seconds": round(wall, 2),
            "listener_packets_per_second": round(sent, 1),
            "received_ratio": round(received / (sent * wall), 4) if sent else None,
            "cpu_us_per_listener_packet": round(total_cpu / sent * 1e6, 2) if sent else None,
            "capacity_packets_per_second": round(capacity),
            "load_generator_cpu_share": round(load_cpu / wall, 3),
            "projected_16_workers": projected,
            "per_worker": per_worker_out,
        }
        await generator.close()
        return result


def _audible(listener: LoadListener, marks: dict[int, tuple[int, int]]) -> bool:
    tap = listener.tap
    packets, octets = marks.get(id(tap), (0, 0))
    marks[id(tap)] = (tap.packets, tap.octets)
    new = tap.packets - packets
    return new >= 3 and (tap.octets - octets) / new > AUDIBLE_MEAN_BYTES


async def measure_failover(listeners: int) -> dict[str, Any]:
    async with running_pool(2, -(-listeners // 2)) as (pool, bus):
        generator = LoadGenerator(PoolSignalling(pool))
        await join_speakers(generator)
        await generator.join_many(listeners, concurrency=8, timeout=150 + 0.3 * listeners)
        await asyncio.sleep(2.0)
        by_user = {lst.user: lst for lst in generator.listeners}
        view = await pool.stats()
        origin = next(w for w in view if SPACE in w.spaces and not w.spaces[SPACE].edge)
        subscription = await bus.subscribe(SPACE)
        reoffers: list[asyncio.Task[Any]] = []

        async def follow() -> None:
            async for event in subscription:
                if event.type != MEDIA_MOVED:
                    continue
                for user in event.data.get("user_ids", []):
                    reoffers.append(asyncio.create_task(reoffer(int(user))))

        async def reoffer(user: int) -> None:
            old = by_user.get(user)
            if old is not None:
                with contextlib.suppress(Exception):
                    await old.pc.close()
            role = "speaker" if user in SPEAKERS else "listener"
            track = None
            if role == "speaker":
                track = EncodedTrack(encode_tone(TONES[SPEAKERS.index(user)], 250))
            for _ in range(20):
                try:
                    by_user[user] = await generator.join(user, role=role, track=track)
                    return
                except Exception:
                    await asyncio.sleep(0.25)

        follower = asyncio.create_task(follow())
        listener_ids = [u for u in by_user if u not in SPEAKERS]
        marks: dict[int, tuple[int, int]] = {}
        for user in listener_ids:
            _audible(by_user[user], marks)
        os.kill(origin.pid, signal.SIGKILL)
        killed = time.perf_counter()
        back: dict[int, float] = {}
        async with asyncio.timeout(30):
            await asyncio.sleep(0.3)  # packets in flight before the kill do not count
            for user in listener_ids:
                _audible(by_user[user], marks)
            while len(back) < len(listener_ids):
                await asyncio.sleep(0.1)
                now = time.perf_counter()
                for user in listener_ids:
                    if user not in back and _audible(by_user[user], marks):
                        back[user] = now - killed
        follower.cancel()
        await subscription.close()
        for task in reoffers:
            task.cancel()
        times = sorted(back.values())
        await generator.close()
        return {
            "listeners": len(listener_ids),
            "moved": len(reoffers),
            "heard_again_p50_s": round(percentile(times, 50), 2),
            "heard_again_p95_s": round(percentile(times, 95), 2),
            "heard_again_max_s": round(times[-1], 2),
        }


async def main_async(args: argparse.Namespace) -> None:
    use_host_addresses(["127.0.0.1"])
    note = (
        "2-core machine shared with other agents' builds and tests (see load average); the "
        "load generator runs on the same cores: figures are indicative"
    )
    if args.mode == "scale":
        runs = []
        for run in range(args.runs):
            for workers in (1, 2):
                measured = await measure_scale(workers, args.listeners, args.seconds)
                measured["run"] = run + 1
                measured["load_avg"] = load_average()
                print(measured, flush=True)
                runs.append(measured)
        ratios = []
        for run in range(args.runs):
            one, two = (r for r in runs if r["run"] == run + 1)
            if one["capacity_packets_per_second"] and two["capacity_packets_per_second"]:
                ratios.append(
                    round(
                        two["capacity_packets_per_second"] / one["capacity_packets_per_second"], 2
                    )
                )
        result = {
            "note": note,
            "command": f"python -m bench.workers scale --listeners {args.listeners} "
            f"--seconds {args.seconds} --runs {args.runs}",
            "load_avg": load_average(),
            "scaling_2_vs_1": ratios,
            "target_scaling": 1.7,
            "runs": runs,
        }
        print(write_result(args.name or "workers-scale", result))
    else:
        runs = []
        for run in range(args.runs):
            measured = await measure_failover(args.listeners)
            measured["run"] = run + 1
            measured["load_avg"] = load_average()
            print(measured, flush=True)
            runs.append(measured)
        result = {
            "note": note,
            "command": f"python -m bench.workers failover --listeners {args.listeners} "
            f"--runs {args.runs}",
            "load_avg": load_average(),
            "target_p95_s": 5.0,
            "runs": runs,
        }
        print(write_result(args.name or "workers-failover", result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=["scale", "failover"])
    parser.add_argument("--listeners", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--name", default="")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
