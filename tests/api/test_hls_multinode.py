"""HLS from any node: the space's mix is packaged on the node its speaker is connected to,
published through Redis, and served (with the same signed URLs) by the other node too."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.api.test_multinode import two_nodes  # noqa: F401  (the fixture)
from townhall.client.api import Townhall
from townhall.client.hls import HlsPlayer, parse_playlist
from townhall.client.media import ToneTrack, band_rms

pytestmark = [pytest.mark.redis, pytest.mark.serial]


async def _playlist_ok(http: httpx.AsyncClient, url: str, timeout: float = 15.0) -> str:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        r = await http.get(url)
        if r.status_code == 200 and r.text.count("#EXT-X-PART:") >= 4:
            return r.text
        assert asyncio.get_running_loop().time() < deadline, r.text
        await asyncio.sleep(0.2)


async def test_any_node_serves_any_spaces_hls(two_nodes: tuple[str, str]) -> None:  # noqa: F811
    base_a, base_b = (f"http://{b}" for b in two_nodes)
    async with (
        Townhall(base_a) as host,
        Townhall(base_b) as fan,
        httpx.AsyncClient(timeout=10) as http,
    ):
        await host.signup("hlshost", "correct horse")
        fan_user = await fan.signup("hlsfan", "correct horse")
        space = await host.create_space(
            "Two-node HLS", visibility="private", guest_ids=[fan_user["id"]]
        )
        sid = space["id"]
        await fan.join(sid)
        media = await host.connect_media(sid, track=ToneTrack(440))  # packaged on A
        try:
            await media.wait_connected()
            await host.act(sid, "unmute")
            url_b = await fan.hls_url(sid)  # signed by B
            assert url_b.startswith(base_b) and "token=" in url_b
            await _playlist_ok(http, url_b)
            # The same token works on A (one secret for the deployment).
            path = url_b.removeprefix(base_b)
            on_a = parse_playlist(await _playlist_ok(http, base_a + path))
            on_b = parse_playlist((await http.get(url_b)).text)
            assert on_a.map_uri == on_b.map_uri  # one stream, whichever node serves it

            player = HlsPlayer(http, url_b)
            await player.play(4.0)
            assert player.stats.errors == 0 and len(player.parts) >= 6
            heard = player.audio()
            assert band_rms(heard[-2 * 48_000 :], 440) > 0.05
            bad = base_b + path.replace("token=", "token=1")
            assert (await http.get(bad)).status_code == 403
            r = await http.get(f"{base_b}/hls/{sid}/live.m3u8")  # no token
            assert r.status_code == 403

            # Ending it on A ends the stream on B.
            await host.end(sid)
            deadline = asyncio.get_running_loop().time() + 10
            while "#EXT-X-ENDLIST" not in (await http.get(url_b)).text:
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.2)
        finally:
            await media.close()
