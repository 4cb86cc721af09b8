"""SIGTERM on a real `townhall serve` with open WebSockets, a speaker's media connection
and a space being recorded: the process exits within 10 s, every socket gets a close
frame, and the recording is finished (a playable file; its row filled in once the space
ends after a restart)."""

from __future__ import annotations

import asyncio
import json
import signal
import time
import uuid
from pathlib import Path

import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from tests.bus.redis_helpers import REDIS_URL, redis_unreachable_reason
from tests.support.ogg import decode_ogg
from tests.support.server import free_port, running_server, server_process
from townhall.client.api import Townhall
from townhall.client.media import ToneTrack, dominant_frequencies

SHUTDOWN_BOUND_SECONDS = 10.0


async def _open_sockets(base: str, token: str, space_id: str, count: int) -> list[ClientConnection]:
    url = base.replace("http", "ws") + f"/api/v1/ws?token={token}"
    sockets = []
    for _ in range(count):
        ws = await websockets.connect(url, open_timeout=5, close_timeout=2)
        await ws.send(json.dumps({"op": "subscribe", "space_id": space_id}))
        while json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] != "subscribed":
            pass
        sockets.append(ws)
    return sockets


async def _closed_with_a_frame(ws: ClientConnection, timeout: float = 5.0) -> bool:
    """Read what is left until the connection closes; True if the server sent a close."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                await ws.recv()
    except websockets.ConnectionClosed as closed:
        return closed.rcvd is not None
    return False


@pytest.mark.parametrize("bus", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def test_sigterm_ends_within_bound_and_finishes_the_recording(
    tmp_path: Path, bus: str
) -> None:
    env: dict[str, str] = {}
    if bus == "redis":
        reason = await redis_unreachable_reason()
        if reason:
            pytest.skip(reason)
        env = {
            "TOWNHALL_REDIS_URL": REDIS_URL,
            "TOWNHALL_REDIS_PREFIX": f"townhall-test-{uuid.uuid4().hex[:12]}:",
            "TOWNHALL_PRESENCE_TTL_SECONDS": "0.3",  # presence refreshes all the time
        }
    data_dir = tmp_path / "data"
    port = free_port()
    with server_process(data_dir, env, port=port) as (base, proc):
        async with Townhall(base) as host, Townhall(base) as fan:
            await host.signup("termhost", "correct horse")
            await fan.signup("termfan", "correct horse")
            space = await host.create_space("Recorded", record=True)
            sid = space["id"]
            await fan.join(sid)
            media = await host.connect_media(sid, track=ToneTrack(440))
            try:
                await media.wait_connected()
                await host.act(sid, "unmute")
                assert fan.token is not None and host.token is not None
                sockets = await _open_sockets(base, fan.token, sid, 6)
                sockets += await _open_sockets(base, host.token, sid, 2)
                await asyncio.sleep(2.5)  # recorded audio
                partial = data_dir / "recordings" / f"{sid}.ogg.part"
                assert partial.exists()
                began = time.monotonic()
                proc.send_signal(signal.SIGTERM)
                deadline = began + SHUTDOWN_BOUND_SECONDS
                while proc.poll() is None and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                exited = proc.poll()
                took = time.monotonic() - began
                if exited is None:  # do not leave it behind; fail below
                    proc.kill()
                    proc.wait()
                assert exited is not None, f"still running {took:.1f} s after SIGTERM"
                # uvicorn re-raises the signal once it has shut down cleanly.
                assert exited in (0, -signal.SIGTERM), exited
                print(f"exited {took:.2f} s after SIGTERM")
                for ws in sockets:  # each socket was told, with a close frame
                    assert await _closed_with_a_frame(ws)
            finally:
                await media.close()
    finished = data_dir / "recordings" / f"{sid}.ogg"
    assert finished.exists() and not (data_dir / "recordings" / f"{sid}.ogg.part").exists()
    pcm, duration = decode_ogg(finished)
    assert duration >= 1.5, duration
    freqs = dominant_frequencies(pcm[pcm.size // 4 :], 1)
    assert freqs and abs(freqs[0] - 440) < 8, freqs
    logs = "".join(p.read_text(errors="replace") for p in tmp_path.glob("server-*.log"))
    assert "Traceback" not in logs, logs[-3000:]

    # Back up: the space is still live; once it ends, its recording is stored and offered.
    with running_server(data_dir, env, port=port) as base:
        async with Townhall(base, host.token) as host_again:
            await host_again.end(sid)
            recording = (await host_again.space(sid))["recording"]
            assert recording is not None
            assert abs(float(recording["duration_seconds"]) - duration) < 0.05


async def test_a_redis_outage_is_logged_once_and_its_end_once(tmp_path: Path) -> None:
    """A running server whose own Redis goes away for a few seconds (with a socket
    subscribed, so presence refreshes, pub/sub and the periodic checks all hit it) logs
    the outage once and the recovery once: no tracebacks, no line per call."""
    import httpx

    from tests.support.redis_server import redis_server

    with redis_server(tmp_path / "redis") as redis:
        env = {
            "TOWNHALL_REDIS_URL": redis.url,
            "TOWNHALL_PRESENCE_TTL_SECONDS": "0.6",
            "TOWNHALL_LOG_LEVEL": "warning",
        }
        with server_process(tmp_path / "data", env) as (base, _proc):
            async with Townhall(base) as host:
                await host.signup("outagehost", "correct horse")
                sid = (await host.create_space("Outage"))["id"]
                assert host.token is not None
                sockets = await _open_sockets(base, host.token, sid, 2)
                redis.stop()
                async with httpx.AsyncClient(base_url=base, timeout=5) as http:
                    await asyncio.sleep(5.0)  # calls fail meanwhile, again and again
                    assert (await http.get("/healthz")).json()["bus"] == "down"
                    redis.start()
                    deadline = time.monotonic() + 20
                    while (await http.get("/healthz")).status_code != 200:
                        assert time.monotonic() < deadline, "the bus never came back"
                        await asyncio.sleep(0.2)
                    await asyncio.sleep(2.0)  # every component has found it back
                for ws in sockets:
                    await ws.close()
    logs = "".join(p.read_text(errors="replace") for p in tmp_path.glob("server-*.log"))
    assert "Traceback" not in logs, logs[-3000:]
    assert logs.count("redis bus: Redis does not answer") == 1, logs
    assert logs.count("redis bus: Redis answers again") == 1, logs
    assert len(logs.splitlines()) < 20, logs
