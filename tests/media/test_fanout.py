"""FanOut + RtpOut over real aiortc peer connections on loopback.

Server side: aiortc peer connections with a send-only audio transceiver, taken over by
`RtpOut`. Client side: stock aiortc peers whose receiver decodes what arrives. A 440 Hz
tone is encoded once with PyAV's libopus and fanned out; clients must hear 440 Hz.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
from collections.abc import AsyncIterator, Hashable, Iterator
from dataclasses import dataclass, field

import aioice.ice
import aioice.stun
import av
import numpy as np
import pytest
from aiortc import MediaStreamTrack, RTCPeerConnection
from aiortc.mediastreams import MediaStreamError

from tests.media.fanout_engines import EVERY, INLINE, fanout_for
from townhall.client.media import ToneTrack
from townhall.media.fanout import FanOut
from townhall.media.ice import rtc_configuration, use_host_addresses
from townhall.media.rtp_out import RtpOut

SAMPLE_RATE = 48000
FRAME_SAMPLES = 960
TONE_HZ = 440.0


@pytest.fixture(autouse=True)
def _loopback_only() -> None:
    use_host_addresses(["127.0.0.1"])


def encode_tone(frequency: float, frames: int) -> list[bytes]:
    """`frames` 20 ms Opus packets of a sine tone, encoded by libopus (PyAV)."""
    encoder = av.CodecContext.create("libopus", "w")
    encoder.sample_rate = SAMPLE_RATE
    encoder.layout = "stereo"
    encoder.format = "s16"
    encoder.time_base = fractions.Fraction(1, SAMPLE_RATE)
    packets: list[bytes] = []
    for index in range(frames + 4):
        t = (np.arange(FRAME_SAMPLES) + index * FRAME_SAMPLES) / SAMPLE_RATE
        mono = (0.4 * 32767 * np.sin(2 * np.pi * frequency * t)).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(
            np.repeat(mono, 2).reshape(1, -1), format="s16", layout="stereo"
        )
        frame.sample_rate = SAMPLE_RATE
        frame.pts = index * FRAME_SAMPLES
        packets.extend(bytes(p) for p in encoder.encode(frame))
    return packets[:frames]


def dominant_frequency(samples: np.ndarray) -> float:
    windowed = samples * np.hanning(len(samples))
    spectrum = np.abs(np.fft.rfft(windowed))
    return float(np.fft.rfftfreq(len(samples), 1 / SAMPLE_RATE)[int(np.argmax(spectrum))])


@dataclass
class Listener:
    """A stock aiortc client that receives and decodes, plus the server side's RtpOut."""

    server: RTCPeerConnection
    client: RTCPeerConnection
    out: RtpOut
    samples: list[np.ndarray] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    async def inbound_packets(self) -> int:
        stats = await self.client.getReceivers()[0].getStats()
        return sum(s.packetsReceived for s in stats.values() if s.type == "inbound-rtp")

    async def inbound_lost(self) -> int:
        """Packets the client counts as lost (gaps in the sequence numbers)."""
        stats = await self.client.getReceivers()[0].getStats()
        return sum(s.packetsLost for s in stats.values() if s.type == "inbound-rtp")

    async def remote_outbound(self) -> tuple[int, int] | None:
        """(packetsSent, bytesSent) from the last RTCP Sender Report the client got."""
        stats = await self.client.getReceivers()[0].getStats()
        for s in stats.values():
            if s.type == "remote-outbound-rtp":
                return s.packetsSent, s.bytesSent
        return None

    def audio(self) -> np.ndarray:
        return np.concatenate(self.samples) if self.samples else np.zeros(0)


async def _collect(track: MediaStreamTrack, samples: list[np.ndarray]) -> None:
    with contextlib.suppress(MediaStreamError):
        while True:
            frame = await track.recv()
            assert isinstance(frame, av.AudioFrame)
            data = frame.to_ndarray().reshape(-1, 2)
            samples.append(data[:, 0].astype(np.float64))


async def _wait_connected(*pcs: RTCPeerConnection, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not all(pc.connectionState == "connected" for pc in pcs):
            await asyncio.sleep(0.02)


async def connect_listener(report_interval: float = 5.0) -> Listener:
    """Client offers recvonly audio, server answers sendonly; RtpOut takes over the sender."""
    config = rtc_configuration([])
    server = RTCPeerConnection(config)
    client = RTCPeerConnection(config)
    client.addTransceiver("audio", direction="recvonly")
    tracks: asyncio.Queue[MediaStreamTrack] = asyncio.Queue()
    client.on("track", tracks.put_nowait)
    await client.setLocalDescription(await client.createOffer())
    await server.setRemoteDescription(client.localDescription)
    transceiver = server.getTransceivers()[0]
    transceiver.direction = "sendonly"
    await server.setLocalDescription(await server.createAnswer())
    await client.setRemoteDescription(server.localDescription)
    await _wait_connected(server, client)
    out = await RtpOut.from_connection(server, transceiver.sender, report_interval=report_interval)
    listener = Listener(server=server, client=client, out=out)
    track = await asyncio.wait_for(tracks.get(), 5)
    listener.task = asyncio.create_task(_collect(track, listener.samples))
    return listener


async def close_listener(listener: Listener) -> None:
    if listener.task is not None:
        listener.task.cancel()
    listener.out.close()
    await listener.client.close()
    await listener.server.close()


@contextlib.asynccontextmanager
async def listeners(count: int, report_interval: float = 5.0) -> AsyncIterator[list[Listener]]:
    made = [await connect_listener(report_interval) for _ in range(count)]
    try:
        yield made
    finally:
        for listener in made:
            await close_listener(listener)


async def play(fanout: FanOut, packets: list[bytes], start_timestamp: int = 0) -> list[int]:
    """Send packets at real-time pace (20 ms); returns how many listeners got each one."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    counts = []
    for index, payload in enumerate(packets):
        counts.append(fanout.send(payload, start_timestamp + index * FRAME_SAMPLES, index == 0))
        await asyncio.sleep(max(0.0, start + (index + 1) * 0.02 - loop.time()))
    return counts


@pytest.mark.parametrize("engine", EVERY)
async def test_fanned_out_tone_decodes_to_440_hz_at_every_listener(engine: str) -> None:
    packets = encode_tone(TONE_HZ, 75)
    fanout = fanout_for(engine)
    async with listeners(3) as group:
        for index, listener in enumerate(group):
            fanout.add(index, listener.out)
        counts = await play(fanout, packets)
        await asyncio.sleep(0.3)
        assert counts == [3] * len(packets)
        for listener in group:
            audio = listener.audio()
            assert len(audio) >= SAMPLE_RATE // 2, "listener decoded less than 0.5 s of audio"
            tail = audio[len(audio) // 3 :]
            assert abs(dominant_frequency(tail) - TONE_HZ) < 5
            assert np.sqrt(np.mean(tail**2)) > 1000, "decoded audio is near silence"
            assert await listener.inbound_packets() >= len(packets) - 2


@pytest.fixture
def _ipv6_loopback_only() -> Iterator[None]:
    use_host_addresses(["::1"])
    yield
    use_host_addresses(["127.0.0.1"])


@pytest.mark.usefixtures("_ipv6_loopback_only")
@pytest.mark.parametrize("engine", INLINE)
async def test_fanout_works_over_ipv6_loopback(engine: str) -> None:
    packets = encode_tone(TONE_HZ, 50)
    fanout = fanout_for(engine)
    async with listeners(1) as (listener,):
        assert listener.out.path.remote_addr[0] == "::1"
        fanout.add("a", listener.out)
        assert await play(fanout, packets) == [1] * 50
        await asyncio.sleep(0.3)
        assert await listener.inbound_packets() == 50
        assert abs(dominant_frequency(listener.audio()[SAMPLE_RATE // 4 :]) - TONE_HZ) < 5


@pytest.mark.parametrize("engine", EVERY)
async def test_removed_listener_gets_no_more_packets(engine: str) -> None:
    packets = encode_tone(TONE_HZ, 100)
    fanout = fanout_for(engine)
    async with listeners(2) as (kept, removed):
        fanout.add("kept", kept.out)
        fanout.add("removed", removed.out)
        await play(fanout, packets[:25])
        await asyncio.sleep(0.2)
        assert fanout.remove("removed") is removed.out
        await asyncio.sleep(0.2)
        kept_before = await kept.inbound_packets()
        removed_before = await removed.inbound_packets()
        assert removed_before >= 20
        counts = await play(fanout, packets[25:], start_timestamp=25 * FRAME_SAMPLES)
        await asyncio.sleep(0.3)
        assert counts == [1] * 75
        assert await removed.inbound_packets() == removed_before
        assert await kept.inbound_packets() >= kept_before + 70


@pytest.mark.parametrize("engine", EVERY)
async def test_broken_listener_is_dropped_and_others_keep_hearing(engine: str) -> None:
    packets = encode_tone(TONE_HZ, 75)
    dropped: list[tuple[Hashable, BaseException]] = []
    fanout = fanout_for(engine, on_drop=lambda key, exc: dropped.append((key, exc)))
    async with listeners(3) as group:
        for index, listener in enumerate(group):
            fanout.add(index, listener.out)
        # Break the middle listener: its server connection (and ICE socket) goes away.
        await group[1].server.close()
        counts = await play(fanout, packets)
        await asyncio.sleep(0.3)
        assert counts[0] == 2 and counts[-1] == 2
        assert [key for key, _ in dropped] == [1]
        assert isinstance(dropped[0][1], OSError)
        assert fanout.keys() == [0, 2]
        for listener in (group[0], group[2]):
            tail = listener.audio()[SAMPLE_RATE // 4 :]
            assert len(tail) >= SAMPLE_RATE // 2
            assert abs(dominant_frequency(tail) - TONE_HZ) < 5
            assert await listener.inbound_packets() >= len(packets) - 2


@pytest.mark.parametrize("engine", EVERY)
async def test_sender_report_carries_true_counts_across_direct_and_fanout_sends(
    engine: str,
) -> None:
    packets = encode_tone(TONE_HZ, 40)
    fanout = fanout_for(engine)
    async with listeners(1, report_interval=0.2) as (listener,):
        # 10 packets sent directly (a speaker's mix-minus), then 40 through the fan-out
        # (demoted to listener), then 10 direct again: one unbroken stream, true SR counts.
        for index, payload in enumerate(packets[:10]):
            listener.out.send(payload, index * FRAME_SAMPLES)
            await asyncio.sleep(0.02)
        fanout.add("a", listener.out)
        await play(fanout, packets, start_timestamp=10 * FRAME_SAMPLES)
        fanout.remove("a")
        for index, payload in enumerate(packets[:10]):
            listener.out.send(payload, (50 + index) * FRAME_SAMPLES)
            await asyncio.sleep(0.02)
        octets = 2 * sum(map(len, packets[:10])) + sum(map(len, packets))
        async with asyncio.timeout(5):
            while await listener.remote_outbound() != (60, octets):
                await asyncio.sleep(0.05)
        assert listener.out.packets_sent == 60
        assert listener.out.octets_sent == octets
        assert await listener.inbound_packets() == 60
        assert await listener.inbound_lost() == 0


async def test_empty_payload_sends_nothing() -> None:
    fanout = FanOut()
    async with listeners(1) as (listener,):
        fanout.add("a", listener.out)
        assert fanout.send(b"", 0) == 0
        listener.out.send(b"", 0)
        payload = encode_tone(TONE_HZ, 1)[0]
        assert fanout.send(payload, FRAME_SAMPLES) == 1
        async with asyncio.timeout(5):
            while await listener.inbound_packets() < 1:
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
        assert await listener.inbound_packets() == 1


async def test_connection_outlives_consent_timeout_while_only_fanout_sends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # aioice's consent freshness, shortened: a check every ~0.1 s that times out after
    # 0.1 s, connection closed after 3 failures (~0.6 s). With consent unanswered (e.g. the
    # server no longer reading its socket) this test sees "closed" within the 2 s it plays.
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 0.1)
    monkeypatch.setattr(aioice.ice, "CONSENT_FAILURES", 3)
    monkeypatch.setattr(aioice.stun, "RETRY_RTO", 0.1)
    packets = encode_tone(TONE_HZ, 100)
    fanout = FanOut()
    async with listeners(1) as (listener,):
        fanout.add("a", listener.out)
        counts = await play(fanout, packets)
        assert counts == [1] * len(packets)
        assert listener.server.connectionState == "connected"
        assert listener.client.connectionState == "connected"
        tail = listener.audio()[SAMPLE_RATE // 4 :]
        assert abs(dominant_frequency(tail) - TONE_HZ) < 5


async def test_rtp_out_refuses_a_sender_that_does_not_send() -> None:
    config = rtc_configuration([])
    server = RTCPeerConnection(config)
    client = RTCPeerConnection(config)
    try:
        client.addTransceiver("audio", direction="sendonly")
        await client.setLocalDescription(await client.createOffer())
        await server.setRemoteDescription(client.localDescription)
        await server.setLocalDescription(await server.createAnswer())
        await client.setRemoteDescription(server.localDescription)
        await _wait_connected(server, client)
        transceiver = server.getTransceivers()[0]
        assert transceiver.currentDirection == "recvonly"
        with pytest.raises(ValueError, match="does not send"):
            await RtpOut.from_connection(server, transceiver.sender, timeout=2)
    finally:
        await client.close()
        await server.close()


async def test_stock_sender_falls_silent_after_takeover_even_with_a_track() -> None:
    config = rtc_configuration([])
    server = RTCPeerConnection(config)
    client = RTCPeerConnection(config)
    tracks: asyncio.Queue[MediaStreamTrack] = asyncio.Queue()
    client.on("track", tracks.put_nowait)
    try:
        client.addTransceiver("audio", direction="recvonly")
        await client.setLocalDescription(await client.createOffer())
        await server.setRemoteDescription(client.localDescription)
        transceiver = server.getTransceivers()[0]
        transceiver.direction = "sendonly"
        # A 1000 Hz tone on the stock sender: it must stop once RtpOut takes over.
        transceiver.sender.replaceTrack(ToneTrack(1000.0))
        await server.setLocalDescription(await server.createAnswer())
        await client.setRemoteDescription(server.localDescription)
        # aiortc negotiates no NACK (nor any RTCP feedback) for audio: nothing to retransmit.
        assert "nack" not in server.localDescription.sdp
        await _wait_connected(server, client)
        out = await RtpOut.from_connection(server, transceiver.sender)
        listener = Listener(server=server, client=client, out=out)
        track = await asyncio.wait_for(tracks.get(), 5)
        await asyncio.sleep(0.3)
        settled = await listener.inbound_packets()
        await asyncio.sleep(0.5)
        assert await listener.inbound_packets() == settled, "stock sender still sends"
        listener.task = asyncio.create_task(_collect(track, listener.samples))
        fanout = FanOut()
        fanout.add("a", out)
        await play(fanout, encode_tone(TONE_HZ, 60))
        await asyncio.sleep(0.3)
        assert await listener.inbound_packets() == settled + 60
        assert await listener.inbound_lost() == 0, "RtpOut must continue the stock sequence"
        tail = listener.audio()[-SAMPLE_RATE // 2 :]
        assert abs(dominant_frequency(tail) - TONE_HZ) < 5
        listener.task.cancel()
        out.close()
    finally:
        await client.close()
        await server.close()
