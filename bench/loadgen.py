"""Many listener peers in one process: real ICE + DTLS with aiortc, then counting at the socket.

Each listener is a stock aiortc `RTCPeerConnection` with a receive-only audio transceiver.
Its offer goes to a bench server over JSON-lines signalling; ICE and DTLS run as usual.
A tap on the ICE socket's protocol (`SocketTap`) then counts SRTP packets before aiortc's
receive path sees them (no unprotect, no jitter buffer, no decode), decrypts one packet in
`sample_every` with the connection's own SRTP session to verify it (authentic, right SSRC and
payload type), and hands everything else - STUN (consent freshness), DTLS, RTCP - to aiortc.

The tap touches aiortc 1.16 / aioice 0.13 private attributes; they are all in `SocketTap`.

    python -m bench.loadgen --server 127.0.0.1:PORT --listeners 100 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import time
from dataclasses import dataclass, field
from typing import Any

import pylibsrtp
from aiortc import RTCPeerConnection, RTCSessionDescription

from bench.signalling import Channel
from townhall.media.ice import rtc_configuration, use_host_addresses

_SSRC_LINE = re.compile(r"^a=ssrc:(\d+) ", re.MULTILINE)
_OPUS_LINE = re.compile(r"^a=rtpmap:(\d+) opus/48000", re.MULTILINE | re.IGNORECASE)


@dataclass
class SocketTap:
    """Counts and samples SRTP on a peer connection's ICE sockets; passes the rest to aiortc."""

    pc: RTCPeerConnection
    sample_every: int = 50
    expected_ssrc: int | None = None
    expected_payload_type: int | None = None
    packets: int = 0
    octets: int = 0
    verified: int = 0
    verify_failures: int = 0
    first_packet_time: float | None = None
    last_packet_time: float | None = None
    _dtls: Any = None

    def install(self) -> None:
        """Wrap `datagram_received` of every ICE protocol of the connection (after gathering)."""
        transceiver = self.pc.getTransceivers()[0]
        self._dtls = transceiver.receiver.transport
        connection = self._dtls.transport._connection
        for protocol in connection._protocols:
            protocol.datagram_received = self._wrap(protocol.datagram_received)

    def _wrap(self, original: Any) -> Any:
        def datagram_received(data: bytes, addr: tuple[Any, ...]) -> None:
            first = data[0]
            if 127 < first < 192 and len(data) > 12 and not 191 < data[1] < 224:
                now = time.perf_counter()
                if self.first_packet_time is None:
                    self.first_packet_time = now
                self.last_packet_time = now
                self.packets += 1
                self.octets += len(data)
                if self.packets % self.sample_every == 1:
                    self._verify(data)
                return
            original(data, addr)

        return datagram_received

    def _verify(self, data: bytes) -> None:
        session = self._dtls._rx_srtp
        try:
            if session is None:
                raise pylibsrtp.Error("no SRTP session yet")
            plain = session.unprotect(data)
        except pylibsrtp.Error:
            self.verify_failures += 1
            return
        ssrc = int.from_bytes(plain[8:12], "big")
        payload_type = plain[1] & 0x7F
        if (self.expected_ssrc in (None, ssrc)) and (
            self.expected_payload_type in (None, payload_type)
        ):
            self.verified += 1
        else:
            self.verify_failures += 1


@dataclass
class LoadListener:
    user: str
    pc: RTCPeerConnection
    tap: SocketTap
    offer_time: float
    connected_time: float | None = None
    answer_time: float | None = None

    @property
    def join_seconds(self) -> float | None:
        """Offer created -> first audio packet at the socket."""
        if self.tap.first_packet_time is None:
            return None
        return self.tap.first_packet_time - self.offer_time


@dataclass
class LoadGenerator:
    """Opens listeners against a bench server and keeps them until `close()`."""

    channel: Channel
    prefix: str = "listener"
    listeners: list[LoadListener] = field(default_factory=list)
    failures: int = 0

    async def join(self, user: str, timeout: float = 30.0) -> LoadListener:
        pc = RTCPeerConnection(rtc_configuration([]))
        offer_time = time.perf_counter()
        pc.addTransceiver("audio", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        tap = SocketTap(pc)
        tap.install()
        listener = LoadListener(user=user, pc=pc, tap=tap, offer_time=offer_time)
        connected = asyncio.Event()

        @pc.on("connectionstatechange")
        def _on_state() -> None:
            if pc.connectionState == "connected":
                listener.connected_time = time.perf_counter()
            if pc.connectionState in ("connected", "failed", "closed"):
                connected.set()

        answer = await self.channel.request(
            {"op": "offer", "user": user, "sdp": pc.localDescription.sdp, "type": "offer"}
        )
        listener.answer_time = time.perf_counter()
        if match := _SSRC_LINE.search(answer["sdp"]):
            tap.expected_ssrc = int(match.group(1))
        if match := _OPUS_LINE.search(answer["sdp"]):
            tap.expected_payload_type = int(match.group(1))
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))
        await asyncio.wait_for(connected.wait(), timeout)
        if pc.connectionState != "connected":
            await pc.close()
            raise ConnectionError(f"{user}: {pc.connectionState}")
        self.listeners.append(listener)
        return listener

    async def join_many(self, count: int, concurrency: int = 8, timeout: float = 120.0) -> None:
        """Join `count` listeners, `concurrency` handshakes at a time, within `timeout`."""
        semaphore = asyncio.Semaphore(concurrency)
        start = len(self.listeners)

        async def one(index: int) -> None:
            async with semaphore:
                try:
                    await self.join(f"{self.prefix}-{index}")
                except Exception:
                    self.failures += 1

        async with asyncio.timeout(timeout):
            await asyncio.gather(*(one(start + i) for i in range(count)))

    def totals(self) -> dict[str, int]:
        taps = [listener.tap for listener in self.listeners]
        return {
            "listeners": len(taps),
            "packets": sum(t.packets for t in taps),
            "octets": sum(t.octets for t in taps),
            "verified": sum(t.verified for t in taps),
            "verify_failures": sum(t.verify_failures for t in taps),
            "connected": sum(1 for lst in self.listeners if lst.pc.connectionState == "connected"),
        }

    def per_listener_packets(self) -> list[int]:
        return [listener.tap.packets for listener in self.listeners]

    async def close(self, concurrency: int = 32) -> None:
        semaphore = asyncio.Semaphore(concurrency)

        async def one(listener: LoadListener) -> None:
            async with semaphore:
                with contextlib.suppress(Exception):
                    await listener.pc.close()

        await asyncio.gather(*(one(listener) for listener in self.listeners))
        self.listeners.clear()


async def main(server: str, count: int, seconds: float) -> None:
    use_host_addresses(["127.0.0.1"])
    host, port = server.rsplit(":", 1)
    channel = await Channel.connect(host, int(port))
    generator = LoadGenerator(channel)
    started = time.perf_counter()
    await generator.join_many(count)
    print(f"joined {len(generator.listeners)} in {time.perf_counter() - started:.1f} s")
    before = generator.totals()
    await asyncio.sleep(seconds)
    after = generator.totals()
    packets = after["packets"] - before["packets"]
    print(
        f"{packets} packets in {seconds:.0f} s = {packets / seconds / max(1, count):.1f} "
        f"per listener-second (50 expected); verified {after['verified']}, "
        f"failed {after['verify_failures']}; connected {after['connected']}/{count}"
    )
    await generator.close()
    await channel.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--server", required=True, help="host:port of a bench server")
    parser.add_argument("--listeners", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    asyncio.run(main(args.server, args.listeners, args.seconds))
