"""WebSocket fan-out: server CPU per event-recipient, for lone events and for bursts.

An in-process townhall app (SQLite, memory bus) under uvicorn on loopback; `--members`
accounts open a batched WebSocket each (`?batch=1`, as the web client and the SDK do)
from a load-generator process, and subscribe to one live space. Events are then
published on the bus, in two phases:

- `single`: one event every `--single-gap` s (longer than the pacing interval), so each
  goes out as its own frame, written by the bus straight to each idle socket;
- `burst`: one event every `--burst-gap` s (a join storm's pace and more), so the pacer
  gathers them into frames of several events.

Per phase: server CPU (user + system, this process, idle CPU subtracted) per
event-recipient and per frame, frames per socket, and whether every member got every
event once and in order (counted at the load generator, whose CPU is reported too).

    python -m bench.ws_fanout --members 500 --runs 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import resource
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from bench.common import write_result

MARK = "hand.raised"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _members(port: int, space_id: str, tokens: list[str], inbox: Any, outbox: Any) -> None:
    """The load generator: one socket per token; counts frames and checks every event."""
    import websockets

    async def main() -> None:
        connect = asyncio.Semaphore(8)
        subscribed = 0
        phase: dict[str, Any] = {"name": "", "frames": 0}
        seqs: list[list[int]] = [[] for _ in tokens]

        async def one(i: int, token: str) -> None:
            nonlocal subscribed
            await connect.acquire()
            url = f"ws://127.0.0.1:{port}/api/v1/ws?token={token}&batch=1"
            async with websockets.connect(url, max_queue=None, ping_interval=None) as ws:
                await ws.send(json.dumps({"op": "subscribe", "space_id": space_id}))
                async for raw in ws:
                    message = json.loads(raw)
                    phase["frames"] += 1
                    for m in message if isinstance(message, list) else [message]:
                        if m.get("type") == "subscribed":
                            subscribed += 1
                            connect.release()
                        elif m.get("type") == MARK:
                            seqs[i].append(m["seq"])

        tasks = [asyncio.create_task(one(i, t)) for i, t in enumerate(tokens)]
        while subscribed < len(tokens):
            await asyncio.sleep(0.05)
        phase["frames"] = 0  # the subscribe answers are not the phases' frames
        outbox.put({"ready": True})
        loop = asyncio.get_running_loop()
        while True:
            order = await loop.run_in_executor(None, inbox.get)
            if order["do"] == "stop":
                break
            # {"do": "count", "first": seq, "last": seq}: wait until every member has them
            first, last, deadline = order["first"], order["last"], time.monotonic() + 60
            while time.monotonic() < deadline:
                if all(s and s[-1] >= last for s in seqs):
                    break
                await asyncio.sleep(0.05)
            expected = list(range(first, last + 1))
            complete = sum(1 for s in seqs if [q for q in s if q >= first] == expected)
            outbox.put(
                {
                    "frames": phase["frames"],
                    "members_with_every_event_in_order": complete,
                    "loadgen_cpu_seconds": time.process_time(),
                }
            )
            phase["frames"] = 0
        for task in tasks:
            task.cancel()

    asyncio.run(main())


async def _phase(
    app: Any,
    space_id: str,
    members: int,
    count: int,
    gap: float,
    channels: tuple[Any, Any],
    idle: float,
) -> dict[str, Any]:
    from townhall.bus import Event

    inbox, outbox = channels
    bus = app.state.bus
    start_cpu, start = _cpu(), time.monotonic()
    first = last = 0
    for i in range(count):
        sent = await bus.publish(Event(MARK, space_id, {"user_id": i}))
        first, last = first or sent.seq, sent.seq
        await asyncio.sleep(gap)
    inbox.put({"do": "count", "first": first, "last": last})
    counted = await asyncio.get_running_loop().run_in_executor(None, outbox.get)
    wall = time.monotonic() - start
    cpu = _cpu() - start_cpu - idle * wall
    recipients = count * members
    return {
        "events": count,
        "gap_seconds": gap,
        "wall_seconds": round(wall, 2),
        "server_cpu_seconds": round(cpu, 3),
        "server_cpu_us_per_event_recipient": round(1e6 * cpu / recipients, 2),
        "frames": counted["frames"],
        "events_per_frame": round(recipients / max(1, counted["frames"]), 2),
        "server_cpu_us_per_frame": round(1e6 * cpu / max(1, counted["frames"]), 2),
        "members_with_every_event_in_order": counted["members_with_every_event_in_order"],
        "loadgen_cpu_seconds_total": round(counted["loadgen_cpu_seconds"], 2),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from townhall.api.app import create_app
    from townhall.config import load_settings
    from townhall.store.db import Database
    from townhall.store.migrate import upgrade

    folder = Path(tempfile.mkdtemp(prefix="townhall-ws-fanout-"))
    settings = load_settings(
        data_dir=folder / "data",
        secret_key="b" * 32,
        password_time_cost=1,
        password_memory_kib=1024,
        auth_rate_limit=1_000_000,
        captions_engine="off",
    )
    settings.data_dir.mkdir(parents=True)
    db = Database(settings.effective_database_url)
    await upgrade(db)
    await db.dispose()
    app = create_app(settings)
    port = _free_port()
    async with app.router.lifespan_context(app):
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            lifespan="off",
            log_level="warning",
            ws="websockets-sansio",
            ws_per_message_deflate=False,
            proxy_headers=False,
        )
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:

            async def signup(handle: str) -> str:
                r = await http.post(
                    "/api/v1/auth/signup",
                    json={"handle": handle, "display_name": handle, "password": "fan out bench"},
                )
                r.raise_for_status()
                http.cookies.clear()
                return str(r.json()["token"])

            host = await signup("fanhost")
            r = await http.post(
                "/api/v1/spaces",
                headers={"Authorization": f"Bearer {host}"},
                json={"title": "fan-out bench", "visibility": "public"},
            )
            r.raise_for_status()
            space_id = str(r.json()["id"])
            tokens = [await signup(f"fan{i:05d}") for i in range(args.members)]
        inbox: Any = mp.Queue()
        outbox: Any = mp.Queue()
        members = mp.Process(target=_members, args=(port, space_id, tokens, inbox, outbox))
        members.start()
        await asyncio.get_running_loop().run_in_executor(None, outbox.get)
        before = _cpu()
        await asyncio.sleep(3)
        idle = (_cpu() - before) / 3
        runs = []
        for _ in range(args.runs):
            channels = (inbox, outbox)
            single = await _phase(
                app, space_id, args.members, args.single, args.single_gap, channels, idle
            )
            burst = await _phase(
                app, space_id, args.members, args.burst, args.burst_gap, channels, idle
            )
            runs.append({"single": single, "burst": burst})
            print(json.dumps(runs[-1]))
        inbox.put({"do": "stop"})
        members.join(30)
        if members.is_alive():
            members.kill()
        server.should_exit = True
        await serving
    return {
        "members": args.members,
        # (read with getattr: the bench also measures code from before the pacer)
        "pacing_interval_seconds": getattr(app.state, "pacer", None)
        and round(app.state.pacer.interval(), 4),
        "idle_server_cpu_percent_of_one_core": round(100 * idle, 2),
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=500)
    parser.add_argument("--single", type=int, default=60, help="lone events")
    parser.add_argument("--single-gap", type=float, default=0.25)
    parser.add_argument("--burst", type=int, default=600, help="events of the burst")
    parser.add_argument("--burst-gap", type=float, default=0.005)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--name", default="ws_fanout")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print("written to", write_result(args.name, result))


if __name__ == "__main__":
    main()
