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
import fractions
import re
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import av
import pylibsrtp
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from bench.common import FRAME_SAMPLES, SAMPLE_RATE, encode_tone
from bench.signalling import Channel
from townhall.media import internals
from townhall.media.ice import rtc_configuration, use_host_addresses

FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE
TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)
_SSRC_LINE = re.compile(r"^a=ssrc:(\d+) ", re.MULTILINE)
_OPUS_LINE = re.compile(r"^a=rtpmap:(\d+) opus/48000", re.MULTILINE | re.IGNORECASE)


class EncodedTrack(MediaStreamTrack):
    """An audio track of pre-encoded 20 ms Opus packets at real-time pace (looped).

    aiortc's sender only packetises `av.Packet`s (no encode, no level computation), so
    many speakers cost the load generator little. `sent_at[i]` is when packet i was handed
    to the sender (CLOCK_MONOTONIC), for end-to-end latency.
    """

    kind = "audio"

    def __init__(self, packets: list[bytes], *, loop: bool = True) -> None:
        super().__init__()
        self._packets = packets
        self._repeat = loop
        self._index = 0
        self._start: float | None = None
        self.sent_at: list[float] = []

    async def recv(self) -> av.Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        if not self._repeat and self._index >= len(self._packets):
            self.stop()
            raise MediaStreamError
        now = time.perf_counter()
        if self._start is None:
            self._start = now
        else:
            due = self._start + self._index * FRAME_SECONDS
            if due > now:
                await asyncio.sleep(due - now)
        packet = av.Packet(self._packets[self._index % len(self._packets)])
        packet.pts = self._index * FRAME_SAMPLES
        packet.time_base = TIME_BASE
        if len(self.sent_at) < 100_000:
            self.sent_at.append(time.perf_counter())
        self._index += 1
        return packet


@dataclass
class SocketTap:
    """Counts and samples SRTP on a peer connection's ICE sockets.

    `consume=True` (listeners of the load): RTP stops here, aiortc never sees it.
    `consume=False`: RTP also goes on to aiortc (decoding clients, server-side recording).
    `record=True` keeps (arrival time, RTP timestamp) of every RTP packet (bounded).
    STUN, DTLS and RTCP always go to aiortc.
    """

    pc: RTCPeerConnection
    consume: bool = True
    record: bool = False
    sample_every: int = 50
    max_records: int = 20000
    expected_ssrc: int | None = None
    expected_payload_type: int | None = None
    packets: int = 0
    octets: int = 0
    verified: int = 0
    verify_failures: int = 0
    stun: int = 0
    first_packet_time: float | None = None
    last_packet_time: float | None = None
    arrivals: list[tuple[float, int]] = field(default_factory=list)
    _dtls: Any = None

    def install(self) -> SocketTap:
        """Wrap `datagram_received` of every ICE protocol of the connection (after gathering)."""
        transceiver = self.pc.getTransceivers()[0]
        self._dtls = transceiver.receiver.transport
        for protocol in internals.ice_protocols(self._dtls.transport):
            protocol.datagram_received = self._wrap(protocol.datagram_received)
        return self

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
                if self.record and len(self.arrivals) < self.max_records:
                    self.arrivals.append((now, int.from_bytes(data[4:8], "big")))
                if self.consume:
                    if self.packets % self.sample_every == 1:
                        self._verify(data)
                    return
            elif first < 4:
                self.stun += 1
            original(data, addr)

        return datagram_received

    def _verify(self, data: bytes) -> None:
        session = internals.inbound_srtp(self._dtls)
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


class ArrivalRecorder:
    """Server side: record arrival times of a participant's RTP, passing everything on."""

    @staticmethod
    def install(pc: RTCPeerConnection) -> SocketTap:
        return SocketTap(pc, consume=False, record=True).install()


@dataclass
class LoadListener:
    user: int
    pc: RTCPeerConnection
    tap: SocketTap
    offer_time: float
    connected_time: float | None = None
    answer_time: float | None = None
    remote_track: MediaStreamTrack | None = None
    role: str = "listener"

    @property
    def join_seconds(self) -> float | None:
        """Offer created -> first audio packet at the socket."""
        if self.tap.first_packet_time is None:
            return None
        return self.tap.first_packet_time - self.offer_time


class Signalling(Protocol):
    """Where the generator sends its offers: a bench server's `Channel`, or a worker pool."""

    async def request(self, message: dict[str, Any]) -> dict[str, Any]: ...


@dataclass
class LoadGenerator:
    """Opens listeners against a bench server and keeps them until `close()`."""

    channel: Signalling
    first_user: int = 1000
    listeners: list[LoadListener] = field(default_factory=list)
    failures: int = 0

    async def join(
        self,
        user: int,
        *,
        role: str = "listener",
        track: MediaStreamTrack | None = None,
        consume: bool = True,
        record: bool = False,
        timeout: float = 30.0,
    ) -> LoadListener:
        """Connect one participant; a speaker sends `track`. Returns once connected."""
        pc = RTCPeerConnection(rtc_configuration([]))
        offer_time = time.perf_counter()
        if track is not None:
            pc.addTrack(track)
        else:
            pc.addTransceiver("audio", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        tap = SocketTap(pc, consume=consume, record=record).install()
        listener = LoadListener(user=user, pc=pc, tap=tap, offer_time=offer_time, role=role)
        connected = asyncio.Event()

        @pc.on("connectionstatechange")
        def _on_state() -> None:
            if pc.connectionState == "connected":
                listener.connected_time = time.perf_counter()
            if pc.connectionState in ("connected", "failed", "closed"):
                connected.set()

        @pc.on("track")
        def _on_track(remote: MediaStreamTrack) -> None:
            listener.remote_track = remote

        answer = await self.channel.request(
            {
                "op": "offer",
                "user": user,
                "role": role,
                "sdp": pc.localDescription.sdp,
                "type": "offer",
            }
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
                    await self.join(self.first_user + index)
                except Exception:
                    self.failures += 1

        async with asyncio.timeout(timeout):
            await asyncio.gather(*(one(start + i) for i in range(count)))

    def totals(self, role: str = "listener") -> dict[str, int]:
        """Sums over the participants of one role."""
        chosen = [lst for lst in self.listeners if lst.role == role]
        taps = [lst.tap for lst in chosen]
        return {
            "listeners": len(taps),
            "packets": sum(t.packets for t in taps),
            "octets": sum(t.octets for t in taps),
            "verified": sum(t.verified for t in taps),
            "verify_failures": sum(t.verify_failures for t in taps),
            "stun_received": sum(t.stun for t in taps),
            "connected": sum(1 for lst in chosen if lst.pc.connectionState == "connected"),
        }

    async def join_speakers(self, frequencies: list[float], first_user: int = 1) -> None:
        """Speakers sending continuous tones (pre-encoded Opus, ~32 kbit/s)."""
        for index, frequency in enumerate(frequencies):
            track = EncodedTrack(encode_tone(frequency, 250))
            await self.join(first_user + index, role="speaker", track=track)

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
