"""A live room on the signal: tones in, the right tones (or silence) out at the right clients.

Real aiortc clients over loopback against a real MediaServer; every check is on the audio
the clients decode (FFT band levels, RMS).
"""

from __future__ import annotations

import asyncio

import numpy as np

from tests.media.room_helpers import join
from townhall.client.media import (
    MediaClient,
    Recorder,
    ToneTrack,
    band_rms,
    dominant_frequencies,
    rms,
)
from townhall.media.server import MediaServer

SPACE = "room-aaaaaaa"
SECOND = 48_000
HEARD = 0.05  # band RMS (fraction of full scale) of a tone sent at 0.3
NOT_HEARD = 0.003
SILENT = 0.003


async def listen(recorder: Recorder, seconds: float = 1.0) -> np.ndarray:
    """The next `seconds` of audio a client receives."""
    return await recorder.wait_samples(int(seconds * SECOND), after=recorder.mark(), timeout=10)


async def hear_all(clients: list[MediaClient], seconds: float = 1.0) -> list[np.ndarray]:
    return list(await asyncio.gather(*(listen(c.recorder, seconds) for c in clients)))


async def settle(seconds: float = 0.6) -> None:
    """Let audio flow long enough to fill jitter buffers on both ends."""
    await asyncio.sleep(seconds)


def near(freqs: list[float], target: float, tolerance: float = 8.0) -> bool:
    return any(abs(f - target) <= tolerance for f in freqs)


async def test_speaker_tone_reaches_every_listener(
    media: MediaServer, clients: list[MediaClient]
) -> None:
    speaker = await join(media, SPACE, 1, clients, on_stage=True, track=ToneTrack(440))
    listeners = [await join(media, SPACE, 10 + i, clients, on_stage=False) for i in range(3)]
    await settle()
    for pcm in await hear_all(listeners):
        assert near(dominant_frequencies(pcm, 1), 440), dominant_frequencies(pcm, 3)
        assert band_rms(pcm, 440) > HEARD
    # A lone speaker hears mix-minus-self: nothing at all.
    assert rms(await listen(speaker.recorder)) < SILENT


async def test_two_speakers_mix_minus(media: MediaServer, clients: list[MediaClient]) -> None:
    a = await join(media, SPACE, 1, clients, on_stage=True, track=ToneTrack(440))
    b = await join(media, SPACE, 2, clients, on_stage=True, track=ToneTrack(660))
    listener = await join(media, SPACE, 3, clients, on_stage=False)
    await settle()
    heard_l, heard_a, heard_b = await hear_all([listener, a, b])
    assert band_rms(heard_l, 440) > HEARD and band_rms(heard_l, 660) > HEARD
    assert sorted(round(f / 10) for f in dominant_frequencies(heard_l, 2)) == [44, 66]
    # Each speaker hears only the other one.
    assert band_rms(heard_a, 660) > HEARD and band_rms(heard_a, 440) < NOT_HEARD
    assert band_rms(heard_b, 440) > HEARD and band_rms(heard_b, 660) < NOT_HEARD


async def test_muted_and_demoted_speakers_go_silent(
    media: MediaServer, clients: list[MediaClient]
) -> None:
    await join(media, SPACE, 1, clients, on_stage=True, track=ToneTrack(440))
    await join(media, SPACE, 2, clients, on_stage=True, track=ToneTrack(660))
    listeners = [await join(media, SPACE, 10 + i, clients, on_stage=False) for i in range(2)]
    await settle()
    for pcm in await hear_all(listeners, 0.5):
        assert band_rms(pcm, 440) > HEARD and band_rms(pcm, 660) > HEARD
    room = media.room(SPACE)
    assert room is not None

    media.set_muted(SPACE, 1, True)
    media.set_on_stage(SPACE, 2, False)
    # The server's mix drops both within 100 ms (their clients keep sending).
    await asyncio.sleep(0.1)
    assert rms(room.last_mix.full) == 0.0
    await settle(1.0)  # what was already in flight drains (longer when the machine is busy)
    for pcm in await hear_all(listeners):
        assert rms(pcm) < SILENT, (rms(pcm), dominant_frequencies(pcm, 2))

    media.set_muted(SPACE, 1, False)
    await settle()
    for pcm in await hear_all(listeners, 0.5):
        assert band_rms(pcm, 440) > HEARD and band_rms(pcm, 660) < NOT_HEARD


async def test_listener_sending_audio_is_never_heard(
    media: MediaServer, clients: list[MediaClient]
) -> None:
    speaker = await join(media, SPACE, 1, clients, on_stage=True, track=ToneTrack(440))
    await join(media, SPACE, 2, clients, on_stage=False, track=ToneTrack(1000))
    other = await join(media, SPACE, 3, clients, on_stage=False)
    await settle()
    heard_other, heard_speaker = await hear_all([other, speaker], 1.5)
    assert band_rms(heard_other, 440) > HEARD
    assert band_rms(heard_other, 1000) < NOT_HEARD
    assert band_rms(heard_speaker, 1000) < NOT_HEARD


async def test_promotion_uses_the_same_connection(
    media: MediaServer, clients: list[MediaClient]
) -> None:
    await join(media, SPACE, 1, clients, on_stage=True, track=ToneTrack(440))
    guest = await join(media, SPACE, 2, clients, on_stage=False)
    audience = await join(media, SPACE, 3, clients, on_stage=False)
    guest.send(ToneTrack(660))  # sending before being invited up: not heard
    await settle()
    assert band_rms(await listen(audience.recorder), 660) < NOT_HEARD

    pc_before = guest.pc
    media.set_on_stage(SPACE, 2, True)
    await settle()
    heard_audience, heard_guest = await hear_all([audience, guest])
    assert band_rms(heard_audience, 660) > HEARD and band_rms(heard_audience, 440) > HEARD
    # The promoted guest now gets mix-minus-self on the same, still connected, connection.
    assert guest.pc is pc_before and guest.pc.connectionState == "connected"
    assert band_rms(heard_guest, 440) > HEARD and band_rms(heard_guest, 660) < NOT_HEARD


async def test_removed_member_connection_is_closed(
    media: MediaServer, clients: list[MediaClient]
) -> None:
    await join(media, SPACE, 1, clients, on_stage=True, track=ToneTrack(440))
    removed = await join(media, SPACE, 2, clients, on_stage=True, track=ToneTrack(660))
    listener = await join(media, SPACE, 3, clients, on_stage=False)
    await settle()
    await media.disconnect(SPACE, 2)
    room = media.room(SPACE)
    assert room is not None and 2 not in room.participants
    await removed.wait_closed(timeout=10)
    await settle(0.3)
    pcm = await listen(listener.recorder)
    assert band_rms(pcm, 440) > HEARD and band_rms(pcm, 660) < NOT_HEARD


async def test_end_space_closes_everyone_and_stops_the_clock(
    media: MediaServer, clients: list[MediaClient]
) -> None:
    members = [await join(media, SPACE, 1, clients, on_stage=True, track=ToneTrack(440))]
    members += [await join(media, SPACE, 2 + i, clients, on_stage=False) for i in range(2)]
    room = media.room(SPACE)
    assert room is not None and room.clock.running
    await media.end_space(SPACE)
    assert media.room(SPACE) is None and not room.clock.running
    assert all(p.pc.connectionState == "closed" for p in room.participants.values())
    await asyncio.gather(*(m.wait_closed(timeout=10) for m in members))
