"""Bus events drive the media plane: promote, mute, remove, end — checked on the signal."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.media.room_helpers import join
from townhall.bus import MemoryBus
from townhall.bus.events import Event
from townhall.client.media import MediaClient, Samples, ToneTrack, band_rms, rms
from townhall.config import Settings
from townhall.media.bridge import MediaBridge
from townhall.media.server import MediaServer

SPACE = "space-bridge"
Wired = tuple[MemoryBus, MediaServer, MediaBridge]


@pytest.fixture
async def wired(media_settings: Settings) -> AsyncIterator[Wired]:
    bus = MemoryBus()
    media = MediaServer(media_settings, bus)
    bridge = MediaBridge(bus, media)
    try:
        yield bus, media, bridge
    finally:
        await bridge.close()
        await media.close()
        await bus.close()


async def next_second(client: MediaClient) -> Samples:
    return await client.recorder.wait_samples(48_000, after=client.recorder.mark(), timeout=10)


async def test_events_promote_mute_remove_and_end(wired: Wired, clients: list[MediaClient]) -> None:
    bus, media, bridge = wired
    await bridge.watch(SPACE)
    await join(media, SPACE, 1, clients, on_stage=True, track=ToneTrack(440))
    guest = await join(media, SPACE, 2, clients, on_stage=False, track=ToneTrack(660))
    audience = await join(media, SPACE, 3, clients, on_stage=False)
    await asyncio.sleep(0.6)
    assert band_rms(await next_second(audience), 660) < 0.003

    await bus.publish(Event("role.changed", SPACE, {"user_id": 2, "role": "speaker", "by": 1}))
    await asyncio.sleep(0.6)
    assert band_rms(await next_second(audience), 660) > 0.05

    await bus.publish(Event("mute.changed", SPACE, {"user_id": 2, "muted": True, "by": 1}))
    await bus.publish(Event("role.changed", SPACE, {"user_id": 1, "role": "listener", "by": 1}))
    await asyncio.sleep(0.5)
    assert rms(await next_second(audience)) < 0.003

    await bus.publish(Event("reaction", SPACE, {"user_id": 2, "emoji": "x"}))  # ignored
    await bus.publish(Event("member.removed", SPACE, {"user_id": "junk", "by": 1}))  # ignored
    await bus.publish(Event("member.removed", SPACE, {"user_id": 2, "by": 1}))
    await guest.wait_closed()
    room = media.room(SPACE)
    assert room is not None and set(room.participants) == {1, 3}

    await bus.publish(Event("space.ended", SPACE, {"reason": "host ended"}))
    await audience.wait_closed()
    assert media.room(SPACE) is None
    for _ in range(50):
        if not bridge.watching(SPACE):
            break
        await asyncio.sleep(0.02)
    assert not bridge.watching(SPACE)


async def test_last_member_leaving_stops_watching(wired: Wired, clients: list[MediaClient]) -> None:
    bus, media, bridge = wired
    await bridge.watch(SPACE)
    await bridge.watch(SPACE)  # idempotent
    await join(media, SPACE, 1, clients, on_stage=False)
    await bus.publish(Event("member.left", SPACE, {"user_id": 1}))
    for _ in range(100):
        if media.room(SPACE) is None and not bridge.watching(SPACE):
            break
        await asyncio.sleep(0.02)
    assert media.room(SPACE) is None and not bridge.watching(SPACE)


def test_backoff_doubles_with_jitter_and_is_bounded() -> None:
    from townhall.media.bridge import backoff_delay

    assert backoff_delay(0) == 0.0
    assert [backoff_delay(n, rand=lambda: 1.0) for n in (1, 2, 3)] == [0.25, 0.5, 1.0]
    assert backoff_delay(1, rand=lambda: 0.0) == 0.125  # jitter: between half and all
    assert backoff_delay(100, rand=lambda: 1.0) == 5.0  # bounded
    delays = {backoff_delay(4) for _ in range(20)}
    assert len(delays) > 1 and all(1.0 <= d <= 2.0 for d in delays)
