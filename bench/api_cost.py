"""Server CPU per API request in a full room: the figures a loaded machine cannot blur.

A real `townhall serve` (PostgreSQL + Redis by default, in a schema and key prefix of the
benchmark's own; `--db sqlite --bus memory` for one node on SQLite) hosts one live space.
`--members` accounts join it and open a subscribed WebSocket each; then, at low
concurrency (so queueing does not count), `--requests` of each kind are made and the
server's CPU time (/proc/<pid>/stat, user + system) is divided by their number:

- join: fresh accounts join the full room (HTTP), and leave again (counted apart);
- snapshot, react: members of the full room;
- subscribe: a WebSocket opened, subscribed from the join's seq, answered, closed;
- event fan-out: the host changes the title `--events` times; every member's socket
  must receive each event (server CPU per event and per event-recipient).

The idle server's CPU (the host's audio, heartbeats) is measured and subtracted.
`--no-sockets`: the members hold no WebSocket (the server keeps absent members for an
hour), so join, react and leave cost the request alone, without their events' fan-out.
`--profile DIR` records each phase with py-spy (not a dependency: `pip install py-spy`)
as collapsed stacks in DIR/<phase>.txt.

    python -m bench.api_cost --members 2000
    python -m bench.api_cost --members 2000 --db sqlite --bus memory
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from bench.common import process_cpu_seconds, summary_ms, write_result
from bench.join_storm import (
    POSTGRES_URL,
    REDIS_URL,
    Setup,
    _clean_redis,
    _drop_schema,
    _free_port,
    _prepare_database,
    _server,
)


async def _ws_open(base: str, token: str) -> Any:
    import websockets

    url = base.replace("http://", "ws://") + f"/api/v1/ws?token={token}&batch=1"
    return await websockets.connect(url, open_timeout=60, ping_interval=None, max_queue=None)


RETRIES = {"unavailable": 0}


async def _subscribe(ws: Any, space_id: str, seq: int) -> None:
    """Subscribe from `seq`; an `unavailable` answer (the bus was slow) is retried."""
    for _ in range(5):
        await ws.send(json.dumps({"op": "subscribe", "space_id": space_id, "last_seq": seq}))
        async with asyncio.timeout(60):
            while True:
                message = json.loads(await ws.recv())
                if isinstance(message, dict) and message.get("type") == "subscribed":
                    return
                if isinstance(message, dict) and message.get("type") == "error":
                    if message["error"].get("code") != "unavailable":
                        raise RuntimeError(f"subscribe failed: {message}")
                    RETRIES["unavailable"] += 1
                    break
        await asyncio.sleep(1.0)
    raise RuntimeError("subscribe: unavailable five times")


class Phases:
    """Runs phases, each measured in server CPU and optionally profiled by py-spy."""

    def __init__(self, pid: int, idle_rate: float, profile_dir: Path | None) -> None:
        self.pid = pid
        self.idle_rate = idle_rate
        self.profile_dir = profile_dir
        self.results: dict[str, Any] = {}

    async def run(
        self, name: str, count: int, concurrency: int, one: Callable[[int], Awaitable[Any]]
    ) -> None:
        spy = None
        if self.profile_dir is not None:
            out = self.profile_dir / f"{name}.txt"
            py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
            spy = subprocess.Popen(
                [py_spy, "record", "-p", str(self.pid), "-o", str(out), "-f", "raw",
                 "-r", "200", "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            await asyncio.sleep(1.0)
        latencies: list[float] = []
        errors: list[str] = []
        queue = iter(range(count))

        async def worker() -> None:
            for i in queue:
                t0 = time.perf_counter()
                try:
                    await one(i)
                except Exception as exc:
                    errors.append(f"{type(exc).__name__}: {exc}"[:160])
                latencies.append(time.perf_counter() - t0)

        cpu0, t0 = process_cpu_seconds(self.pid), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
        cpu = process_cpu_seconds(self.pid) - cpu0
        if spy is not None:
            spy.send_signal(2)
            spy.wait(60)
        marginal = max(0.0, cpu - self.idle_rate * elapsed)
        self.results[name] = {
            "count": count,
            "concurrency": concurrency,
            "errors": len(errors),
            "error_examples": sorted(set(errors))[:3],
            "seconds": round(elapsed, 2),
            "per_second": round(count / elapsed, 1),
            "latency": summary_ms(latencies),
            "server_cpu_ms_per_request": round(cpu / count * 1000, 2),
            "server_marginal_cpu_ms_per_request": round(marginal / count * 1000, 2),
        }
        print(name, json.dumps(self.results[name]), flush=True)


async def _call(http: httpx.AsyncClient, method: str, path: str, token: str, **kw: Any) -> Any:
    resp = await http.request(method, path, headers={"Authorization": f"Bearer {token}"}, **kw)
    if resp.status_code >= 300:
        raise RuntimeError(f"{method} {path}: {resp.status_code} {resp.text[:100]}")
    return resp.json() if resp.content else None


async def measure(args: argparse.Namespace, base: str, pid: int, accounts: Any) -> dict[str, Any]:
    host = accounts["host"][1]
    members = [accounts[f"m{i}"][1] for i in range(args.members)]
    fresh = [accounts[f"x{i}"][1] for i in range(args.requests)]
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=64)
    timeout = httpx.Timeout(120, pool=None)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=timeout) as http:
        space = await _call(
            http, "POST", "/api/v1/spaces", host, json={"title": "Cost", "visibility": "public"}
        )
        sid = space["id"]
        host_ws = await _ws_open(base, host)  # the host stays present (no host-grace end)
        await _subscribe(host_ws, sid, 0)
        room: list[Any] = []
        t0 = time.perf_counter()

        async def fill(i: int) -> None:
            path = f"/api/v1/spaces/{sid}/join"
            for _ in range(30):  # shed with 503 while the machine is busy: come back
                resp = await http.post(path, headers={"Authorization": f"Bearer {members[i]}"})
                if resp.status_code != 503:
                    break
                await asyncio.sleep(float(resp.headers.get("retry-after", 1)))
            joined = await _call(http, "POST", path, members[i])  # idempotent
            if args.no_sockets:
                return
            ws = await _ws_open(base, members[i])
            await _subscribe(ws, sid, int(joined["seq"]))
            room.append(ws)

        sem = asyncio.Semaphore(16)

        async def fill_bounded(i: int) -> None:
            async with sem:
                await fill(i)

        await asyncio.gather(*(fill_bounded(i) for i in range(args.members)))
        fill_seconds = time.perf_counter() - t0
        print(f"room of {len(room)} filled in {fill_seconds:.1f} s", flush=True)
        await asyncio.sleep(3.0)
        idle0, it0 = process_cpu_seconds(pid), time.perf_counter()
        await asyncio.sleep(5.0)
        idle_rate = (process_cpu_seconds(pid) - idle0) / (time.perf_counter() - it0)
        phases = Phases(pid, idle_rate, args.profile)
        c = args.concurrency
        emojis = ["👏", "🔥", "💯", "🙌", "👍"]
        await phases.run(
            "snapshot", args.requests, c,
            lambda i: _call(http, "GET", f"/api/v1/spaces/{sid}/snapshot", members[i]),
        )  # fmt: skip
        await phases.run(
            "react", args.requests, c,
            lambda i: _call(
                http, "POST", f"/api/v1/spaces/{sid}/react", members[i],
                json={"emoji": emojis[i % 5]},
            ),
        )  # fmt: skip
        seqs: dict[int, int] = {}

        async def join(i: int) -> None:
            joined = await _call(http, "POST", f"/api/v1/spaces/{sid}/join", fresh[i])
            seqs[i] = int(joined["seq"])

        await phases.run("join", args.requests, c, join)
        extra: list[Any] = []

        async def subscribe(i: int) -> None:
            ws = await _ws_open(base, fresh[i])
            await _subscribe(ws, sid, seqs[i])
            extra.append(ws)

        await phases.run("ws_subscribe", args.requests, c, subscribe)
        for ws in extra:
            with contextlib.suppress(Exception):
                await ws.close()
        await phases.run(
            "leave", args.requests, c,
            lambda i: _call(http, "POST", f"/api/v1/spaces/{sid}/leave", fresh[i]),
        )  # fmt: skip

        async def drain(ws: Any) -> int:
            got = 0
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(120):
                    while got < args.events:
                        messages = json.loads(await ws.recv())
                        for m in messages if isinstance(messages, list) else [messages]:
                            if m.get("space_id") == sid and m.get("type") == "space.updated":
                                got += 1
            return got

        if args.no_sockets:
            await host_ws.close()
            return _summary(args, fill_seconds, idle_rate, phases)
        # Fan-out: the title changes while every member listens; all must get each one.
        readers = [asyncio.create_task(drain(ws)) for ws in room]
        await asyncio.sleep(0.5)
        await phases.run(
            "event_fanout", args.events, 1,
            lambda i: _call(
                http, "PATCH", f"/api/v1/spaces/{sid}", host, json={"title": f"Cost {i}"}
            ),
        )  # fmt: skip
        got = await asyncio.gather(*readers)
        cpu_ms = phases.results["event_fanout"]["server_marginal_cpu_ms_per_request"]
        phases.results["event_fanout"] |= {
            "recipients": len(room),
            "members_with_every_event": sum(1 for g in got if g >= args.events),
            "server_cpu_us_per_recipient": round(cpu_ms * 1000 / max(1, len(room)), 1),
        }
        for ws in [*room, host_ws]:
            with contextlib.suppress(Exception):
                await ws.close()
    return _summary(args, fill_seconds, idle_rate, phases)


def _summary(
    args: argparse.Namespace, fill_seconds: float, idle_rate: float, phases: Phases
) -> dict[str, Any]:
    return {
        "members": args.members,
        "members_hold_sockets": not args.no_sockets,
        "room_fill_seconds": round(fill_seconds, 1),
        "subscribes_retried_unavailable": RETRIES["unavailable"],
        "idle_server_cpu_percent_of_one_core": round(idle_rate * 100, 1),
        "phases": phases.results,
        "server_cpu_ms_per_request": {
            k: v["server_marginal_cpu_ms_per_request"] for k, v in phases.results.items()
        },
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="townhall-api-cost-"))
    tag = uuid.uuid4().hex[:10]
    if args.db == "postgres":
        setup = Setup(POSTGRES_URL, f"bench_ac_{tag}", "", "", data_dir)
    else:
        setup = Setup(f"sqlite:///{data_dir / 'townhall.db'}", "", "", "", data_dir)
    if args.bus == "redis":
        setup.redis_url, setup.redis_prefix = REDIS_URL, f"bench-ac-{tag}:"
    handles = ["host"] + [f"m{i}" for i in range(args.members)]
    handles += [f"x{i}" for i in range(args.requests)]
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    try:
        accounts = await _prepare_database(setup, handles)
        port = _free_port()
        extra = {"TOWNHALL_ABSENT_MEMBER_SECONDS": "3600"} if args.no_sockets else None
        with _server(setup, port, extra) as proc:
            result = await measure(args, f"http://127.0.0.1:{port}", proc.pid, accounts)
        return {"database": args.db, "bus": args.bus} | result
    finally:
        await _drop_schema(setup)
        await _clean_redis(setup)
        log = data_dir / "server.log"
        if log.exists():
            shutil.copy(log, Path(tempfile.gettempdir()) / "api_cost-server.log")
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=300, help="of each kind")
    parser.add_argument("--events", type=int, default=10, help="title changes fanned out")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--bus", choices=["redis", "memory"], default="redis")
    parser.add_argument("--profile", type=Path, default=None, help="py-spy output directory")
    parser.add_argument("--no-sockets", action="store_true", help="members hold no WebSocket")
    parser.add_argument("--name", default="")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    name = args.name or f"api_cost-{args.db}"
    path = write_result(name, result)
    print(json.dumps(result["server_cpu_ms_per_request"], indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
