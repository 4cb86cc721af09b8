"""Recording end to end with the SDK: a real `townhall serve`, a real speaking client (a
440 Hz tone over WebRTC), the space ended, its recording downloaded and checked on the
signal."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.support.ogg import decode_ogg
from tests.support.server import running_server
from townhall.client.api import Townhall
from townhall.client.errors import ApiError
from townhall.client.media import ToneTrack, dominant_frequencies


async def _recorded(host: Townhall, space_id: str, timeout: float = 15.0) -> dict[str, object]:
    """The ended space's recording, once the media plane has finished the file."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        recording = (await host.space(space_id))["recording"]
        if recording is not None:
            return dict(recording)
        assert asyncio.get_running_loop().time() < deadline, "the recording never appeared"
        await asyncio.sleep(0.2)


async def test_a_speakers_voice_is_recorded_and_replayed(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with running_server(data_dir) as base:
        async with Townhall(base) as host, Townhall(base) as fan:
            await host.signup("recordhost", "correct horse")
            await fan.signup("recordfan", "correct horse")
            space = await host.create_space("Recorded", record=True)
            sid = space["id"]
            assert space["recording"] is True
            began = asyncio.get_running_loop().time()
            media = await host.connect_media(sid, track=ToneTrack(440))
            try:
                await media.wait_connected()
                await host.act(sid, "unmute")
                await asyncio.sleep(1.5)
                await host.set_recording(sid, False)  # a pause: not in the file
                await asyncio.sleep(1.0)
                await host.set_recording(sid, True)
                await asyncio.sleep(1.5)
                with pytest.raises(ApiError) as refused:
                    await fan.download_recording(sid)
                assert (refused.value.status, refused.value.code) == (409, "space_not_ended")
                await host.end(sid)
                lasted = asyncio.get_running_loop().time() - began
            finally:
                await media.close()
            recording = await _recorded(host, sid)
            assert recording["url"] == f"/api/v1/spaces/{sid}/recording"
            audio = await fan.download_recording(sid)  # anyone who may see the space
            assert len(audio) == recording["size_bytes"]
            pcm, duration = decode_ogg(audio)
            # About 3 s recorded: the 1 s pause is not in the file.
            assert 2.4 <= duration <= lasted - 0.7, (duration, lasted)
            assert abs(float(str(recording["duration_seconds"])) - duration) < 0.01
            freqs = dominant_frequencies(pcm[pcm.size // 4 :], 1)
            assert freqs and abs(freqs[0] - 440) < 8, freqs
    assert (data_dir / "recordings" / f"{sid}.ogg").exists()
