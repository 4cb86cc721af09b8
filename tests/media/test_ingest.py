"""Speakers' audio enters the room at the socket (RtpIn) and is mixed with little delay.

The delay check counts the room's own mix ticks (`MediaRoom.on_mixed`) between the arrival of a
speaker's packet at the server's socket and the first mix that carries its tone: with the
default 20 ms jitter prefetch that is 1 tick; ingest through aiortc's receiver track
(4 packets held before decoding) took 5 or more.
"""

from __future__ import annotations

import asyncio
import statistics
from typing import Any

import numpy as np

from tests.media.room_helpers import join, server_side_connected
from townhall.client.media import MediaClient, ToneTrack, connect, rms
from townhall.media.audio import FRAME_SAMPLES
from townhall.media.mixer import Mix
from townhall.media.server import MediaServer

SPACE = "ingest-aaaaaa"
ONSETS = (50, 100, 150)  # frames (20 ms) of the speaker's stream where a tone burst starts
BURST_FRAMES = 10
LOUD = 0.05  # rms of the mix (fraction of full scale) carrying a 0.3 tone
MAX_TICKS = 3


class BurstTrack(ToneTrack):
    """Silence with 200 ms tone bursts starting at the frames in ONSETS."""

    def samples(self, index: int) -> np.ndarray:
        if any(start <= index < start + BURST_FRAMES for start in ONSETS):
            return super().samples(index)
        return np.zeros(FRAME_SAMPLES, dtype=np.int16)


class TickCounter:
    """Counts the room's mix ticks and remembers the loud ones."""

    def __init__(self) -> None:
        self.ticks = 0
        self.loud: list[int] = []

    def on_mixed(self, index: int, mix: Mix) -> None:
        self.ticks += 1
        if rms(mix.full) > LOUD:
            self.loud.append(self.ticks)


def tap_arrivals(pc: Any, counter: TickCounter, arrivals: list[tuple[int, int]]) -> None:
    """Record (mix ticks so far, RTP timestamp) of each RTP packet reaching the server's
    sockets, before anything else (RtpIn, aiortc) sees it. SRTP leaves the header clear."""
    transport = pc.getTransceivers()[0].receiver.transport.transport
    for protocol in transport._connection._protocols:
        inner = protocol.datagram_received

        def datagram_received(data: bytes, addr: Any, inner: Any = inner) -> None:
            if len(data) > 12 and 127 < data[0] < 192 and not 191 < data[1] < 224:
                arrivals.append((counter.ticks, int.from_bytes(data[4:8], "big")))
            inner(data, addr)

        protocol.datagram_received = datagram_received


async def test_a_speakers_tone_is_mixed_on_the_next_tick_after_it_arrives(
    media: MediaServer, clients: list[MediaClient]
) -> None:
    counter = TickCounter()
    arrivals: list[tuple[int, int]] = []

    async def answer(sdp: object, type: object) -> tuple[str, str]:
        result = await media.answer(SPACE, 1, sdp, type, on_stage=True, muted=False)
        room = media.room(SPACE)
        assert room is not None
        room.on_mixed = counter.on_mixed
        tap_arrivals(room.participants[1].pc, counter, arrivals)  # before media can flow
        return result

    speaker = await connect(answer, track=BurstTrack(440.0))
    clients.append(speaker)
    await speaker.wait_connected()
    async with asyncio.timeout(20):
        while not arrivals or (arrivals[-1][1] - arrivals[0][1]) & 0xFFFFFFFF < (
            (ONSETS[-1] + BURST_FRAMES) * FRAME_SAMPLES
        ):
            await asyncio.sleep(0.1)

    first_ts = arrivals[0][1]  # the stream's frame 0
    delays = []
    for onset in ONSETS:
        arrived = next(
            ticks for ticks, ts in arrivals if (ts - first_ts) & 0xFFFFFFFF == onset * FRAME_SAMPLES
        )
        mixed = next(t for t in counter.loud if t > arrived)
        delays.append(mixed - arrived)
    assert statistics.median(delays) <= MAX_TICKS, delays


async def test_every_member_is_ingested_at_the_socket_but_only_the_audible_are_decoded(
    media: MediaServer, clients: list[MediaClient]
) -> None:
    await join(media, SPACE, 1, clients, on_stage=True, track=ToneTrack(440.0))
    await join(media, SPACE, 2, clients, on_stage=False, track=ToneTrack(660.0))
    await join(media, SPACE, 3, clients, on_stage=True, muted=True, track=ToneTrack(880.0))
    for user in (1, 2, 3):
        await server_side_connected(media, SPACE, user)
    room = media.room(SPACE)
    assert room is not None
    async with asyncio.timeout(10):
        while not all(
            p.rtp_in is not None and p.rtp_in.packets >= 25 for p in room.participants.values()
        ):
            await asyncio.sleep(0.05)
    speaker, listener, muted = (room.participants[u] for u in (1, 2, 3))
    assert speaker.jitter.stats.pushed > 0
    # The listener's and the muted speaker's packets are taken (and dropped) at the socket.
    assert listener.jitter.stats.pushed == 0 and muted.jitter.stats.pushed == 0
    for participant in (speaker, listener, muted):
        assert participant.rtp_in is not None and participant.rtp_in.rejected == 0
        # aiortc's receiver (its jitter buffer and decoder thread) never gets the RTP.
        stats = await participant.transceiver.receiver.getStats()
        assert sum(s.packetsReceived for s in stats.values() if s.type == "inbound-rtp") == 0

    media.set_on_stage(SPACE, 2, True)  # promoted on the same connection: now decoded
    async with asyncio.timeout(10):
        while listener.jitter.stats.pushed < 10:
            await asyncio.sleep(0.05)

    await media.disconnect(SPACE, 1)
    assert speaker.rtp_in is None  # the tap is closed with the connection
