"""RtpIn: a speaker's Opus RTP taken at the server's socket, decoded, ahead of aiortc."""

from __future__ import annotations

import asyncio
import itertools

import numpy as np
import pytest
from aiortc import RTCPeerConnection

from townhall.client.media import ToneTrack
from townhall.media.ice import rtc_configuration, use_host_addresses
from townhall.media.rtp_in import OpusDecoder, RtpIn, parse_rtp

SAMPLE_RATE = 48000


@pytest.fixture(autouse=True)
def _loopback_only() -> None:
    use_host_addresses(["127.0.0.1"])


def dominant_frequency(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / SAMPLE_RATE)[int(np.argmax(spectrum))])


def test_parse_rtp_skips_csrcs_extension_and_padding() -> None:
    header = bytes([0x80 | 0x20 | 0x10 | 0x01, 111]) + (7).to_bytes(2, "big")
    header += (123456).to_bytes(4, "big") + (99).to_bytes(4, "big")
    csrc = (5).to_bytes(4, "big")
    extension = bytes([0xBE, 0xDE, 0, 1, 0x10, 0x7F, 0, 0])
    packet = header + csrc + extension + b"opus-data" + bytes([0, 0, 3])
    assert parse_rtp(packet) == (111, 7, 123456, b"opus-data")
    assert parse_rtp(b"\x00" * 20) is None
    assert parse_rtp(header[:8]) is None


async def test_speaker_tone_arrives_through_rtp_in_and_not_through_aiortc() -> None:
    config = rtc_configuration([])
    server = RTCPeerConnection(config)
    client = RTCPeerConnection(config)
    client.addTrack(ToneTrack(440.0))
    decoder = OpusDecoder()
    frames: list[np.ndarray] = []
    timestamps: list[int] = []
    sequence: list[int] = []

    def on_packet(payload: bytes, timestamp: int, sequence_number: int) -> None:
        frames.append(decoder.decode(payload))
        timestamps.append(timestamp)
        sequence.append(sequence_number)

    try:
        await client.setLocalDescription(await client.createOffer())
        await server.setRemoteDescription(client.localDescription)
        await server.setLocalDescription(await server.createAnswer())
        receiver = server.getTransceivers()[0].receiver
        rtp_in = RtpIn.attach(server, receiver, on_packet)
        await client.setRemoteDescription(server.localDescription)
        async with asyncio.timeout(10):
            while len(frames) < 60:
                await asyncio.sleep(0.05)
        assert server.connectionState == "connected"
        assert client.connectionState == "connected"
        assert all(len(f) == 960 for f in frames)
        audio = np.concatenate(frames[10:]).astype(np.float64)
        assert abs(dominant_frequency(audio) - 440.0) < 5
        assert np.sqrt(np.mean(audio**2)) > 1000
        assert all(b - a == 960 for a, b in itertools.pairwise(timestamps))
        assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(sequence))
        stats = await receiver.getStats()
        assert sum(s.packetsReceived for s in stats.values() if s.type == "inbound-rtp") == 0
        assert rtp_in.rejected == 0

        # Closing the tap hands the RTP back to aiortc's receiver.
        rtp_in.close()
        count = len(frames)
        async with asyncio.timeout(10):
            while True:
                stats = await receiver.getStats()
                got = sum(s.packetsReceived for s in stats.values() if s.type == "inbound-rtp")
                if got >= 10:
                    break
                await asyncio.sleep(0.05)
        assert len(frames) == count
    finally:
        await client.close()
        await server.close()
