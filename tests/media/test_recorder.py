"""Recording a room's mix: the listeners' Opus packets, muxed into Ogg without a re-encode.

A real aiortc speaker sends a 440 Hz tone to a real MediaServer; the finished file is
decoded with PyAV and checked on the signal (FFT) and on its duration.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.media.room_helpers import join
from tests.support.ogg import decode_ogg
from townhall.bus import MemoryBus
from townhall.bus.events import RECORDING_CHANGED, SPACE_ENDED, Event
from townhall.client.media import MediaClient, ToneTrack, dominant_frequencies
from townhall.config import Settings
from townhall.media.bridge import MediaBridge
from townhall.media.recorder import recording_path
from townhall.media.server import MediaServer

SPACE = "rec-aaaaaaaa"


def near(freqs: list[float], target: float, tolerance: float = 8.0) -> bool:
    return any(abs(f - target) <= tolerance for f in freqs)


async def test_records_the_mix_as_ogg_opus(
    media: MediaServer, media_settings: Settings, clients: list[MediaClient]
) -> None:
    await join(media, SPACE, 1, clients, on_stage=True, track=ToneTrack(440))
    await join(media, SPACE, 2, clients, on_stage=False)
    await asyncio.sleep(0.5)
    clock = asyncio.get_running_loop().time
    started = clock()
    media.set_recording(SPACE, True)
    assert media.recording(SPACE)
    path = recording_path(media_settings.data_dir, SPACE)
    assert path.with_name(path.name + ".part").exists()  # not offered before it is finished
    assert not path.exists()
    await asyncio.sleep(2.0)
    await media.end_space(SPACE)
    recorded = clock() - started
    assert path.exists() and not path.with_name(path.name + ".part").exists()
    pcm, duration = decode_ogg(path)
    assert abs(duration - recorded) < 0.3, (duration, recorded)  # about 2 s
    assert abs(pcm.size / 48_000 - duration) < 0.1
    assert near(dominant_frequencies(pcm[4800:], 1), 440), dominant_frequencies(pcm, 3)


async def test_records_without_listeners(
    media: MediaServer, media_settings: Settings, clients: list[MediaClient]
) -> None:
    """A lone speaker: the mix is encoded for the recording even with no one listening."""
    await join(media, SPACE, 1, clients, on_stage=True, track=ToneTrack(440))
    started = asyncio.get_running_loop().time()
    media.set_recording(SPACE, True)
    await asyncio.sleep(1.5)
    await media.end_space(SPACE)
    recorded = asyncio.get_running_loop().time() - started
    pcm, duration = decode_ogg(recording_path(media_settings.data_dir, SPACE))
    assert abs(duration - recorded) < 0.3, (duration, recorded)
    assert near(dominant_frequencies(pcm[9600:], 1), 440), dominant_frequencies(pcm, 3)


async def test_no_recording_no_file(
    media: MediaServer, media_settings: Settings, clients: list[MediaClient]
) -> None:
    await join(media, SPACE, 1, clients, on_stage=True, track=ToneTrack(440))
    await asyncio.sleep(1.0)
    await media.end_space(SPACE)
    folder = media_settings.data_dir / "recordings"
    assert not folder.exists() or not any(folder.iterdir())


async def test_pause_skips_the_gap(
    media: MediaServer, media_settings: Settings, clients: list[MediaClient]
) -> None:
    await join(media, SPACE, 1, clients, on_stage=True, track=ToneTrack(440))
    await asyncio.sleep(0.3)
    clock = asyncio.get_running_loop().time
    started = clock()
    media.set_recording(SPACE, True)
    await asyncio.sleep(1.0)
    media.set_recording(SPACE, False)
    paused = clock()
    assert not media.recording(SPACE)
    await asyncio.sleep(1.5)  # not recorded
    resumed = clock()
    media.set_recording(SPACE, True)
    await asyncio.sleep(1.0)
    await media.end_space(SPACE)
    recorded = (paused - started) + (clock() - resumed)
    pcm, duration = decode_ogg(recording_path(media_settings.data_dir, SPACE))
    assert abs(duration - recorded) < 0.3, (duration, recorded)  # about 2 s of 3.5 s
    assert near(dominant_frequencies(pcm[4800:], 1), 440)


async def test_goes_on_after_the_room_emptied(
    media: MediaServer, media_settings: Settings, clients: list[MediaClient]
) -> None:
    """Everyone left (the room closed and finished the file), someone came back: the
    recording goes on in the same file."""
    speaker = await join(media, SPACE, 1, clients, on_stage=True, track=ToneTrack(440))
    media.set_recording(SPACE, True)
    await asyncio.sleep(1.0)
    await media.disconnect(SPACE, 1)
    await speaker.close()
    path: Path = recording_path(media_settings.data_dir, SPACE)
    assert media.room(SPACE) is None and path.exists()
    _, first = decode_ogg(path)
    await join(media, SPACE, 1, clients, on_stage=True, track=ToneTrack(440))
    media.set_recording(SPACE, True)
    await asyncio.sleep(1.0)
    await media.end_space(SPACE)
    pcm, duration = decode_ogg(path)
    assert 1.6 <= duration <= 2.4 and duration > first + 0.7, (first, duration)
    assert near(dominant_frequencies(pcm[4800:], 1), 440)


async def test_bus_events_start_pause_and_finish_the_recording(
    media_settings: Settings, clients: list[MediaClient]
) -> None:
    """`recording.changed` through the bridge starts and pauses; `space.ended` finishes."""
    bus = MemoryBus()
    media = MediaServer(media_settings, bus)
    bridge = MediaBridge(bus, media)
    try:
        await bridge.watch(SPACE)
        await join(media, SPACE, 1, clients, on_stage=True, track=ToneTrack(440))
        await bus.publish(Event(RECORDING_CHANGED, SPACE, {"on": True, "by": 1}))
        await asyncio.sleep(0.2)
        assert media.recording(SPACE)
        await asyncio.sleep(1.0)
        await bus.publish(Event(RECORDING_CHANGED, SPACE, {"on": False, "by": 1}))
        await asyncio.sleep(0.2)
        assert not media.recording(SPACE)
        await asyncio.sleep(0.8)
        await bus.publish(Event(SPACE_ENDED, SPACE, {"reason": "host_ended"}))
        path = recording_path(media_settings.data_dir, SPACE)
        for _ in range(100):
            if path.exists():
                break
            await asyncio.sleep(0.05)
        pcm, duration = decode_ogg(path)
        assert 0.9 <= duration <= 1.5, duration
        assert near(dominant_frequencies(pcm[4800:], 1), 440)
    finally:
        await bridge.close()
        await media.close()
        await bus.close()
