"""Bad input never crashes a room: malformed offers, floods, garbage media."""

from __future__ import annotations

import asyncio
import functools
import os
import re
import socket
from collections.abc import Callable
from typing import Any

import av
import pytest
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpSender

from tests.media.room_helpers import join
from townhall.client.media import MediaClient, ToneTrack, band_rms, connect
from townhall.config import Settings
from townhall.domain.errors import Conflict, Invalid, RateLimited
from townhall.media.audio import TIME_BASE
from townhall.media.ice import rtc_configuration
from townhall.media.server import MediaServer

SECOND = 48_000


async def make_offer(setup: Callable[[RTCPeerConnection], object]) -> str:
    """An offer from a real aiortc connection shaped by `setup(pc)`."""
    pc = RTCPeerConnection(rtc_configuration([]))
    try:
        setup(pc)
        await pc.setLocalDescription(await pc.createOffer())
        return pc.localDescription.sdp
    finally:
        await pc.close()


def audio_only(pc: RTCPeerConnection) -> None:
    pc.addTransceiver("audio", direction="sendrecv")


def two_audio_streams(pc: RTCPeerConnection) -> None:
    audio_only(pc)
    audio_only(pc)


def pcmu_only(pc: RTCPeerConnection) -> None:
    transceiver = pc.addTransceiver("audio", direction="sendrecv")
    codecs = RTCRtpSender.getCapabilities("audio").codecs
    transceiver.setCodecPreferences([c for c in codecs if c.name == "PCMU"])


async def tone_reaches_listener(media: MediaServer, space: str, clients: list[MediaClient]) -> None:
    await join(media, space, 1, clients, on_stage=True, track=ToneTrack(440))
    listener = await join(media, space, 2, clients, on_stage=False)
    await asyncio.sleep(0.6)
    recorder = listener.recorder
    pcm = await recorder.wait_samples(SECOND, after=recorder.mark(), timeout=10)
    assert band_rms(pcm, 440) > 0.05


async def test_malformed_offers_are_refused_with_clear_errors(
    media: MediaServer, clients: list[MediaClient]
) -> None:
    good = await make_offer(audio_only)
    cases = {
        "bad_sdp": ("v=0\r\nm=audio notaport UDP/TLS/RTP/SAVPF 111\r\n", "offer"),
        "bad_sdp_type": (good, "answer"),
        "sdp_too_large": (good + "a=x-pad:" + "x" * 70_000 + "\r\n", "offer"),
        "no_audio": (await make_offer(lambda pc: pc.createDataChannel("chat")), "offer"),
        "no_opus": (await make_offer(pcmu_only), "offer"),
        "too_many_streams": (
            await make_offer(two_audio_streams),
            "offer",
        ),
        "bad_direction": (good.replace("a=sendrecv", "a=inactive"), "offer"),
    }
    no_fingerprint = re.sub(r"a=fingerprint:[^\r\n]*\r\n", "", good)
    cases["bad_sdp "] = (no_fingerprint, "offer")
    for code, (sdp, type_) in cases.items():
        with pytest.raises(Invalid) as caught:
            await media.answer("space-bad", 7, sdp, type_, on_stage=True, muted=False)
        assert caught.value.code == code.strip(), (code, caught.value.message)
    for junk in (None, 42, "", os.urandom(300).hex()):
        with pytest.raises(Invalid):
            await media.answer("space-bad", 7, junk, "offer", on_stage=True, muted=False)
    assert media.room("space-bad") is None
    # The same space and other spaces still work.
    await tone_reaches_listener(media, "space-bad", clients)


async def test_offer_flood_from_one_user_keeps_only_the_newest(
    media: MediaServer, clients: list[MediaClient]
) -> None:
    answer = functools.partial(media.answer, "space-flood", 5, on_stage=False, muted=False)
    results = await asyncio.gather(*(connect(answer) for _ in range(6)), return_exceptions=True)
    made = [r for r in results if isinstance(r, MediaClient)]
    clients.extend(made)
    failures = [r for r in results if not isinstance(r, MediaClient)]
    assert all(isinstance(f, Conflict) for f in failures), failures
    room = media.room("space-flood")
    assert room is not None and list(room.participants) == [5]
    live = room.participants[5]
    winners = [c for c in made if c.pc.remoteDescription.sdp == live.pc.localDescription.sdp]
    assert len(winners) == 1
    await winners[0].wait_connected()
    for loser in made:
        if loser is not winners[0]:
            await loser.wait_closed()


async def test_pending_offers_are_capped(
    media_settings: Settings, clients: list[MediaClient]
) -> None:
    media = MediaServer(media_settings, None, max_pending_offers=2)
    try:
        offers = [await make_offer(audio_only) for _ in range(5)]
        results = await asyncio.gather(
            *(
                media.answer("space-cap", uid, sdp, "offer", on_stage=False, muted=False)
                for uid, sdp in enumerate(offers)
            ),
            return_exceptions=True,
        )
        limited = [r for r in results if isinstance(r, RateLimited)]
        answered = [r for r in results if isinstance(r, tuple)]
        assert len(answered) == 2 and len(limited) == 3
        # Once those finished, new offers are answered again.
        await tone_reaches_listener(media, "space-cap-2", clients)
    finally:
        await media.close()


class GarbageTrack(MediaStreamTrack):
    """Sends random bytes as if they were Opus packets, every 20 ms."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._n = 0

    async def recv(self) -> av.Packet[Any]:
        await asyncio.sleep(0.02)
        packet = av.Packet(os.urandom(1 + self._n % 200))
        packet.pts = self._n * 960
        packet.time_base = TIME_BASE
        self._n += 1
        return packet


def server_port(client: MediaClient) -> int:
    match = re.search(
        r"a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 (\d+) typ host", client.pc.remoteDescription.sdp
    )
    assert match, client.pc.remoteDescription.sdp
    return int(match.group(1))


async def test_garbage_media_does_not_break_the_room(
    media: MediaServer, clients: list[MediaClient]
) -> None:
    await join(media, "space-x", 1, clients, on_stage=True, track=ToneTrack(440))
    listener = await join(media, "space-x", 2, clients, on_stage=False)
    vandal = await join(media, "space-x", 3, clients, on_stage=True, track=GarbageTrack())
    await join(media, "space-y", 1, clients, on_stage=True, track=ToneTrack(660))
    other = await join(media, "space-y", 2, clients, on_stage=False)
    port = server_port(vandal)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for i in range(300):
            head = bytes([0x80, 111]) if i % 2 else b""  # half look like RTP
            sock.sendto(head + os.urandom(20 + i % 300), ("127.0.0.1", port))
            if i % 50 == 0:
                await asyncio.sleep(0.02)
    await asyncio.sleep(0.5)
    heard, heard_other = await asyncio.gather(
        listener.recorder.wait_samples(SECOND, after=listener.recorder.mark()),
        other.recorder.wait_samples(SECOND, after=other.recorder.mark()),
    )
    assert band_rms(heard, 440) > 0.03
    assert band_rms(heard_other, 660) > 0.05
    room = media.room("space-x")
    assert room is not None and room.clock.running and set(room.participants) == {1, 2, 3}


async def test_offers_that_never_connect_are_dropped(media_settings: Settings) -> None:
    media = MediaServer(media_settings, None, connect_timeout=1.0)
    try:
        offers = [await make_offer(audio_only) for _ in range(3)]  # their peers are gone
        for uid, sdp in enumerate(offers):
            await media.answer("space-ghost", uid, sdp, "offer", on_stage=uid == 0, muted=False)
        room = media.room("space-ghost")
        assert room is not None and len(room.participants) == 3
        for _ in range(100):
            if media.room("space-ghost") is None:
                break
            await asyncio.sleep(0.05)
        assert media.room("space-ghost") is None
    finally:
        await media.close()
