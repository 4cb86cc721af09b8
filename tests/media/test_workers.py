"""Media workers end to end: a real `townhall serve` with worker processes, real aiortc
clients on loopback, audio checked on the signal.

One listener seat per worker puts the first listener on the space's origin and the next
on an edge (which gets the origin's encoded mix through the relay)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.test_ws import WsClient
from tests.bus.redis_helpers import REDIS_URL, redis_unreachable_reason
from tests.support.server import server_process
from townhall.client.media import (
    MediaClient,
    MediaSession,
    ToneTrack,
    band_rms,
    connect,
    dominant_frequencies,
    http_answer,
)
from townhall.media.ice import use_host_addresses

pytestmark = [pytest.mark.serial]

HEARD = 0.01  # band RMS of the 440 Hz tone that counts as heard
SILENT = 0.002


class Member:
    def __init__(self, base: str, http: httpx.AsyncClient, user_id: int, token: str) -> None:
        self.base = base
        self.http = http
        self.user_id = user_id
        self.token = token
        self.headers = {"Authorization": f"Bearer {token}"}
        self.media: MediaClient | None = None
        self.session: MediaSession | None = None
        self.ws: WsClient | None = None

    async def post(self, path: str, **body: Any) -> Any:
        r = await self.http.post(path, headers=self.headers, json=body or None)
        assert r.status_code in (200, 201), r.text
        return r.json()

    async def connect(self, space_id: str, track: Any = None) -> MediaClient:
        answer = http_answer(self.http, space_id, self.headers)
        self.media = await connect(answer, track=track)
        await self.media.wait_connected()
        return self.media

    async def follow(self, space_id: str, track: Any = None) -> MediaSession:
        """Connect through the SDK's MediaSession (it offers again when moved)."""
        answer = http_answer(self.http, space_id, self.headers)
        self.session = MediaSession(answer, track=track)
        self.media = await self.session.start()
        await self.media.wait_connected()
        return self.session

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
        elif self.media is not None:
            await self.media.close()
        if self.ws is not None:
            await self.ws.close()


async def _signup(base: str, http: httpx.AsyncClient, handle: str) -> Member:
    r = await http.post(
        "/api/v1/auth/signup",
        json={"handle": handle, "display_name": handle.title(), "password": "correct horse"},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    return Member(base, http, int(body["user"]["id"]), str(body["token"]))


@pytest.fixture(
    params=[
        "memory",
        pytest.param("redis", marks=pytest.mark.redis),
    ]
)
async def workers_server(
    tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """A server with 2 workers and one listener seat per worker; on the in-memory bus, or
    on Redis (the workers reach the bus through the API either way)."""
    use_host_addresses(["127.0.0.1"])
    data = tmp_path / "data"
    env = {
        "TOWNHALL_MEDIA_WORKERS": "2",
        "TOWNHALL_MEDIA_LISTENERS_PER_WORKER": "1",
        "TOWNHALL_MEDIA_ADDRESSES": "127.0.0.1",
    }
    if request.param == "redis":
        reason = await redis_unreachable_reason()
        if reason:
            pytest.skip(reason)
        env |= {
            "TOWNHALL_REDIS_URL": REDIS_URL,
            "TOWNHALL_REDIS_PREFIX": f"th-w-{uuid.uuid4().hex[:8]}:",
        }
    stack = contextlib.ExitStack()
    base, proc = await asyncio.to_thread(stack.enter_context, server_process(data, env))
    try:
        yield base, proc, data
    finally:
        await asyncio.to_thread(stack.close)
        if request.param == "redis":
            await _delete_keys(env["TOWNHALL_REDIS_PREFIX"])


async def _delete_keys(prefix: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def _make_admin(data: Path, handle: str) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "townhall.cli",
            "admin",
            "grant",
            handle,
            "--role",
            "admin",
            "--data-dir",
            str(data),
        ],
        check=True,
        capture_output=True,
        env=os.environ | {"TOWNHALL_LOG_LEVEL": "warning"},
    )


async def _overview(host: Member) -> dict[str, Any]:
    r = await host.http.get("/api/v1/admin/media", headers=host.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _roles(host: Member, space_id: str) -> dict[str, bool]:
    """Worker index -> is it an edge (for the workers that have the space)."""
    view = await _overview(host)
    return {
        str(w["index"]): w["spaces"][space_id]["edge"]
        for w in view["workers"]
        if space_id in w.get("spaces", {})
    }


async def _hears(client: MediaClient, freq: float, *, timeout: float = 8.0) -> None:
    """Within `timeout`, 0.5 s of received audio whose strongest tone is `freq`."""
    deadline = time.monotonic() + timeout
    last: list[float] = []
    while time.monotonic() < deadline:
        mark = client.recorder.mark()
        pcm = await client.recorder.wait_samples(24000, after=mark, timeout=5.0)
        last = dominant_frequencies(pcm, 1)
        if last and abs(last[0] - freq) < 15 and band_rms(pcm, freq) > HEARD:
            return
    raise AssertionError(f"never heard {freq} Hz (last peaks {last})")


async def _silent(client: MediaClient, freq: float, *, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    level = 1.0
    while time.monotonic() < deadline:
        mark = client.recorder.mark()
        pcm = await client.recorder.wait_samples(24000, after=mark, timeout=5.0)
        level = band_rms(pcm, freq)
        if level < SILENT:
            return
    raise AssertionError(f"{freq} Hz still heard ({level:.4f})")


async def _space_with_listeners(
    base: str, http: httpx.AsyncClient, data: Path, n: int, *, sessions: bool = False
) -> tuple[Member, str, list[Member]]:
    host = await _signup(base, http, "host")
    _make_admin(data, "host")
    space = await host.post("/api/v1/spaces", title="Workers", visibility="public")
    sid = space["id"]
    await host.post(f"/api/v1/spaces/{sid}/unmute")  # hosts start muted
    await (host.follow if sessions else host.connect)(sid, ToneTrack(440))
    listeners = []
    for i in range(n):
        member = await _signup(base, http, f"fan{i}")
        await member.post(f"/api/v1/spaces/{sid}/join")
        await (member.follow if sessions else member.connect)(sid)
        listeners.append(member)
    return host, sid, listeners


async def test_origin_and_edge_listeners_hear_mute_remove_and_promote(
    workers_server: tuple[str, subprocess.Popen[bytes], Path],
) -> None:
    base, _proc, data = workers_server
    members: list[Member] = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        try:
            host, sid, listeners = await _space_with_listeners(base, http, data, 3)
            members += [host, *listeners]
            roles = await _roles(host, sid)
            assert sorted(roles.values()) == [False, True], roles  # an origin and an edge
            on_origin, on_edge, on_edge_too = listeners
            for i, member in enumerate(listeners):
                assert member.media is not None
                try:
                    await _hears(member.media, 440)
                except AssertionError as exc:
                    raise AssertionError(f"listener {i}: {exc}; {await _overview(host)}") from exc

            # A muted speaker is silent everywhere; unmuted, heard again.
            await host.post(f"/api/v1/spaces/{sid}/mute")
            for member in listeners:
                assert member.media is not None
                await _silent(member.media, 440)
            await host.post(f"/api/v1/spaces/{sid}/unmute")
            assert on_edge.media is not None
            await _hears(on_edge.media, 440)

            # Removing a listener on an edge closes their connection there.
            await host.post(f"/api/v1/spaces/{sid}/remove", user_id=on_edge_too.user_id)
            assert on_edge_too.media is not None
            await on_edge_too.media.wait_closed(timeout=10)

            # An edge listener promoted to speaker is told to move, offers again and is
            # heard by the others (through the origin's mix).
            on_edge.ws = await WsClient.open(base.removeprefix("http://"), on_edge.token)
            await on_edge.ws.subscribe(sid)
            await host.post(f"/api/v1/spaces/{sid}/invite", user_id=on_edge.user_id, role="speaker")
            await on_edge.post(f"/api/v1/spaces/{sid}/invitation/accept")
            await on_edge.post(f"/api/v1/spaces/{sid}/unmute")
            moved = await on_edge.ws.recv_until(lambda m: m["type"] == "media.moved", limit=500)
            assert on_edge.user_id in moved[-1]["data"]["user_ids"]
            await on_edge.media.close()
            await on_edge.connect(sid, ToneTrack(660))
            assert on_origin.media is not None
            await _hears_both(on_origin.media)
        finally:
            for member in members:
                await member.close()


async def _hears_both(client: MediaClient, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        mark = client.recorder.mark()
        pcm = await client.recorder.wait_samples(24000, after=mark, timeout=5.0)
        if band_rms(pcm, 440) > HEARD and band_rms(pcm, 660) > HEARD:
            return
    raise AssertionError("the promoted speaker is not mixed")


async def test_origin_worker_killed_everyone_hears_again(
    workers_server: tuple[str, subprocess.Popen[bytes], Path],
) -> None:
    base, _proc, data = workers_server
    members: list[Member] = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        try:
            host, sid, listeners = await _space_with_listeners(base, http, data, 2, sessions=True)
            members += [host, *listeners]
            sockets = {}
            for member in [host, *listeners]:
                member.ws = await WsClient.open(base.removeprefix("http://"), member.token)
                await member.ws.subscribe(sid)
                sockets[member.user_id] = member.ws
            for member in listeners:
                assert member.media is not None
                await _hears(member.media, 440)
            view = await _overview(host)
            origin = next(
                w for w in view["workers"] if sid in w["spaces"] and not w["spaces"][sid]["edge"]
            )
            os.kill(origin["pid"], signal.SIGKILL)
            killed_at = time.monotonic()

            # The origin's members are told; their MediaSession offers again (as the SDK's
            # follow_moves does) and they are placed elsewhere.
            moved: set[int] = set()

            async def follow(member: Member) -> None:
                assert member.ws is not None and member.session is not None
                while True:
                    event = await member.ws.recv(timeout=30)
                    if await member.session.on_event(event, member.user_id):
                        moved.add(member.user_id)
                        member.media = member.session.client

            followers = [asyncio.create_task(follow(m)) for m in [host, *listeners]]
            deadline = time.monotonic() + 10
            while host.user_id not in moved and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert host.user_id in moved
            for member in listeners:
                assert member.media is not None
                try:
                    await _hears(member.media, 440, timeout=8.0)
                except AssertionError as exc:
                    view = await _overview(host)
                    raise AssertionError(f"{member.user_id} {moved}: {exc} {view}") from exc
            assert time.monotonic() - killed_at < 15  # bounded; the benchmark times it
            assert len(moved) == 2  # the host and the origin's listener; not the edge's
            for task in followers:
                task.cancel()
            r = await http.get(f"/api/v1/spaces/{sid}", headers=host.headers)
            assert r.json()["state"] == "live"  # nothing in the database changed
        finally:
            for member in members:
                await member.close()


async def test_metrics_and_overview_are_for_staff(
    workers_server: tuple[str, subprocess.Popen[bytes], Path],
) -> None:
    base, _proc, data = workers_server
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        admin = await _signup(base, http, "root")
        someone = await _signup(base, http, "someone")
        _make_admin(data, "root")
        r = await http.get("/api/v1/admin/media", headers=someone.headers)
        assert r.status_code == 403
        r = await http.get("/metrics", headers=someone.headers)
        assert r.status_code == 403
        view = await _overview(admin)
        assert view["mode"] == "workers"
        assert [w["alive"] for w in view["workers"]] == [True, True]
        r = await http.get("/metrics", headers=admin.headers)
        assert r.status_code == 200
        assert 'townhall_media_worker_up{worker="1"} 1.0' in r.text


async def test_workers_restart_and_stop_with_the_server(
    workers_server: tuple[str, subprocess.Popen[bytes], Path],
) -> None:
    base, proc, data = workers_server
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        admin = await _signup(base, http, "root")
        _make_admin(data, "root")
        first = [w["pid"] for w in (await _overview(admin))["workers"]]
        os.kill(first[0], signal.SIGKILL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # supervised: started again
            view = await _overview(admin)
            if view["workers"][0]["alive"] and view["workers"][0]["pid"] not in (0, first[0]):
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError(f"worker 0 was not started again: {view}")
        assert view["workers"][0]["restarts"] == 1
        pids = [w["pid"] for w in view["workers"]]
    proc.terminate()
    await asyncio.to_thread(proc.wait, 15)
    deadline = time.monotonic() + 5
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in pids if _exists(pid)]
        await asyncio.sleep(0.1)
    assert alive == [], "worker processes outlived the server"


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError):  # a zombie waiting for its reaper has exited
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
        return state != "Z"
    return True


async def test_hls_of_a_space_mixed_in_a_worker_is_served_by_the_api(
    workers_server: tuple[str, subprocess.Popen[bytes], Path],
) -> None:
    base, _proc, data = workers_server
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        host, sid, _ = await _space_with_listeners(base, http, data, 0)
        try:
            link = (await http.get(f"/api/v1/spaces/{sid}/hls", headers=host.headers)).json()
            deadline = time.monotonic() + 20
            playlist = ""
            while time.monotonic() < deadline:
                r = await http.get(link["path"], params={"_HLS_msn": 1}, timeout=10)
                if r.status_code == 200 and "#EXT-X-PART:" in r.text:
                    playlist = r.text
                    break
                await asyncio.sleep(0.3)
            assert playlist, "no LL-HLS playlist from the worker's packager"
            part = next(line for line in playlist.splitlines() if line.startswith("#EXT-X-PART:"))
            uri = part.split('URI="', 1)[1].split('"', 1)[0]
            url = httpx.URL(base + link["path"]).join(uri)
            r = await http.get(url)
            assert r.status_code == 200 and len(r.content) > 100
        finally:
            await host.close()
