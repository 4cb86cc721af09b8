"""The fallback output path (aiortc's own sender fed pre-encoded packets) carries the mix too."""

from __future__ import annotations

import asyncio

from tests.media.room_helpers import join
from townhall.client.media import MediaClient, ToneTrack, band_rms
from townhall.config import Settings
from townhall.media.server import MediaServer


async def test_stock_output_mixes_and_promotes(
    media_settings: Settings, clients: list[MediaClient]
) -> None:
    media = MediaServer(media_settings, None, output="stock")
    try:
        assert media.output_mode == "stock"
        await join(media, "space-st", 1, clients, on_stage=True, track=ToneTrack(440))
        guest = await join(media, "space-st", 2, clients, on_stage=False, track=ToneTrack(660))
        audience = await join(media, "space-st", 3, clients, on_stage=False)
        await asyncio.sleep(0.6)
        pcm = await audience.recorder.wait_samples(48_000, after=audience.recorder.mark())
        assert band_rms(pcm, 440) > 0.05 and band_rms(pcm, 660) < 0.003
        media.set_on_stage("space-st", 2, True)
        await asyncio.sleep(0.6)
        heard, heard_guest = await asyncio.gather(
            audience.recorder.wait_samples(48_000, after=audience.recorder.mark()),
            guest.recorder.wait_samples(48_000, after=guest.recorder.mark()),
        )
        assert band_rms(heard, 440) > 0.05 and band_rms(heard, 660) > 0.05
        assert band_rms(heard_guest, 440) > 0.05 and band_rms(heard_guest, 660) < 0.003
    finally:
        await media.close()
