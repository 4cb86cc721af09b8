"""Media workers' parts on their own: placement, the relay's sealing and its socket."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

from townhall.media.workers.placement import Placement
from townhall.media.workers.relay import RelayEndpoint, seal, socket_path, unseal
from townhall.media.workers.stats import SourceStats
from townhall.media.workers.wire import Offer, Reply, encode

KEY = b"k" * 32


def test_speakers_go_to_the_origin_listeners_overflow_to_edges() -> None:
    placement = Placement(3, listeners_per_worker=2)
    alive = {0, 1, 2}
    host = placement.place("s", 1, True, alive)
    assert host is not None and not host.edge and host.worker == host.origin
    first = [placement.place("s", u, False, alive) for u in (2, 3)]
    assert all(s is not None and s.worker == host.origin for s in first)
    overflow = placement.place("s", 4, False, alive)
    assert overflow is not None and overflow.edge and overflow.new_relays == (overflow.worker,)
    again = placement.place("s", 5, False, alive)
    assert again is not None and again.worker == overflow.worker and again.new_relays == ()
    assert placement.listeners("s") == 4
    # A promoted edge listener moves to the origin; the edge seat is replaced.
    moved = placement.place("s", 4, True, alive)
    assert moved is not None and moved.worker == host.origin and moved.previous == overflow.worker


def test_a_lost_origin_moves_its_members_and_an_edge_takes_over() -> None:
    placement = Placement(2, listeners_per_worker=1)
    alive = {0, 1}
    host = placement.place("s", 1, True, alive)
    assert host is not None
    placement.place("s", 2, False, alive)
    edge = placement.place("s", 3, False, alive)
    assert edge is not None and edge.edge
    moved, stop = placement.worker_lost(host.origin)
    assert moved == {"s": ({1}, {2})} and stop == []
    back = placement.place("s", 1, True, alive - {host.origin})
    assert back is not None and back.worker == edge.worker and not back.edge  # takes over
    assert placement.origin_of("s") == edge.worker


def test_nothing_is_placed_without_a_live_worker() -> None:
    assert Placement(2, 10).place("s", 1, True, set()) is None


def test_relay_packets_unseal_only_with_the_key() -> None:
    packet = seal(KEY, 7, 960, "space1", b"opus")
    assert unseal(KEY, packet) == (7, 960, "space1", b"opus")
    assert unseal(b"x" * 32, packet) is None
    tampered = packet[:-1] + b"X"
    assert unseal(KEY, tampered) is None
    assert unseal(KEY, b"THR1" + b"\0" * 30) is None
    assert unseal(KEY, b"") is None


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


async def test_an_edge_forwards_sealed_packets_counts_loss_and_drops_strangers(
    tmp_path: Path,
) -> None:
    room = _Room()
    edge = RelayEndpoint(str(tmp_path), 1, KEY, _Rooms(room))
    await edge.open()
    stranger = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        target = str(socket_path(tmp_path, 1))
        for seq in (1, 2, 5):
            stranger.sendto(seal(KEY, seq, seq * 960, "s", b"p%d" % seq), target)
        stranger.sendto(seal(b"z" * 32, 6, 6 * 960, "s", b"forged"), target)
        stranger.sendto(b"garbage" * 10, target)
        stranger.sendto(seal(KEY, 4, 4 * 960, "s", b"old"), target)
        async with asyncio.timeout(5):
            while len(room.got) < 3 or edge.dropped < 2:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        assert room.got == [(b"p1", 960), (b"p2", 1920), (b"p5", 4800)]
        assert edge.dropped == 2
        assert edge.stats().received["s"] == SourceStats(packets=3, lost=2)
    finally:
        stranger.close()
        edge.close()


async def test_an_origin_taps_its_room_and_relays_to_its_edges(tmp_path: Path) -> None:
    edge_room, origin_room = _Room(), _Room()
    origin_room.relayed = False
    edge = RelayEndpoint(str(tmp_path), 1, KEY, _Rooms(edge_room))
    origin = RelayEndpoint(str(tmp_path), 0, KEY, _Rooms(origin_room))
    await edge.open()
    await origin.open()
    try:
        origin.relay_to("s", 1, True)
        assert len(origin_room.mix_taps) == 1
        origin_room.mix_taps[0](b"mix", 960)
        async with asyncio.timeout(5):
            while not edge_room.got:
                await asyncio.sleep(0.01)
        assert edge_room.got == [(b"mix", 960)]
        origin.forget("s")
        assert origin_room.mix_taps == []
    finally:
        edge.close()
        origin.close()


def test_wire_frames_are_length_prefixed_json() -> None:
    frame = encode(Reply(id=3, value={"a": 1}))
    assert int.from_bytes(frame[:4], "big") == len(frame) - 4
    offer = Offer(space_id="s", user_id=1, sdp="v=0", type="offer", on_stage=False, muted=True)
    assert b'"kind":"offer"' in encode(offer)


async def test_a_channel_fed_garbage_closes_without_raising() -> None:
    import socket as socket_module

    from townhall.media.workers.wire import Channel, ChannelClosed

    ours, theirs = socket_module.socketpair()
    reader, writer = await asyncio.open_unix_connection(sock=ours)
    channel = Channel(reader, writer)
    handled: list[Any] = []
    serving = asyncio.ensure_future(channel.serve(handled.append))
    pending = asyncio.ensure_future(channel.request(Reply(id=0), timeout=5))
    await asyncio.sleep(0.05)
    theirs.sendall((12).to_bytes(4, "big") + b"not json :-)")
    async with asyncio.timeout(5):
        await serving  # the garbage ends the channel; nothing is raised
    assert channel.closed and handled == []
    try:
        await pending
    except ChannelClosed:
        pass
    else:
        raise AssertionError("a request waiting on a dead channel must fail")
    theirs.close()
