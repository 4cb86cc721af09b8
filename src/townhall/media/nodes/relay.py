"""The encoded mix from a space's origin node to its edge nodes, over UDP.

The same relay as between workers (`media/workers/relay.py`: HMAC-sealed, numbered per
space and edge, loss counted), sent from and received on the node's relay port. A
packet names its sender:

    b"THN1" | len(node id) (u8) | node id | sealed packet (sealed with the sender's key)

An edge accepts a packet only when its sender is a registered node, it comes from that
node's registered address and relay port, and its seal verifies with that node's relay
key (derived from the shared secret and the node's id). Anything else is dropped and
counted (`dropped`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket

from townhall.media.nodes.registry import relay_key
from townhall.media.workers.relay import (
    MAX_PACKET,
    RelayedRooms,
    RelayEndpoint,
    _Outgoing,
    seal,
    unseal,
)

log = logging.getLogger(__name__)

MAGIC = b"THN1"
Address = tuple[str, int]


def _normal(host: str) -> str:
    with contextlib.suppress(ValueError):
        return str(ipaddress.ip_address(host))
    return host


class NodeRelay(RelayEndpoint):
    """A node's relay socket (UDP): sends its origin rooms' mix, receives as an edge."""

    def __init__(
        self, node_id: str, secret: bytes, rooms: RelayedRooms, host: str, port: int
    ) -> None:
        super().__init__("", 0, relay_key(secret, node_id), rooms)
        self.node_id = node_id
        self._secret = secret
        self._host = host
        self._port = port
        self._head = MAGIC + bytes([len(node_id.encode())]) + node_id.encode()
        self._peers: dict[str, Address] = {}
        self._keys: dict[str, bytes] = {}
        self._udp: socket.socket | None = None

    @property
    def port(self) -> int:
        return self._port

    def set_peers(self, peers: dict[str, Address]) -> None:
        """The registered nodes (id -> relay address), from the registry."""
        self._peers = {i: (_normal(h), p) for i, (h, p) in peers.items() if i != self.node_id}
        self._keys = {i: k for i, k in self._keys.items() if i in self._peers}

    async def open(self) -> None:
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.bind((self._host, self._port))
        sock.setblocking(False)
        self._port = sock.getsockname()[1]
        self._udp = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._readable)

    def close(self) -> None:
        sock, self._udp = self._udp, None
        if sock is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(sock.fileno())
            sock.close()

    def _send(self, space_id: str, out: _Outgoing, payload: bytes, timestamp: int) -> None:
        sock = self._udp
        if sock is None or not out.edges:
            return
        out.seq += 1
        packet = self._head + seal(self._key, out.seq, timestamp, space_id, payload)
        for edge in out.edges:
            address = self._peers.get(str(edge))
            if address is None:
                continue  # not registered (any more): nothing to send to
            try:
                sock.sendto(packet, address)
            except OSError as exc:  # full or unreachable: this packet is lost
                self.send_errors += 1
                log.debug("relay to %s failed: %s", edge, exc)

    def _readable(self) -> None:
        sock = self._udp
        if sock is None:
            return
        for _ in range(256):
            try:
                packet, source = sock.recvfrom(MAX_PACKET)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            self.receive_from(packet, (_normal(str(source[0])), int(source[1])))

    def receive_from(self, packet: bytes, source: Address) -> bool:
        """One datagram: forwarded when it comes from a registered node, else dropped."""
        sender = self._sender_of(packet, source)
        if sender is None:
            self.dropped += 1
            return False
        key = self._keys.get(sender)
        if key is None:
            key = self._keys[sender] = relay_key(self._secret, sender)
        opened = unseal(key, packet[len(MAGIC) + 1 + len(sender.encode()) :])
        if opened is None:
            self.dropped += 1
            return False
        return self.deliver(*opened)

    def _sender_of(self, packet: bytes, source: Address) -> str | None:
        if len(packet) < len(MAGIC) + 1 or not packet.startswith(MAGIC):
            return None
        size = packet[len(MAGIC)]
        raw = packet[len(MAGIC) + 1 : len(MAGIC) + 1 + size]
        try:
            sender = raw.decode()
        except UnicodeDecodeError:
            return None
        if len(raw) != size or self._peers.get(sender) != source:
            return None
        return sender
