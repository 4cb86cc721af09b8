"""Join storm: N accounts join one live space within S seconds over the real API.

A real `townhall serve` (default settings; PostgreSQL + Redis by default, each in a schema
and a Redis key prefix of the benchmark's own) hosts one live space whose host speaks a
tone over a real aiortc connection. Load-generator processes (`--workers`, loopback only)
then make `--members` pre-created accounts arrive at an even pace over `--seconds`; each
one `POST .../join`s, opens the WebSocket and subscribes to the space, and every
(members / media)-th one also connects its audio (aiortc, packets counted at the socket).
Then, with everyone still connected, closed-loop phases measure the requests per second
the API sustains for `snapshot`, `react` and `join` (fresh accounts into a second space).
At the end the host changes the title, and each member's WebSocket must have received
every event of the space, in order, up to that one.

Accounts and tokens are written straight into the database before the server starts
(argon2 sign-up cost is not what is measured); the sign-up rate is measured on its own,
over HTTP, before the storm. Server CPU comes from /proc/<pid>/stat, per phase and per
request; every load-generator process reports its own CPU so that it is seen not to be
the bottleneck.

    python -m bench.join_storm                      # 2000 members, 500 with audio, 30 s
    python -m bench.join_storm --db sqlite --bus memory --name join_storm-sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.common import encode_tone, process_cpu_seconds, summary_ms, write_result

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get(
    "TOWNHALL_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TOWNHALL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
SECRET = "bench-join-storm-secret-key-0123456789"
PASSWORD = "bench password 1"
TARGET_JOIN_P95_MS = 1000.0
TARGET_AUDIO_P95_MS = 3000.0
_SSRC_LINE = re.compile(r"^a=ssrc:(\d+) ", re.MULTILINE)
_OPUS_LINE = re.compile(r"^a=rtpmap:(\d+) opus/48000", re.MULTILINE | re.IGNORECASE)


def cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- setup: database, accounts, server -----------------------------------------------


@dataclass
class Setup:
    db_url: str
    schema: str
    redis_url: str
    redis_prefix: str
    data_dir: Path


async def _prepare_database(setup: Setup, handles: list[str]) -> dict[str, tuple[int, str]]:
    """Migrate, then create the accounts with one shared password hash and a token each."""
    from sqlalchemy import text

    from townhall.api.auth_tokens import Passwords, Tokens
    from townhall.config import load_settings
    from townhall.store import accounts
    from townhall.store.db import Database
    from townhall.store.migrate import upgrade

    settings = load_settings(
        database_url=setup.db_url, database_schema=setup.schema, data_dir=setup.data_dir
    )
    if setup.schema:
        admin = Database(settings.effective_database_url)
        async with admin.engine.begin() as conn:
            await conn.execute(text(f"CREATE SCHEMA {setup.schema}"))
        await admin.dispose()
    db = Database(settings.effective_database_url, schema=setup.schema)
    await upgrade(db, setup.schema)
    password_hash = await Passwords(settings).hash(PASSWORD)
    tokens = Tokens(SECRET)
    out: dict[str, tuple[int, str]] = {}
    for start in range(0, len(handles), 500):
        async with db.session() as session:
            for handle in handles[start : start + 500]:
                user = await accounts.create_user(session, handle, handle, password_hash)
                await session.flush()
                plain, digest = tokens.new()
                await accounts.add_token(session, user.id, digest, "api", "bench")
                out[handle] = (user.id, plain)
    await db.dispose()
    return out


async def _drop_schema(setup: Setup) -> None:
    if not setup.schema:
        return
    from sqlalchemy import text

    from townhall.config import load_settings
    from townhall.store.db import Database

    settings = load_settings(database_url=setup.db_url, data_dir=setup.data_dir)
    admin = Database(settings.effective_database_url)
    async with admin.engine.begin() as conn:
        await conn.execute(text(f"DROP SCHEMA IF EXISTS {setup.schema} CASCADE"))
    await admin.dispose()


async def _clean_redis(setup: Setup) -> None:
    if not setup.redis_url:
        return
    import redis.asyncio as redis

    client = redis.from_url(setup.redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=setup.redis_prefix + "*", count=500)]
        for start in range(0, len(keys), 500):
            await client.delete(*keys[start : start + 500])
    finally:
        await client.aclose()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _server(setup: Setup, port: int, extra_env: dict[str, str] | None = None) -> Any:
    env = dict(os.environ)
    for key in list(env):
        if key.startswith("TOWNHALL_"):
            del env[key]
    env |= {
        "TOWNHALL_DATABASE_URL": setup.db_url,
        "TOWNHALL_SECRET_KEY": SECRET,
        "TOWNHALL_LOG_LEVEL": "warning",
        # Only the separate sign-up measurement makes sign-ups, all from 127.0.0.1.
        "TOWNHALL_AUTH_RATE_LIMIT": "1000000",
    }
    env |= extra_env or {}
    if setup.schema:
        env["TOWNHALL_DATABASE_SCHEMA"] = setup.schema
    if setup.redis_url:
        env["TOWNHALL_REDIS_URL"] = setup.redis_url
        env["TOWNHALL_REDIS_PREFIX"] = setup.redis_prefix
    log = open(setup.data_dir / "server.log", "wb")  # noqa: SIM115
    cmd = [sys.executable, "-m", "townhall.cli", "serve", "--port", str(port)]
    cmd += ["--data-dir", str(setup.data_dir)]
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError((setup.data_dir / "server.log").read_text()[-3000:])
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start within 60 s")
            time.sleep(0.2)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


# -- the load generator: one process per worker -------------------------------------


@dataclass
class Member:
    user_id: int
    token: str
    offset: float  # seconds after the storm starts
    media: bool


@dataclass
class MemberResult:
    join_status: int = 0
    join_retried: bool = False
    join_seconds: float | None = None
    ws_error: str = ""
    subscribed_seq: int | None = None
    subscribed: bool = False
    last_seq: int = 0
    events: int = 0
    gaps: int = 0
    resyncs: int = 0
    media_error: str = ""
    offer_to_answer: float | None = None
    offer_to_audio: float | None = None
    audio_packets: int = 0
    audio_verified: int = 0


@dataclass
class Live:
    member: Member
    result: MemberResult
    ws: Any = None
    reader: asyncio.Task[None] | None = None
    pc: Any = None
    tap: Any = None
    offer_time: float = 0.0
    subscribed: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)


async def _read_events(live: Live, space_id: str) -> None:
    try:
        await _read(live, space_id)
    finally:
        live.done.set()


async def _read(live: Live, space_id: str) -> None:
    r = live.result
    async for raw in live.ws:
        for message in _messages(raw):
            kind = message.get("type")
            if kind == "snapshot" and message.get("space_id") == space_id:
                if live.subscribed:
                    r.resyncs += 1
                r.last_seq = int(message["seq"])
                if r.subscribed_seq is None:
                    r.subscribed_seq = r.last_seq
            elif kind == "subscribed":
                live.subscribed = r.subscribed = True
                if r.subscribed_seq is None:
                    r.subscribed_seq = int(message["seq"])
                    r.last_seq = r.subscribed_seq
                live.done.set()
            elif kind == "error":
                r.ws_error = r.ws_error or str(message["error"].get("code"))
                live.done.set()
            elif message.get("space_id") == space_id and "seq" in message:
                if message.get("volatile"):
                    continue
                seq = int(message["seq"])
                if seq <= r.last_seq:
                    continue
                r.events += 1
                if seq != r.last_seq + 1:
                    r.gaps += seq - r.last_seq - 1
                r.last_seq = seq


def _messages(raw: Any) -> list[dict[str, Any]]:
    data = json.loads(raw)
    return data if isinstance(data, list) else [data]


async def _media(
    live: Live, http: httpx.AsyncClient, space_id: str, headers: dict[str, str]
) -> None:
    from aiortc import RTCPeerConnection, RTCSessionDescription

    from bench.loadgen import SocketTap
    from townhall.media.ice import rtc_configuration

    r = live.result
    pc = RTCPeerConnection(rtc_configuration([]))
    live.pc = pc
    offer_time = time.perf_counter()
    pc.addTransceiver("audio", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    tap = SocketTap(pc, consume=True).install()
    live.tap = tap
    resp = await http.post(
        f"/api/v1/spaces/{space_id}/media",
        json={"sdp": pc.localDescription.sdp, "type": "offer"},
        headers=headers,
        timeout=60,
    )
    if resp.status_code != 200:
        r.media_error = f"http {resp.status_code}"
        return
    r.offer_to_answer = time.perf_counter() - offer_time
    answer = resp.json()
    if match := _SSRC_LINE.search(answer["sdp"]):
        tap.expected_ssrc = int(match.group(1))
    if match := _OPUS_LINE.search(answer["sdp"]):
        tap.expected_payload_type = int(match.group(1))
    await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))
    async with asyncio.timeout(30):
        while tap.first_packet_time is None:
            await asyncio.sleep(0.02)
    r.offer_to_audio = tap.first_packet_time - offer_time


async def _arrive(
    live: Live, http: httpx.AsyncClient, base: str, space_id: str, start: float
) -> None:
    import websockets

    m, r = live.member, live.result
    await asyncio.sleep(max(0.0, start + m.offset - time.time()))
    headers = {"Authorization": f"Bearer {m.token}"}
    t0 = time.perf_counter()
    try:
        path = f"/api/v1/spaces/{space_id}/join"
        try:
            resp = await http.post(path, headers=headers, timeout=60)
        except (httpx.ReadError, httpx.RemoteProtocolError):
            # A kept-alive connection the server closed just as it was reused (uvicorn
            # closes idle ones after 5 s): a real client retries; a join is idempotent.
            r.join_retried = True
            resp = await http.post(path, headers=headers, timeout=60)
        r.join_status = resp.status_code
    except httpx.HTTPError as exc:
        r.join_status = -1
        r.ws_error = f"join: {type(exc).__name__}"
        live.done.set()
        return
    r.join_seconds = time.perf_counter() - t0
    if resp.status_code != 200:
        live.done.set()
        return
    try:
        # batch=1: events already waiting come in one array frame (see docs/EVENTS.md)
        ws_url = base.replace("http://", "ws://") + f"/api/v1/ws?token={m.token}&batch=1"
        live.ws = await websockets.connect(
            ws_url, open_timeout=60, ping_interval=None, max_size=2**22, max_queue=None
        )
        subscribe: dict[str, Any] = {"op": "subscribe", "space_id": space_id}
        seq = resp.json().get("seq")
        if isinstance(seq, int):  # resume from the join's snapshot: no second snapshot
            subscribe["last_seq"] = seq
            r.subscribed_seq = r.last_seq = seq
        await live.ws.send(json.dumps(subscribe))
        live.reader = asyncio.create_task(_read_events(live, space_id))
    except Exception as exc:
        r.ws_error = f"{type(exc).__name__}: {exc}"[:200]
        live.done.set()
        return
    if m.media:
        try:
            await _media(live, http, space_id, headers)
        except Exception as exc:
            r.media_error = f"{type(exc).__name__}: {exc}"[:200]


def worker_main(
    index: int,
    base: str,
    space_id: str,
    members: list[Member],
    start: float,
    storm_seconds: float,
    conn: Any,
) -> None:
    """One load-generator process: its share of the members, until told to finish."""
    from townhall.media.ice import use_host_addresses

    use_host_addresses(["127.0.0.1"])
    asyncio.run(_worker(index, base, space_id, members, start, storm_seconds, conn))


async def _worker(
    index: int,
    base: str,
    space_id: str,
    members: list[Member],
    start: float,
    storm_seconds: float,
    conn: Any,
) -> None:
    # One connection per member at most (as real clients have their own), never a wait
    # for the generator's own pool: a PoolTimeout here was the generator's bottleneck.
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=len(members))
    lives = [Live(m, MemberResult()) for m in members]
    cpu0 = cpu_self()
    timeout = httpx.Timeout(60, pool=None)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=timeout) as http:
        tasks = [asyncio.create_task(_arrive(live, http, base, space_id, start)) for live in lives]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(start - time.time() + storm_seconds + 120):
                await asyncio.gather(*tasks, return_exceptions=True)
                await asyncio.gather(*(live.done.wait() for live in lives))
        storm_cpu = cpu_self() - cpu0
        conn.send({"worker": index, "ready": True, "storm_cpu_seconds": storm_cpu})
        loop = asyncio.get_running_loop()
        command = await loop.run_in_executor(None, conn.recv)  # {"final_seq": S}
        final_seq = int(command["final_seq"])
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(20):
                while any(
                    live.reader and not live.reader.done() and live.result.last_seq < final_seq
                    for live in lives
                ):
                    await asyncio.sleep(0.1)
        for live in lives:
            if live.tap is not None:
                live.result.audio_packets = live.tap.packets
                live.result.audio_verified = live.tap.verified
        cpu_total = cpu_self() - cpu0
        for live in lives:
            if live.reader is not None:
                live.reader.cancel()
            if live.ws is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(live.ws.close(), 2)
            if live.pc is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(live.pc.close(), 2)
    conn.send(
        {
            "worker": index,
            "cpu_seconds": cpu_total,
            "storm_cpu_seconds": storm_cpu,
            "final_seq": final_seq,
            "results": [live.result.__dict__ for live in lives],
        }
    )


# -- the driver ---------------------------------------------------------------------


async def _host_speaks(base: str, space_id: str, token: str) -> Any:
    """The host's audio: a 440 Hz tone, pre-encoded Opus through aiortc's sender."""
    from aiortc import RTCPeerConnection, RTCSessionDescription

    from bench.loadgen import EncodedTrack
    from townhall.media.ice import rtc_configuration, use_host_addresses

    use_host_addresses(["127.0.0.1"])
    headers = {"Authorization": f"Bearer {token}"}
    pc = RTCPeerConnection(rtc_configuration([]))
    pc.addTrack(EncodedTrack(encode_tone(440.0, 250)))
    await pc.setLocalDescription(await pc.createOffer())
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        resp = await http.post(
            f"/api/v1/spaces/{space_id}/media",
            json={"sdp": pc.localDescription.sdp, "type": "offer"},
            headers=headers,
        )
        resp.raise_for_status()
        await pc.setRemoteDescription(RTCSessionDescription(**resp.json()))
        (await http.post(f"/api/v1/spaces/{space_id}/unmute", headers=headers)).raise_for_status()
    return pc


async def _signup_rate(base: str, count: int, concurrency: int, pid: int) -> dict[str, Any]:
    sem = asyncio.Semaphore(concurrency)
    statuses: list[int] = []
    tag = uuid.uuid4().hex[:6]

    async def one(i: int, http: httpx.AsyncClient) -> None:
        async with sem:
            body = {"handle": f"su{tag}{i}", "display_name": "S", "password": PASSWORD}
            statuses.append((await http.post("/api/v1/auth/signup", json=body)).status_code)

    cpu0, t0 = process_cpu_seconds(pid), time.perf_counter()
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        await asyncio.gather(*(one(i, http) for i in range(count)))
    seconds, cpu = time.perf_counter() - t0, process_cpu_seconds(pid) - cpu0
    return {
        "signups": count,
        "concurrency": concurrency,
        "ok": sum(1 for s in statuses if s == 201),
        "status_5xx": sum(1 for s in statuses if s >= 500),
        "per_second": round(count / seconds, 2),
        "server_cpu_ms_per_signup": round(cpu / count * 1000, 2),
    }


async def _closed_loop(
    base: str,
    pid: int,
    seconds: float,
    concurrency: int,
    make: Any,
) -> dict[str, Any]:
    """`concurrency` clients issue `make(i)` -> (method, path, headers, json) back to back."""
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    counter = 0
    stop_at = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal counter
        while time.perf_counter() < stop_at:
            i = counter
            counter += 1
            request = make(i)
            if request is None:
                return
            method, path, headers, body = request
            t0 = time.perf_counter()
            try:
                status = (await http.request(method, path, headers=headers, json=body)).status_code
            except httpx.HTTPError:
                status = -1
            latencies.append(time.perf_counter() - t0)
            statuses[status] = statuses.get(status, 0) + 1

    cpu0, t0 = process_cpu_seconds(pid), time.perf_counter()
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
    elapsed, cpu = time.perf_counter() - t0, process_cpu_seconds(pid) - cpu0
    ok = sum(n for s, n in statuses.items() if 200 <= s < 300)
    total = sum(statuses.values())
    return {
        "seconds": round(elapsed, 2),
        "concurrency": concurrency,
        "requests": total,
        "ok_per_second": round(ok / elapsed, 1),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "status_5xx": sum(n for s, n in statuses.items() if s >= 500 or s < 0),
        "latency": summary_ms(latencies),
        "server_cpu_ms_per_request": round(cpu / max(1, total) * 1000, 2),
        "server_cpu_seconds": cpu,
        "server_cpu_percent_of_one_core": round(cpu / elapsed * 100, 1),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="townhall-join-storm-"))
    tag = uuid.uuid4().hex[:10]
    if args.db == "postgres":
        setup = Setup(POSTGRES_URL, f"bench_js_{tag}", "", "", data_dir)
    else:
        setup = Setup(f"sqlite:///{data_dir / 'townhall.db'}", "", "", "", data_dir)
    if args.bus == "redis":
        setup.redis_url, setup.redis_prefix = REDIS_URL, f"bench-js-{tag}:"
    members_n, extra_n = args.members, args.join_accounts
    handles = ["host"] + [f"m{i}" for i in range(members_n)] + [f"x{i}" for i in range(extra_n)]
    t0 = time.perf_counter()
    try:
        accounts = await _prepare_database(setup, handles)
        precreate_seconds = time.perf_counter() - t0
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        with _server(setup, port) as proc:
            spy = None
            if args.profile:  # py-spy (not a dependency) samples the server, raw stacks
                spy = subprocess.Popen(
                    ["py-spy", "record", "-p", str(proc.pid), "-o", args.profile, "-f", "raw",
                     "-r", "40", "--nonblocking"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
            try:
                return await _drive(args, setup, base, proc.pid, accounts, precreate_seconds)
            finally:
                if spy is not None:
                    spy.send_signal(2)
                    spy.wait(30)
    finally:
        await _drop_schema(setup)
        await _clean_redis(setup)
        log = data_dir / "server.log"
        if log.exists():
            lines = log.read_text(errors="replace").splitlines()
            print("server log, last lines:", *lines[-15:], sep="\n", file=sys.stderr)
            shutil.copy(log, Path(tempfile.gettempdir()) / "join_storm-server.log")
        shutil.rmtree(data_dir, ignore_errors=True)


async def _drive(
    args: argparse.Namespace,
    setup: Setup,
    base: str,
    pid: int,
    accounts: dict[str, tuple[int, str]],
    precreate_seconds: float,
) -> dict[str, Any]:
    host_token = accounts["host"][1]
    host_headers = {"Authorization": f"Bearer {host_token}"}
    signup = await _signup_rate(base, args.signups, 4, pid)
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        space = (
            await http.post(
                "/api/v1/spaces",
                json={"title": "Join storm", "visibility": "public"},
                headers=host_headers,
            )
        ).json()
        second = (
            await http.post(
                "/api/v1/spaces",
                json={"title": "Join throughput", "visibility": "public"},
                headers=host_headers,
            )
        ).json()
    space_id = space["id"]
    host_pc = await _host_speaks(base, space_id, host_token)
    await asyncio.sleep(1.0)

    every = max(1, args.members // max(1, args.media)) if args.media else 0
    members = [
        Member(
            *accounts[f"m{i}"],
            offset=args.seconds * i / args.members,
            media=bool(every) and i % every == 0 and i // every < args.media,
        )
        for i in range(args.members)
    ]
    ctx = mp.get_context("spawn")
    start = time.time() + 3.0 + args.workers * 1.5
    workers = []
    for w in range(args.workers):
        parent, child = ctx.Pipe()
        share = members[w :: args.workers]
        process = ctx.Process(
            target=worker_main,
            args=(w, base, space_id, share, start, args.seconds, child),
            daemon=True,
        )
        process.start()
        workers.append((process, parent))
    driver_cpu0 = cpu_self()
    await asyncio.sleep(max(0.0, start - time.time()))
    cpu_storm0, storm_t0 = process_cpu_seconds(pid), time.perf_counter()
    loop = asyncio.get_running_loop()
    ready = await asyncio.gather(*(loop.run_in_executor(None, conn.recv) for _, conn in workers))
    storm_seconds = time.perf_counter() - storm_t0
    storm_cpu = process_cpu_seconds(pid) - cpu_storm0
    await asyncio.sleep(2.0)
    idle_cpu0, idle_t0 = process_cpu_seconds(pid), time.perf_counter()
    await asyncio.sleep(5.0)
    idle_rate = (process_cpu_seconds(pid) - idle_cpu0) / (time.perf_counter() - idle_t0)

    viewers = [accounts[f"m{i}"] for i in range(args.members)]
    extra = [accounts[f"x{i}"] for i in range(args.join_accounts)]
    emojis = ["👏", "🔥", "💯", "🙌", "👍"]
    phases: dict[str, Any] = {}
    phases["snapshot"] = await _closed_loop(
        base,
        pid,
        args.phase_seconds,
        args.concurrency,
        lambda i: (
            "GET",
            f"/api/v1/spaces/{space_id}/snapshot",
            {"Authorization": f"Bearer {viewers[i % len(viewers)][1]}"},
            None,
        ),
    )
    phases["react"] = await _closed_loop(
        base,
        pid,
        args.phase_seconds,
        args.concurrency,
        lambda i: (
            "POST",
            f"/api/v1/spaces/{space_id}/react",
            {"Authorization": f"Bearer {viewers[(i * 7919) % len(viewers)][1]}"},
            {"emoji": emojis[i % len(emojis)]},
        ),
    )
    phases["join"] = await _closed_loop(
        base,
        pid,
        args.phase_seconds,
        args.concurrency,
        lambda i: (
            (
                "POST",
                f"/api/v1/spaces/{second['id']}/join",
                {"Authorization": f"Bearer {extra[i][1]}"},
                None,
            )
            if i < len(extra)
            else None
        ),
    )
    for phase in phases.values():
        extra_cpu = phase.pop("server_cpu_seconds") - idle_rate * phase["seconds"]
        phase["server_marginal_cpu_ms_per_request"] = round(
            extra_cpu / max(1, phase["requests"]) * 1000, 2
        )
    phases["idle_server_cpu_percent_of_one_core"] = round(idle_rate * 100, 1)
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        await http.patch(
            f"/api/v1/spaces/{space_id}",
            json={"title": "Join storm: the end"},
            headers=host_headers,
        )
        snap = (await http.get(f"/api/v1/spaces/{space_id}/snapshot", headers=host_headers)).json()
    # The seq of the title change: the last event every member must have seen.
    final_seq = await _last_seq(setup, space_id)
    for _, conn in workers:
        conn.send({"final_seq": final_seq})
    reports = await asyncio.gather(*(loop.run_in_executor(None, conn.recv) for _, conn in workers))
    for process, _ in workers:
        process.join(30)
    driver_cpu = cpu_self() - driver_cpu0
    with contextlib.suppress(Exception):
        await host_pc.close()
    return _summarise(
        args, signup, phases, reports, ready, storm_seconds, storm_cpu, final_seq, snap,
        driver_cpu, precreate_seconds, setup,
    )  # fmt: skip


async def _last_seq(setup: Setup, space_id: str) -> int:
    from townhall.bus import create_bus
    from townhall.config import load_settings

    if not setup.redis_url:
        raise RuntimeError("the memory bus is in the server process: ask the server")
    settings = load_settings(redis_url=setup.redis_url, redis_prefix=setup.redis_prefix)
    bus: Any = create_bus(settings)
    if hasattr(bus, "start"):
        await bus.start()
    try:
        return int(await bus.last_seq(space_id))
    finally:
        await bus.close()


def _summarise(
    args: argparse.Namespace,
    signup: dict[str, Any],
    phases: dict[str, Any],
    reports: list[dict[str, Any]],
    ready: list[dict[str, Any]],
    storm_seconds: float,
    storm_cpu: float,
    final_seq: int,
    snap: dict[str, Any],
    driver_cpu: float,
    precreate_seconds: float,
    setup: Setup,
) -> dict[str, Any]:
    results = [r for report in reports for r in report["results"]]
    joins = [r for r in results if r["join_seconds"] is not None]
    statuses: dict[str, int] = {}
    for r in results:
        statuses[str(r["join_status"])] = statuses.get(str(r["join_status"]), 0) + 1
    media = [r for r in results if r["offer_to_audio"] is not None or r["media_error"]]
    with_ws = [r for r in results if r["subscribed"]]
    complete = [r for r in with_ws if r["last_seq"] >= final_seq and r["gaps"] == 0]
    ok_joins = [r["join_seconds"] for r in joins if r["join_status"] == 200]
    join_summary = summary_ms(ok_joins)
    audio = [r["offer_to_audio"] for r in results if r["offer_to_audio"] is not None]
    audio_summary = summary_ms(audio)
    storm_5xx = sum(1 for r in results if r["join_status"] >= 500 or r["join_status"] < 0)
    phase_5xx = sum(p["status_5xx"] for p in phases.values() if isinstance(p, dict))
    loadgen_cpu = [round(report["cpu_seconds"], 2) for report in reports]
    return {
        "database": args.db,
        "bus": args.bus,
        "settings": "defaults (TOWNHALL_AUTH_RATE_LIMIT raised for the sign-up measurement)",
        "members": args.members,
        "media_members": sum(1 for r in media),
        "storm_seconds_target": args.seconds,
        "storm_seconds_measured": round(storm_seconds, 1),
        "accounts_precreated": args.members + args.join_accounts + 1,
        "precreate_seconds": round(precreate_seconds, 1),
        "signup": signup,
        "storm": {
            "join_statuses": statuses,
            "status_5xx": storm_5xx,
            "join_http": join_summary,
            "joins_per_second": round(len(ok_joins) / max(storm_seconds, 1e-9), 1),
            "joins_retried_after_a_closed_connection": sum(1 for r in results if r["join_retried"]),
            "ws_subscribed": len(with_ws),
            "ws_errors": sum(1 for r in results if r["ws_error"]),
            "ws_error_examples": sorted({r["ws_error"] for r in results if r["ws_error"]})[:5],
            "media_connected_with_audio": len(audio),
            "media_errors": sum(1 for r in results if r["media_error"]),
            "media_error_examples": sorted({r["media_error"] for r in media if r["media_error"]})[
                :5
            ],
            "offer_to_first_audio": audio_summary,
            "offer_to_answer": summary_ms(
                [r["offer_to_answer"] for r in results if r["offer_to_answer"] is not None]
            ),
            "audio_packets_received": sum(r["audio_packets"] for r in results),
            "audio_packets_verified": sum(r["audio_verified"] for r in results),
            "server_cpu_seconds": round(storm_cpu, 2),
            "server_cpu_percent_of_one_core": round(storm_cpu / max(storm_seconds, 1e-9) * 100, 1),
            "server_cpu_ms_per_member_arrival": round(storm_cpu / max(1, args.members) * 1000, 2),
            "loadgen_storm_cpu_seconds_per_worker": [
                round(r["storm_cpu_seconds"], 2) for r in ready
            ],
        },
        "phases": phases,
        "requests_per_second": {
            name: p["ok_per_second"] for name, p in phases.items() if isinstance(p, dict)
        },
        "events": {
            "final_seq": final_seq,
            "members_with_every_event": len(complete),
            "members_subscribed": len(with_ws),
            "members_missing_events": len(with_ws) - len(complete),
            "events_lost_total": sum(r["gaps"] for r in with_ws),
            "members_behind_final": sum(1 for r in with_ws if r["last_seq"] < final_seq),
            "resyncs": sum(r["resyncs"] for r in with_ws),
            "events_delivered_total": sum(r["events"] for r in with_ws),
        },
        "listener_count_at_end": snap.get("listener_count"),
        "loadgen": {
            "workers": args.workers,
            "cpu_seconds_per_worker": loadgen_cpu,
            "driver_cpu_seconds": round(driver_cpu, 2),
        },
        "targets": {
            "no_5xx": storm_5xx + phase_5xx == 0,
            "join_p95_ms": TARGET_JOIN_P95_MS,
            "join_p95_met": join_summary["p95_ms"] <= TARGET_JOIN_P95_MS,
            "audio_p95_ms": TARGET_AUDIO_P95_MS,
            "audio_p95_met": audio_summary["p95_ms"] <= TARGET_AUDIO_P95_MS,
            "events_reach_every_member": len(complete) == len(with_ws) == args.members,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--media", type=int, default=500, help="members with an audio connection")
    parser.add_argument("--seconds", type=float, default=30.0, help="the storm's length")
    parser.add_argument("--workers", type=int, default=4, help="load-generator processes")
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--bus", choices=["redis", "memory"], default="redis")
    parser.add_argument("--phase-seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--join-accounts", type=int, default=1500)
    parser.add_argument("--signups", type=int, default=40)
    parser.add_argument("--name", default="")
    parser.add_argument("--profile", default="", help="py-spy raw stacks of the server here")
    args = parser.parse_args()
    if args.bus == "memory":
        parser.error("the benchmark reads the final seq from Redis: use --bus redis")
    started = time.perf_counter()
    result = asyncio.run(run(args))
    result["run_seconds"] = round(time.perf_counter() - started, 1)
    name = args.name or ("join_storm" if args.db == "postgres" else "join_storm-sqlite")
    path = write_result(name, result)
    print(json.dumps(result, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
