"""The encoded mix from a space's origin worker to its edges, over Unix datagrams.

The origin hands each tick's encoded listener packet (the same bytes its own listeners
get) to every edge of the space, once per edge; an edge fans it out to its listeners
with the same fast path (`MediaRoom.forward`). Each worker binds `<relay_dir>/w<index>.sock`
(a directory only the server's user can enter). A packet:

    b"THR1" | mac (16) | seq (u32) | timestamp (u32) | len(space_id) (u8) | space_id | payload

`mac` is HMAC-SHA256 (truncated to 16 bytes) of everything after it with the pool's
relay key: a packet from anyone else is dropped and counted. `seq` counts per space and
edge, so an edge counts what was lost (a jump) and ignores what is old (a reordering or
a restarted origin starts a new run).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import hmac
import logging
import os
import socket
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from townhall.media.workers.stats import RelayStats, SourceStats

log = logging.getLogger(__name__)

MAGIC = b"THR1"
MAC_BYTES = 16
_FIELDS = struct.Struct("!IIB")
MAX_PACKET = 2048
REORDER_WINDOW = 64
"""Packets at most this far behind the last one are late or repeated (dropped); further
back, a new origin's sequence has begun."""


class RelayedRooms(Protocol):
    def room(self, space_id: str) -> Any: ...


def socket_path(relay_dir: str | Path, index: int) -> Path:
    return Path(relay_dir) / f"w{index}.sock"


def seal(key: bytes, seq: int, timestamp: int, space_id: str, payload: bytes) -> bytes:
    sid = space_id.encode()
    body = _FIELDS.pack(seq & 0xFFFFFFFF, timestamp & 0xFFFFFFFF, len(sid)) + sid + payload
    mac = hmac.digest(key, body, hashlib.sha256)[:MAC_BYTES]
    return MAGIC + mac + body


def unseal(key: bytes, packet: bytes) -> tuple[int, int, str, bytes] | None:
    """(seq, timestamp, space id, payload), or None for anything not sealed with `key`."""
    head = len(MAGIC) + MAC_BYTES
    if len(packet) < head + _FIELDS.size or not packet.startswith(MAGIC):
        return None
    mac, body = packet[len(MAGIC) : head], packet[head:]
    if not hmac.compare_digest(mac, hmac.digest(key, body, hashlib.sha256)[:MAC_BYTES]):
        return None
    seq, timestamp, size = _FIELDS.unpack_from(body)
    sid = body[_FIELDS.size : _FIELDS.size + size]
    if len(sid) != size:
        return None
    try:
        space_id = sid.decode()
    except UnicodeDecodeError:
        return None
    return seq, timestamp, space_id, body[_FIELDS.size + size :]


@dataclass
class _Incoming:
    last_seq: int | None = None
    received: int = 0
    lost: int = 0


@dataclass
class _Outgoing:
    edges: set[int | str] = field(default_factory=set)  # worker indexes, or node ids
    seq: int = 0
    attached: Any = None  # the room the tap is on
    tap: Any = None


class RelayEndpoint:
    """A worker's relay socket: sends its origin rooms' mix to edges, receives as an edge."""

    def __init__(self, relay_dir: str, index: int, key: bytes, rooms: RelayedRooms) -> None:
        self._dir = relay_dir
        self._index = index
        self._key = key
        self._rooms = rooms
        self._out: dict[str, _Outgoing] = {}
        self._in: dict[str, _Incoming] = {}
        self._sock: socket.socket | None = None
        self._sender: socket.socket | None = None
        self.dropped = 0  # packets not sealed with our key
        self.send_errors = 0

    async def open(self) -> None:
        if not self._dir:
            return
        path = socket_path(self._dir, self._index)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(path))
        sock.setblocking(False)
        self._sock = sock
        self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sender.setblocking(False)
        asyncio.get_running_loop().add_reader(sock.fileno(), self._readable)

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(sock.fileno())
            sock.close()
            with contextlib.suppress(OSError):
                os.unlink(socket_path(self._dir, self._index))
        if self._sender is not None:
            self._sender.close()
            self._sender = None

    # -- origin ---------------------------------------------------------------

    def relay_to(self, space_id: str, edge: int | str, on: bool) -> None:
        out = self._out.setdefault(space_id, _Outgoing())
        if on:
            out.edges.add(edge)
        else:
            out.edges.discard(edge)
        self.attach(space_id)

    def edges_of(self, space_id: str) -> set[int | str]:
        out = self._out.get(space_id)
        return set(out.edges) if out is not None else set()

    def attach(self, space_id: str) -> None:
        """Put the tap on the space's room (when it has edges and a room here)."""
        out = self._out.get(space_id)
        room = self._rooms.room(space_id)
        if out is None or room is None or out.attached is room:
            return
        if out.attached is not None:
            with contextlib.suppress(ValueError):
                out.attached.mix_taps.remove(out.tap)
        out.attached = room

        def tap(payload: bytes, timestamp: int, out: _Outgoing = out) -> None:
            self._send(space_id, out, payload, timestamp)

        out.tap = tap
        room.mix_taps.append(tap)

    def forget(self, space_id: str) -> None:
        """The space's room closed here."""
        out = self._out.pop(space_id, None)
        if out is not None and out.attached is not None:
            with contextlib.suppress(ValueError):
                out.attached.mix_taps.remove(out.tap)
        self._in.pop(space_id, None)

    def _send(self, space_id: str, out: _Outgoing, payload: bytes, timestamp: int) -> None:
        sender = self._sender
        if sender is None or not out.edges:
            return
        out.seq += 1
        for edge in out.edges:
            packet = seal(self._key, out.seq, timestamp, space_id, payload)
            try:
                sender.sendto(packet, str(socket_path(self._dir, int(edge))))
            except OSError as exc:  # the edge is gone or full: this packet is lost
                self.send_errors += 1
                if exc.errno not in (errno.ENOENT, errno.ECONNREFUSED, errno.EAGAIN):
                    log.debug("relay to %s failed: %s", edge, exc)

    # -- edge -----------------------------------------------------------------

    def _readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        for _ in range(256):
            try:
                packet = sock.recv(MAX_PACKET)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            self.receive(packet)

    def receive(self, packet: bytes) -> bool:
        opened = unseal(self._key, packet)
        if opened is None:
            self.dropped += 1
            return False
        return self.deliver(*opened)

    def deliver(self, seq: int, timestamp: int, space_id: str, payload: bytes) -> bool:
        """An authenticated packet: forward it to the space's relayed room, counting loss."""
        room = self._rooms.room(space_id)
        if room is None or not getattr(room, "relayed", False):
            return False
        state = self._in.setdefault(space_id, _Incoming())
        if state.last_seq is not None:
            ahead = (seq - state.last_seq) & 0xFFFFFFFF
            behind = (state.last_seq - seq) & 0xFFFFFFFF
            if behind <= REORDER_WINDOW:
                return False  # repeated or late: its moment has passed
            if ahead > 1 and ahead <= 0x7FFFFFFF:
                state.lost += ahead - 1
            # (further back than the window: a new origin's run, starting again)
        state.last_seq = seq
        state.received += 1
        room.forward(payload, timestamp)
        return True

    def stats(self) -> RelayStats:
        return RelayStats(
            dropped=self.dropped,
            send_errors=self.send_errors,
            received={s: SourceStats(packets=i.received, lost=i.lost) for s, i in self._in.items()},
            sending={s: sorted(o.edges, key=str) for s, o in self._out.items() if o.edges},
        )
