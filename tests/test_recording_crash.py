"""A crash loses at most a few seconds of a recording: a real `townhall serve` records two
spaces with a speaker playing 440 Hz, is killed with SIGKILL, and is started again on the
same data directory. One host never comes back (the space ends by the host-grace rule);
the other reconnects and speaks on. Both recordings are listed, playable (PyAV), 440 Hz,
and as long as what was spoken (before the kill, plus after it for the one that went on).
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

from tests.support.ogg import decode_ogg
from tests.support.server import free_port, server_process
from townhall.client.api import Townhall
from townhall.client.media import MediaClient, ToneTrack, band_rms, dominant_frequencies, rms

LOST_AT_MOST = 2.5  # seconds a crash may cost (pages are on disk within about a second)
START_TIMEOUT = 90.0  # a loaded machine imports slowly
GRACE = "8"  # host grace after the restart: the host who does not come back is gone by then


async def _recorded(viewer: Townhall, space_id: str, timeout: float = 40.0) -> dict[str, Any]:
    """The ended space's recording, once it is listed."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        space = await viewer.space(space_id)
        if space["state"] == "ended" and space["recording"] is not None:
            return dict(space["recording"])
        assert asyncio.get_running_loop().time() < deadline, space
        await asyncio.sleep(0.3)


async def _speak(host: Townhall, sid: str) -> tuple[MediaClient, float]:
    """Connect the host's 440 Hz tone; returns the connection and when the offer was sent
    (the recording starts after that)."""
    began = time.monotonic()
    media = await host.connect_media(sid, track=ToneTrack(440))
    await media.wait_connected()
    return media, began


async def _listen(fan: Townhall, sid: str) -> MediaClient:
    media = await fan.connect_media(sid)
    await media.wait_connected()
    return media


def _is_440(pcm: Any) -> bool:
    """Mostly a 440 Hz tone (by energy: robust to the odd tick a loaded server skips)."""
    return bool(rms(pcm) > 0.01 and band_rms(pcm, 440) > 0.5 * rms(pcm))


async def test_a_recording_survives_kill_9(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    port = free_port()
    env = {"TOWNHALL_HOST_GRACE_SECONDS": GRACE}
    # What the recording must hold is measured at a listener of each space: it receives
    # the very packets the recorder writes (a loaded machine may skip ticks, which are in
    # neither); the wall time since the offer bounds it from above.
    with server_process(data_dir, env, timeout=START_TIMEOUT, port=port) as (base, proc):
        async with (
            Townhall(base) as gone,
            Townhall(base) as back,
            Townhall(base) as fan,
            Townhall(base) as fan2,
        ):
            await gone.signup("crashgone", "correct horse")
            await back.signup("crashback", "correct horse")
            await fan.signup("crashfan", "correct horse")
            await fan2.signup("crashfan2", "correct horse")
            left = (await gone.create_space("Host never returns", record=True))["id"]
            stays = (await back.create_space("Goes on after", record=True))["id"]
            media_gone, began_gone = await _speak(gone, left)
            media_back, began_back = await _speak(back, stays)
            await fan.join(left)
            await fan2.join(stays)
            ear_gone, ear_back = await _listen(fan, left), await _listen(fan2, stays)
            await gone.act(left, "unmute")
            await back.act(stays, "unmute")
            await asyncio.sleep(4.0)
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            killed = time.monotonic()
            heard_gone = ear_gone.recorder.sample_count / 48_000
            heard_back = ear_back.recorder.sample_count / 48_000
            for media in (media_gone, media_back, ear_gone, ear_back):
                await media.close()
    parts = sorted(p.name for p in (data_dir / "recordings").iterdir())
    assert parts == sorted([f"{left}.ogg.part", f"{stays}.ogg.part"]), parts
    assert all((data_dir / "recordings" / p).stat().st_size > 0 for p in parts)

    with server_process(data_dir, env, timeout=START_TIMEOUT, port=port) as (base, _):
        async with Townhall(base) as back, Townhall(base) as fan, Townhall(base) as fan2:
            await back.login("crashback", "correct horse")
            await fan.login("crashfan", "correct horse")
            await fan2.login("crashfan2", "correct horse")
            # The host of the second space comes back and speaks on, then ends it.
            media_back, again = await _speak(back, stays)
            ear_back = await _listen(fan2, stays)
            try:
                await asyncio.sleep(2.0)
                heard_after = ear_back.recorder.sample_count / 48_000
                await back.end(stays)
                most_after = time.monotonic() - again
            finally:
                await media_back.close()
                await ear_back.close()

            first = await _recorded(fan, left)  # ended by the host-grace rule
            second = await _recorded(fan, stays)
            pcm, duration = decode_ogg(await fan.download_recording(left))
            most = killed - began_gone
            assert heard_gone - LOST_AT_MOST <= duration <= most + 0.3, (
                duration,
                heard_gone,
                most,
            )
            assert abs(float(first["duration_seconds"]) - duration) < 0.05
            assert _is_440(pcm[pcm.size // 4 :]), dominant_frequencies(pcm, 3)
            print(f"host gone: heard {heard_gone:.2f} s before the kill, kept {duration:.2f} s")

            pcm, duration = decode_ogg(await fan.download_recording(stays))
            least, most = heard_back + heard_after, killed - began_back + most_after
            assert least - LOST_AT_MOST <= duration <= most + 0.3, (duration, least, most)
            assert abs(float(second["duration_seconds"]) - duration) < 0.05
            print(f"went on: heard {heard_back:.2f} + {heard_after:.2f} s, kept {duration:.2f} s")
            # 440 Hz in what was recorded before the kill and in what came after it.
            cut = int(max(1.0, heard_back - LOST_AT_MOST) * 48_000)
            assert _is_440(pcm[:cut]), dominant_frequencies(pcm[:cut], 3)
            assert _is_440(pcm[-int(1.5 * 48_000) :]), dominant_frequencies(pcm[-48_000:], 3)
    assert sorted(p.name for p in (data_dir / "recordings").iterdir()) == sorted(
        [f"{left}.ogg", f"{stays}.ogg"]
    )
