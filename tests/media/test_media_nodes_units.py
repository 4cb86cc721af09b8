"""Media nodes, piece by piece: placement rules, the registry and placement on real Redis
(two API nodes at once), the authenticated control handshake, the UDP relay."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.bus.redis_helpers import REDIS_URL, redis_unreachable_reason
from townhall import cli
from townhall.config import ConfigError, load_settings
from townhall.media.nodes import auth
from townhall.media.nodes.placement import (
    NodeLoad,
    RedisPlacement,
    choose_new_origin,
    choose_origin,
    choose_seat,
)
from townhall.media.nodes.registry import (
    EXPIRY_SECONDS,
    NodeEntry,
    Registry,
    _mac,
    redis_client,
    relay_key,
    sign,
    verify,
)
from townhall.media.nodes.relay import MAGIC, NodeRelay
from townhall.media.workers.relay import seal

SECRET = b"s" * 32


def _loads(**nodes: tuple[int, int]) -> dict[str, NodeLoad]:
    return {i: NodeLoad(i, load, cap) for i, (load, cap) in nodes.items()}


def test_spaces_go_to_the_least_loaded_node_under_its_ceiling() -> None:
    assert choose_origin(_loads(a=(5, 10), b=(2, 10))) == "b"
    assert choose_origin(_loads(a=(5, 10), b=(10, 10))) == "a"
    assert choose_origin(_loads(a=(10, 10), b=(3, 3))) is None  # all full
    assert choose_origin(_loads(a=(50, 100), b=(6, 10))) == "a"  # by share of capacity


def test_listeners_overflow_from_the_origin_to_edges_speakers_stay() -> None:
    nodes = _loads(o=(2, 2), e=(5, 10), f=(1, 10))
    assert choose_seat("o", set(), _loads(o=(1, 2), e=(0, 10)), on_stage=False) == "o"
    assert choose_seat("o", {"e"}, nodes, on_stage=True) == "o"  # speakers mix on the origin
    assert choose_seat("o", {"e"}, nodes, on_stage=False) == "e"  # an edge the space has
    assert choose_seat("o", set(), nodes, on_stage=False) == "f"  # else the least loaded
    assert choose_seat("o", {"e"}, _loads(o=(2, 2), e=(10, 10), f=(1, 10)), False) == "f"
    assert choose_seat("o", {"e"}, _loads(o=(2, 2), e=(10, 10)), False) is None


def test_a_space_that_lost_its_origin_goes_to_an_edge_with_room() -> None:
    nodes = _loads(e=(3, 10), f=(1, 10), g=(0, 10))
    assert choose_new_origin({"e", "gone"}, nodes, on_stage=False) == "e"  # keeps listeners
    assert choose_new_origin(set(), nodes, on_stage=False) == "g"
    full = _loads(e=(10, 10), f=(1, 10))
    assert choose_new_origin({"e"}, full, on_stage=False) == "f"
    assert choose_new_origin({"e"}, _loads(e=(10, 10)), on_stage=False) is None
    assert choose_new_origin({"e"}, _loads(e=(10, 10)), on_stage=True) == "e"  # speakers
    assert choose_new_origin(set(), _loads(e=(10, 10)), on_stage=True) is None


def test_media_nodes_need_redis_and_a_shared_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ConfigError, match="TOWNHALL_MEDIA_NODES needs"):
        load_settings(media_nodes=True, media_secret="x" * 16)
    with pytest.raises(ConfigError, match="TOWNHALL_MEDIA_SECRET must be at least 16"):
        load_settings(media_secret="short")
    assert load_settings(media_nodes=True, media_secret="x" * 16, redis_url=REDIS_URL).media_nodes
    monkeypatch.delenv("TOWNHALL_MEDIA_SECRET", raising=False)
    assert cli.main(["media", "--redis", REDIS_URL, "--advertise", "127.0.0.1"]) == 2
    assert "TOWNHALL_MEDIA_SECRET" in capsys.readouterr().err


def _entry(node_id: str = "n1", **changes: Any) -> NodeEntry:
    fields: dict[str, Any] = {
        "id": node_id,
        "address": "127.0.0.1",
        "port": 7800,
        "relay_port": 7800,
        "capacity": 10,
        "load": 1,
        "pid": 0,
        "beat": 1,
    } | changes
    return NodeEntry(**fields)


def test_registry_entries_verify_only_signed_and_in_bounds() -> None:
    entry = _entry()
    assert verify(SECRET, sign(SECRET, entry)) == entry
    assert verify(b"other" * 8, sign(SECRET, entry)) is None
    doc = json.loads(sign(SECRET, entry))
    doc["entry"]["load"] = 0  # a changed load without a new MAC
    assert verify(SECRET, json.dumps(doc)) is None
    lying = entry.model_dump() | {"load": -5, "capacity": 10**12}
    signed = json.dumps({"entry": lying, "mac": _mac(SECRET, lying)})
    assert verify(SECRET, signed) is None  # signed, but out of bounds
    extra = entry.model_dump() | {"admin": True}
    assert verify(SECRET, json.dumps({"entry": extra, "mac": _mac(SECRET, extra)})) is None
    garbage: list[str | bytes] = [b"\xff\xfe", "[]", "{}", '{"entry": 1, "mac": 2}', "[" * 100_000]
    for raw in garbage:
        assert verify(SECRET, raw) is None


@pytest.fixture
async def redis_prefix() -> AsyncIterator[tuple[Any, str]]:
    reason = await redis_unreachable_reason()
    if reason:
        pytest.skip(reason)
    prefix = f"th-nu-{uuid.uuid4().hex[:8]}:"
    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        yield client, prefix
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.mark.redis
async def test_stale_and_garbage_entries_are_not_listed(redis_prefix: tuple[Any, str]) -> None:
    client, prefix = redis_prefix
    registry = Registry(client, prefix, SECRET)
    await registry.beat(_entry("n1"))
    await registry.beat(_entry("n2", load=3))
    ttl = await client.pttl(registry.key("n1"))
    assert 0 < ttl <= EXPIRY_SECONDS * 1000
    # Garbage under node keys: ignored, counted, nothing raised.
    for node_id, raw in [
        ("junk", "not json"),
        ("forged", sign(b"x" * 32, _entry("forged"))),
        ("other-id", sign(SECRET, _entry("n1"))),
    ]:
        await client.set(registry.key(node_id), raw, px=5000)
        await client.sadd(f"{prefix}media:nodes", node_id)
    assert sorted(await registry.alive()) == ["n1", "n2"]
    assert registry.rejected == 3
    # n2's beats stop: once its entry expires it is neither listed nor indexed.
    await client.pexpire(registry.key("n2"), 1)
    await asyncio.sleep(0.05)
    assert sorted(await registry.alive()) == ["n1"]
    assert "n2" not in await client.smembers(f"{prefix}media:nodes")
    await registry.beat(_entry("n2", beat=2))  # it comes back
    assert sorted(await registry.alive()) == ["n1", "n2"]
    await registry.leave("n1")
    assert sorted(await registry.alive()) == ["n2"]


def _claim_all(prefix: str, spaces: list[str], me: str, barrier: threading.Barrier) -> list[str]:
    """One API node claiming every space's origin for itself (own thread, loop, client)."""

    async def run() -> list[str]:
        client = redis_client(REDIS_URL, f"{prefix}{me}")
        placement = RedisPlacement(client, prefix)
        try:
            await client.ping()
            await asyncio.to_thread(barrier.wait)
            return list(
                await asyncio.gather(*(placement.claim_origin(s, None, me) for s in spaces))
            )
        finally:
            await client.aclose()

    return asyncio.run(run())


@pytest.mark.redis
async def test_two_api_nodes_placing_the_same_spaces_at_once_agree_on_one_origin(
    redis_prefix: tuple[Any, str],
) -> None:
    client, prefix = redis_prefix
    spaces = [f"sp{i}" for i in range(300)]
    barrier = threading.Barrier(2)
    results: dict[str, list[str]] = {}

    def api_node(me: str) -> None:
        results[me] = _claim_all(prefix, spaces, me, barrier)

    threads = [threading.Thread(target=api_node, args=(me,)) for me in ("node-a", "node-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results["node-a"] == results["node-b"]  # each saw the same winner
    placement = RedisPlacement(client, prefix)
    stored = [await placement.origin(s) for s in spaces]
    assert stored == results["node-a"]
    assert set(stored) <= {"node-a", "node-b"}

    # Both see the origin expired and replace it at once: still one.
    await client.set(f"{prefix}media:origin:x", "dead")
    won = await asyncio.gather(
        placement.claim_origin("x", "dead", "node-a"),
        RedisPlacement(client, prefix).claim_origin("x", "dead", "node-b"),
    )
    assert won[0] == won[1] == await placement.origin("x")
    # One that did not see the current origin does not replace it.
    assert await placement.claim_origin("x", None, "node-c") == won[0]
    assert await placement.claim_origin("x", "dead", "node-c") == won[0]
    await placement.release_origin("x", "node-c")  # not the origin: nothing happens
    assert await placement.origin("x") == won[0]
    await placement.release_origin("x", won[0])
    assert await placement.origin("x") is None
    assert await placement.add_edge("x", "e") and not await placement.add_edge("x", "e")
    assert await placement.edges("x") == {"e"}


async def _handshake(node_secret: bytes, api_secret: bytes) -> tuple[Any, Any]:
    results: dict[str, Any] = {}

    async def node(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await auth.node_side(reader, writer, node_secret, "n1")
            results["node"] = True
        except auth.NotAuthenticated as exc:
            results["node"] = exc
        writer.close()

    server = await asyncio.start_server(node, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            await auth.api_side(reader, writer, api_secret, "n1")
            results["api"] = True
        except auth.NotAuthenticated as exc:
            results["api"] = exc
        writer.close()
        async with asyncio.timeout(5):
            while "node" not in results:
                await asyncio.sleep(0.01)
    finally:
        server.close()
    return results["node"], results["api"]


async def test_the_control_channel_needs_the_secret_on_both_sides() -> None:
    assert await _handshake(SECRET, SECRET) == (True, True)
    node, api = await _handshake(SECRET, b"wrong" * 8)
    assert isinstance(node, auth.NotAuthenticated) and isinstance(api, auth.NotAuthenticated)


class _Room:
    relayed = True

    def __init__(self) -> None:
        self.got: list[tuple[bytes, int]] = []
        self.mix_taps: list[Any] = []

    def forward(self, payload: bytes, timestamp: int) -> None:
        self.got.append((payload, timestamp))


class _Rooms:
    def __init__(self, room: Any) -> None:
        self._room = room

    def room(self, space_id: str) -> Any:
        return self._room if space_id == "s" else None


async def test_udp_relay_between_registered_nodes_drops_everyone_else() -> None:
    origin_room, edge_room = _Room(), _Room()
    origin_room.relayed = False
    origin = NodeRelay("o", SECRET, _Rooms(origin_room), "127.0.0.1", 0)
    edge = NodeRelay("e", SECRET, _Rooms(edge_room), "127.0.0.1", 0)
    await origin.open()
    await edge.open()
    intruder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    intruder.bind(("127.0.0.1", 0))
    try:
        peers = {"o": ("127.0.0.1", origin.port), "e": ("127.0.0.1", edge.port)}
        origin.set_peers(peers)
        edge.set_peers(peers | {"x": intruder.getsockname()})
        origin.relay_to("s", "e", True)
        origin_room.mix_taps[0](b"mix1", 960)
        async with asyncio.timeout(5):
            while not edge_room.got:
                await asyncio.sleep(0.01)
        target = ("127.0.0.1", edge.port)
        head_o = MAGIC + b"\x01o"
        sealed = seal(relay_key(SECRET, "o"), 9, 0, "s", b"forged")
        intruder.sendto(head_o + sealed, target)  # the origin's key, not its address
        intruder.sendto(b"\x01" + os.urandom(100), target)  # garbage
        intruder.sendto(MAGIC + b"\x01q" + sealed, target)  # not a registered node
        intruder.sendto(MAGIC + b"\x01x" + sealed, target)  # registered, wrong key
        intruder.sendto(MAGIC + b"\x09x", target)  # cut short
        async with asyncio.timeout(5):
            while edge.dropped < 5:
                await asyncio.sleep(0.01)
        origin_room.mix_taps[0](b"mix2", 1920)
        async with asyncio.timeout(5):
            while len(edge_room.got) < 2:
                await asyncio.sleep(0.01)
        assert edge_room.got == [(b"mix1", 960), (b"mix2", 1920)]
        assert edge.dropped == 5
        # An edge that leaves the registry is no longer sent to.
        origin.set_peers({"o": peers["o"]})
        origin_room.mix_taps[0](b"mix3", 2880)
        await asyncio.sleep(0.1)
        assert len(edge_room.got) == 2
    finally:
        intruder.close()
        origin.close()
        edge.close()
