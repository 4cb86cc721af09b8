"""Media nodes end to end: a real `townhall serve` placing on `townhall media` processes
found through real Redis, real aiortc clients on loopback, audio checked on the signal."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from tests.api.test_ws import WsClient
from tests.bus.redis_helpers import REDIS_URL, redis_unreachable_reason
from tests.media.test_workers import Member, _delete_keys, _hears, _make_admin, _signup
from tests.support.media_nodes import node_process, registered
from tests.support.server import server_process
from townhall.client.media import ToneTrack
from townhall.media.ice import use_host_addresses
from townhall.media.nodes import auth
from townhall.media.nodes.registry import NodeEntry, Registry, relay_key
from townhall.media.nodes.relay import MAGIC
from townhall.media.workers.relay import seal
from townhall.media.workers.wire import Channel, Ready

pytestmark = [pytest.mark.serial, pytest.mark.redis]

SECRET = "test-media-secret-" + uuid.uuid4().hex


@dataclass
class Deployment:
    base: str
    data: Path
    prefix: str
    nodes: dict[str, subprocess.Popen[bytes]]
    stack: contextlib.ExitStack

    def start_node(self, node_id: str, capacity: int) -> subprocess.Popen[bytes]:
        env = {"TOWNHALL_REDIS_PREFIX": self.prefix, "TOWNHALL_MEDIA_SECRET": SECRET}
        proc = self.stack.enter_context(
            node_process(self.data.parent / "nodes", REDIS_URL, env, node_id, capacity)
        )
        self.nodes[node_id] = proc
        return proc


@pytest.fixture
async def deployment(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Deployment]:
    """An API node with TOWNHALL_MEDIA_NODES and two media nodes (of 2 connections each,
    unless parametrized with other capacities)."""
    capacities: tuple[int, int] = getattr(request, "param", (2, 2))
    reason = await redis_unreachable_reason()
    if reason:
        pytest.skip(reason)
    use_host_addresses(["127.0.0.1"])
    prefix = f"th-n-{uuid.uuid4().hex[:8]}:"
    stack = contextlib.ExitStack()
    found = Deployment("", tmp_path / "data", prefix, {}, stack)
    try:
        found.start_node("node-a", capacities[0])
        found.start_node("node-b", capacities[1])
        await registered(REDIS_URL, prefix, SECRET, count=2)
        env = {
            "TOWNHALL_MEDIA_NODES": "1",
            "TOWNHALL_MEDIA_SECRET": SECRET,
            "TOWNHALL_REDIS_URL": REDIS_URL,
            "TOWNHALL_REDIS_PREFIX": prefix,
            "TOWNHALL_MEDIA_ADDRESSES": "127.0.0.1",
        }
        base, _proc = await asyncio.to_thread(stack.enter_context, server_process(found.data, env))
        found.base = base
        yield found
    finally:
        await asyncio.to_thread(stack.close)
        await _delete_keys(prefix)


async def _overview(host: Member) -> dict[str, Any]:
    r = await host.http.get("/api/v1/admin/media", headers=host.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _roles(host: Member, space_id: str) -> dict[str, bool]:
    """Node id -> is it an edge of the space."""
    view = await _overview(host)
    return {
        w["node"]: w["spaces"][space_id]["edge"]
        for w in view["workers"]
        if space_id in w.get("spaces", {})
    }


async def _space(
    d: Deployment, http: httpx.AsyncClient, host: Member, listeners: int, tag: str
) -> tuple[str, list[Member]]:
    space = await host.post("/api/v1/spaces", title=f"Nodes {tag}", visibility="public")
    sid = str(space["id"])
    await host.post(f"/api/v1/spaces/{sid}/unmute")
    await host.connect(sid, ToneTrack(440))
    members = []
    for i in range(listeners):
        member = await _signup(d.base, http, f"fan{tag}{i}")
        await member.post(f"/api/v1/spaces/{sid}/join")
        await member.connect(sid)
        members.append(member)
    return sid, members


async def _origin(prefix: str, space_id: str) -> str | None:
    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        value = await client.get(f"{prefix}media:origin:{space_id}")
        return str(value) if value is not None else None
    finally:
        await client.aclose()


async def test_second_node_takes_the_overflow_and_drops_unknown_relay_packets(
    deployment: Deployment,
) -> None:
    d = deployment
    members: list[Member] = []
    async with httpx.AsyncClient(base_url=d.base, timeout=30) as http:
        try:
            host = await _signup(d.base, http, "host")
            _make_admin(d.data, "host")
            members.append(host)
            view = await _overview(host)
            assert view["mode"] == "nodes"
            assert sorted(w["node"] for w in view["workers"] if w["alive"]) == [
                "node-a",
                "node-b",
            ]
            # Host + 1 listener fill the origin (capacity 2); the next 2 go to the other.
            sid, listeners = await _space(d, http, host, 3, "x")
            members += listeners
            roles = await _roles(host, sid)
            assert sorted(roles.values()) == [False, True], roles
            origin = next(n for n, edge in roles.items() if not edge)
            assert await _origin(d.prefix, sid) == origin
            for i, member in enumerate(listeners):
                assert member.media is not None
                try:
                    await _hears(member.media, 440)
                except AssertionError as exc:
                    raise AssertionError(f"listener {i}: {exc}; {await _overview(host)}") from exc

            # Relay packets from a source that is not a registered node are dropped, even
            # sealed with the origin's real relay key; the edge's listeners hear on.
            edge = next(n for n, is_edge in roles.items() if is_edge)
            nodes = await registered(REDIS_URL, d.prefix, SECRET, count=2)
            target = ("127.0.0.1", nodes[edge].relay_port)
            forged = seal(relay_key(SECRET.encode(), origin), 10**6, 0, sid, b"\xf8\xff\xfe")
            head = MAGIC + bytes([len(origin)]) + origin.encode()
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as intruder:
                for _ in range(50):
                    intruder.sendto(head + forged, target)  # right key, wrong source
                    intruder.sendto(os.urandom(200), target)  # garbage
                    intruder.sendto(MAGIC + b"\xff" + os.urandom(40), target)
            await asyncio.sleep(0.5)
            view = await _overview(host)
            on_edge = next(w for w in view["workers"] if w["node"] == edge)
            assert on_edge["relay_dropped"] >= 150, on_edge
            metrics = await http.get("/metrics", headers=host.headers)
            assert f'townhall_media_worker_up{{worker="{edge}"}} 1.0' in metrics.text
            assert on_edge["relay_received"] > 0 and on_edge["alive"]
            for member in listeners[1:]:
                assert member.media is not None
                await _hears(member.media, 440)

            # Redis loses the placement (restarted empty): the nodes put their rooms back
            # at their next beat.
            client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
            try:
                await client.delete(f"{d.prefix}media:origin:{sid}", f"{d.prefix}media:edges:{sid}")
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    edges = await client.smembers(f"{d.prefix}media:edges:{sid}")
                    if await _origin(d.prefix, sid) == origin and edges == {edge}:
                        break
                    await asyncio.sleep(0.2)
                else:
                    raise AssertionError("the nodes did not put their rooms back in Redis")
                assert 0 < await client.ttl(f"{d.prefix}media:origin:{sid}") <= 86400
            finally:
                await client.aclose()
        finally:
            for member in members:
                await member.close()


async def test_an_expired_node_is_not_placed_on_and_joins_again_when_back(
    deployment: Deployment,
) -> None:
    d = deployment
    members: list[Member] = []
    async with httpx.AsyncClient(base_url=d.base, timeout=30) as http:
        try:
            host = await _signup(d.base, http, "host")
            _make_admin(d.data, "host")
            members.append(host)
            # node-b stops beating (stopped, its sockets stay open): it expires.
            d.nodes["node-b"].send_signal(signal.SIGSTOP)
            try:
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline:
                    alive = {w["node"] for w in (await _overview(host))["workers"]}
                    if alive == {"node-a"}:
                        break
                    await asyncio.sleep(0.3)
                else:
                    raise AssertionError(f"node-b never expired: {alive}")
                # Both spaces go to node-a, however loaded, never to the expired node.
                for tag in ("p", "q"):
                    other = await _signup(d.base, http, f"host{tag}")
                    members.append(other)
                    space = await other.post("/api/v1/spaces", title=tag, visibility="public")
                    await other.connect(str(space["id"]))
                    assert await _origin(d.prefix, str(space["id"])) == "node-a"
            finally:
                d.nodes["node-b"].send_signal(signal.SIGCONT)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:  # back: registered and connected again
                view = await _overview(host)
                if any(w["node"] == "node-b" and w["alive"] for w in view["workers"]):
                    break
                await asyncio.sleep(0.3)
            else:
                raise AssertionError(f"node-b did not join again: {view}")
            # node-a is full (2 hosts): a new space goes to node-b.
            sid, listeners = await _space(d, http, host, 1, "r")
            members += listeners
            assert await _origin(d.prefix, sid) == "node-b"
            assert listeners[0].media is not None
            await _hears(listeners[0].media, 440)
        finally:
            for member in members:
                await member.close()


async def _fake_node(
    prefix: str, node_id: str, garbage_bytes: bool, served: dict[str, int]
) -> tuple[Any, Any]:
    """A node holding the secret that lies: it claims no load and room for a million,
    then answers every request with garbage (or sends raw garbage on its channel)."""
    secret = SECRET.encode()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await auth.node_side(reader, writer, secret, node_id)
        except auth.NotAuthenticated:
            writer.close()
            return
        served[node_id] = served.get(node_id, 0) + 1
        if garbage_bytes:
            writer.write(b"\x00\x00\x00\x20" + os.urandom(32) + b"\xff\xff\xff\xff")
            await writer.drain()
            await asyncio.sleep(1)
            writer.close()
            return
        channel = Channel(reader, writer)
        channel.send(Ready(pid=1))

        async def nonsense() -> Any:
            return {"sdp": None} if random.random() < 0.5 else ["garbage"]

        await channel.serve(lambda _m: nonsense())

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = int(server.sockets[0].getsockname()[1])
    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    registry = Registry(client, prefix, secret)

    async def beat() -> None:
        try:
            for n in itertools.count(1):
                entry = NodeEntry(
                    id=node_id,
                    address="127.0.0.1",
                    port=port,
                    relay_port=port,
                    capacity=1_000_000,
                    load=0,
                    pid=0,
                    beat=n,
                )
                await registry.beat(entry)
                await asyncio.sleep(1)
        finally:
            await client.aclose()

    return server, asyncio.create_task(beat())


async def test_a_lying_node_or_one_sending_garbage_does_not_break_the_api(
    deployment: Deployment,
) -> None:
    d = deployment
    members: list[Member] = []
    served: dict[str, int] = {}
    fakes = [
        await _fake_node(d.prefix, "liar", garbage_bytes=False, served=served),
        await _fake_node(d.prefix, "noise", garbage_bytes=True, served=served),
    ]
    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    for node_id, raw in [("junk", "{"), ("huge", "[" * 50_000)]:
        await client.set(f"{d.prefix}media:node:{node_id}", raw, px=60_000)
        await client.sadd(f"{d.prefix}media:nodes", node_id)
    await client.aclose()
    async with httpx.AsyncClient(base_url=d.base, timeout=30) as http:
        try:
            host = await _signup(d.base, http, "host")
            _make_admin(d.data, "host")
            members.append(host)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                view = await _overview(host)  # the liar's stats are garbage: still 200
                if any(w["node"] == "liar" and w["alive"] for w in view["workers"]):
                    break
                await asyncio.sleep(0.2)
            else:
                raise AssertionError(f"the liar was never connected: {view}")
            assert not any(w["node"] in ("junk", "huge") for w in view["workers"])
            # The liar (load 0, room for a million) gets the new space: its garbage
            # answer is a 503 for that offer, nothing more.
            space = await host.post("/api/v1/spaces", title="Liar", visibility="public")
            sid = str(space["id"])
            await host.post(f"/api/v1/spaces/{sid}/unmute")
            assert await _origin(d.prefix, sid) is None
            offer = {"sdp": "v=0\r\n", "type": "offer"}
            r = await http.post(f"/api/v1/spaces/{sid}/media", headers=host.headers, json=offer)
            assert r.status_code == 503, r.text
            assert await _origin(d.prefix, sid) == "liar"
            assert (await http.get("/healthz")).status_code == 200
            deadline = time.monotonic() + 10
            while served.get("noise", 0) < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            assert served["noise"] >= 2  # its garbage ended the channel; the API came back
            # Once its beats stop it expires; the space gets an origin among the real
            # nodes, which serve it.
            for server, beat in fakes:
                beat.cancel()
                server.close()
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                nodes = {w["node"] for w in (await _overview(host))["workers"]}
                if nodes == {"node-a", "node-b"}:
                    break
                await asyncio.sleep(0.3)
            else:
                raise AssertionError(f"the fakes never expired: {nodes}")
            await host.connect(sid, ToneTrack(440))
            assert await _origin(d.prefix, sid) in ("node-a", "node-b")
            fan = await _signup(d.base, http, "fan")
            members.append(fan)
            await fan.post(f"/api/v1/spaces/{sid}/join")
            await fan.connect(sid)
            assert fan.media is not None
            await _hears(fan.media, 440)
        finally:
            for server, beat in fakes:
                beat.cancel()
                server.close()
            for member in members:
                await member.close()


@pytest.mark.parametrize("deployment", [(2, 4)], indirect=True)
async def test_origin_node_killed_its_edge_takes_over_and_everyone_hears_again(
    deployment: Deployment,
) -> None:
    d = deployment
    members: list[Member] = []
    async with httpx.AsyncClient(base_url=d.base, timeout=30) as http:
        try:
            host = await _signup(d.base, http, "host")
            _make_admin(d.data, "host")
            members.append(host)
            space = await host.post("/api/v1/spaces", title="Failover", visibility="public")
            sid = str(space["id"])
            await host.post(f"/api/v1/spaces/{sid}/unmute")
            await host.follow(sid, ToneTrack(440))
            origin = await _origin(d.prefix, sid)
            assert origin is not None
            # The origin takes 2 (the host and one listener); the next two go to the edge.
            listeners = []
            for i in range(3):
                member = await _signup(d.base, http, f"fan{i}")
                await member.post(f"/api/v1/spaces/{sid}/join")
                await member.follow(sid)
                listeners.append(member)
            members += listeners
            roles = await _roles(host, sid)
            assert sorted(roles.values()) == [False, True], roles
            for member in [host, *listeners]:
                member.ws = await WsClient.open(d.base.removeprefix("http://"), member.token)
                await member.ws.subscribe(sid)
            for member in listeners:
                assert member.media is not None
                await _hears(member.media, 440)

            os.kill(d.nodes[origin].pid, signal.SIGKILL)
            killed_at = time.monotonic()
            moved: set[int] = set()

            async def follow(member: Member) -> None:
                assert member.ws is not None and member.session is not None
                while True:
                    event = await member.ws.recv(timeout=30)
                    if await member.session.on_event(event, member.user_id):
                        moved.add(member.user_id)
                        member.media = member.session.client

            followers = [asyncio.create_task(follow(m)) for m in [host, *listeners]]
            try:
                for member in listeners:
                    assert member.media is not None
                    try:
                        await _hears(member.media, 440, timeout=15.0)
                    except AssertionError as exc:
                        raise AssertionError(f"{member.user_id} {moved}: {exc}") from exc
                heard_after = time.monotonic() - killed_at
            finally:
                for task in followers:
                    task.cancel()
            # The host and the origin's listener moved; the edge's listeners stayed, and
            # their node is the space's origin now. Nothing in the database changed.
            assert moved == {host.user_id, listeners[0].user_id}
            edge = next(n for n in d.nodes if n != origin)
            assert await _origin(d.prefix, sid) == edge
            assert heard_after < 20  # bounded; the benchmark times failover
            r = await http.get(f"/api/v1/spaces/{sid}", headers=host.headers)
            assert r.json()["state"] == "live"
        finally:
            for member in members:
                await member.close()
