"""deploy/nginx/townhall.conf in front of a real townhall: 200 LL-HLS players through
real nginx get every part, and townhall sees only a few requests per part; a replay's
playlist and segments reach townhall once each."""

from __future__ import annotations

import asyncio
import collections
import itertools
from pathlib import Path

import httpx
import pytest

from tests.support.nginx import nginx_reason, running_nginx
from tests.support.server import running_server
from townhall.client.api import Townhall
from townhall.client.hls import HlsPlayer, Http1
from townhall.client.media import ToneTrack, band_rms

pytestmark = pytest.mark.serial

PLAYERS = int(__import__("os").environ.get("HLS_TEST_PLAYERS", "200"))


async def _live_playlist(http: httpx.AsyncClient, url: str, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        r = await http.get(url)
        if r.status_code == 200 and r.text.count("#EXT-X-PART:") >= 4:
            return
        assert asyncio.get_running_loop().time() < deadline, r.text
        await asyncio.sleep(0.2)


async def test_200_players_through_nginx_cost_a_few_origin_requests_per_part(
    tmp_path: Path,
) -> None:
    reason = nginx_reason()
    if reason:
        pytest.skip(reason)
    with (
        running_server(tmp_path / "data") as origin,
        running_nginx(origin, tmp_path / "nginx") as nginx,
    ):
        async with Townhall(nginx.base) as host:  # the API and WebRTC signalling via nginx
            await host.signup("cachehost", "correct horse")
            sid = (await host.create_space("Crowd", visibility="public"))["id"]
            media = await host.connect_media(sid, track=ToneTrack(440))
            try:
                await media.wait_connected()
                await host.act(sid, "unmute")
                url = f"{nginx.base}/hls/{sid}/live.m3u8"
                limits = httpx.Limits(
                    max_connections=PLAYERS * 2, max_keepalive_connections=PLAYERS * 2
                )
                async with httpx.AsyncClient(limits=limits, timeout=20) as http:
                    await _live_playlist(http, url)
                    before = len(nginx.log_lines())
                    conns = [Http1(nginx.base, timeout=20) for _ in range(PLAYERS)]
                    players = [HlsPlayer(c, url, timeout=20) for c in conns]
                    try:
                        await asyncio.gather(*(p.play(5.0) for p in players))
                    finally:
                        await asyncio.gather(*(c.close() for c in conns))
                    lines = nginx.log_lines()[before:]
            finally:
                await media.close()

    # Every player got every part from where it started, in order, without an error.
    for player in players:
        assert player.stats.errors == 0 and player.stats.missed_parts == 0
        positions = [(p.msn, p.index) for p in player.parts]
        assert len(positions) >= 6, (player.stats, player.started_at)
        for a, b in itertools.pairwise(positions):
            assert b in ((a[0], a[1] + 1), (a[0] + 1, 0)), positions
    # They heard the tone (over all they got: the bot shares this busy process's loop
    # with the 200 players, so its sound may have gaps).
    for player in (players[0], players[-1]):
        heard = player.audio()
        assert band_rms(heard, 440) > 0.03 and band_rms(heard, 1000) < 0.005

    # Origin requests: the log says which requests nginx passed to townhall.
    served = [line.split(" ", 3) for line in lines if '"/hls/' in line]
    assert len(served) >= PLAYERS * 10
    to_origin = [fields for fields in served if fields[0] != "-"]
    parts = {p for player in players for p in ((x.msn, x.index) for x in player.parts)}
    per_part = collections.Counter(
        fields[3].split("?")[0].rsplit("/", 1)[1] for fields in to_origin
    )
    assert all(status == "200" for _, _, status, _ in served), collections.Counter(
        s for _, _, s, _ in served
    )
    # Each part is fetched from townhall once; the whole crowd costs a few origin
    # requests per part (the blocking reloads, a part, the odd plain playlist).
    assert all(count == 1 for name, count in per_part.items() if name.count(".") == 2), per_part
    assert len(to_origin) / len(parts) <= 4, (len(to_origin), len(parts))


async def test_a_replays_segments_are_cut_once_and_then_served_by_nginx(tmp_path: Path) -> None:
    """VOD HLS behind the shipped config: the playlist and each segment reach townhall
    once, whatever the number of players; the rest are cache hits."""
    from tests.media.test_hls_replay import write_recording

    reason = nginx_reason()
    if reason:
        pytest.skip(reason)
    data = tmp_path / "data"
    with running_server(data) as origin, running_nginx(origin, tmp_path / "nginx") as nginx:
        async with Townhall(nginx.base) as host:
            await host.signup("replayhost", "correct horse")
            sid = (await host.create_space("Replayed", visibility="public", record=True))["id"]
            await host.end(sid)
        write_recording(data, sid, seconds=13.0)
        async with httpx.AsyncClient(base_url=nginx.base, timeout=20) as http:
            first = await http.get(f"/hls/{sid}/replay.m3u8")
            assert first.status_code == 200, first.text
            segments = [line for line in first.text.splitlines() if line.endswith(".m4s")]
            assert len(segments) == 3
            for _ in range(3):  # three players, one after the other
                r = await http.get(f"/hls/{sid}/replay.m3u8")
                assert r.status_code == 200 and r.headers["x-cache-status"] == "HIT"
                for uri in segments:
                    r = await http.get(f"/hls/{sid}/{uri}")
                    assert r.status_code == 200 and r.headers["content-type"] == "audio/mp4"
        lines = [line for line in nginx.log_lines() if "/replay" in line]
    to_origin = collections.Counter(line.split('"')[1] for line in lines if line[0] != "-")
    assert all(count == 1 for count in to_origin.values()), to_origin
    assert len(to_origin) == 1 + len(segments)  # the playlist and each segment, once
    assert len(lines) == 4 + 3 * len(segments)
