"""deploy/nginx/townhall.conf in front of a real townhall: 200 LL-HLS players through
real nginx get every part, and townhall sees only a few requests per part; 1,500 blocking
reloads for one future part reach townhall once; a replay's playlist and segments reach
townhall once each."""

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
from townhall.client.hls import HlsPlayer, Http1, parse_playlist
from townhall.client.media import ToneTrack, band_rms
from townhall.media.hls.playlist import PARTS_PER_SEGMENT

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


# More than nginx counts in a cache node's 10-bit `uses` field: the 1,024th request for a
# key not cached yet wrapped it to 0, fell below proxy_cache_min_uses 1, and went to
# townhall past the cache lock, uncached (unless the config sets proxy_cache_min_uses 0).
CROWD = 1500


async def _reply(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> tuple[int, float, str]:
    """(status, when it came, body) of the one request sent on a `Connection: close`."""
    data = await reader.read()
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), asyncio.get_running_loop().time(), body.decode()


async def test_1500_blocking_reloads_of_one_future_part_reach_townhall_once(
    tmp_path: Path,
) -> None:
    reason = nginx_reason()
    if reason:
        pytest.skip(reason)
    with (
        running_server(tmp_path / "data") as origin,
        running_nginx(origin, tmp_path / "nginx") as nginx,
    ):
        async with Townhall(nginx.base) as host:
            await host.signup("lockhost", "correct horse")
            sid = (await host.create_space("Blocked", visibility="public"))["id"]
            media = await host.connect_media(sid, track=ToneTrack(440))
            try:
                await media.wait_connected()
                async with httpx.AsyncClient(timeout=20) as http:
                    url = f"{origin}/hls/{sid}/live.m3u8"
                    await _live_playlist(http, url)
                    port = int(nginx.base.rsplit(":", 1)[1])
                    conns = await asyncio.gather(
                        *(asyncio.open_connection("127.0.0.1", port) for _ in range(CROWD))
                    )
                    msn, index = parse_playlist((await http.get(url)).text).next_position()
                # Five parts past the next one: 2.5 to 3 s ahead, within the 6 s block.
                msn, part = divmod(msn * PARTS_PER_SEGMENT + index + 5, PARTS_PER_SEGMENT)
                path = f"/hls/{sid}/live.m3u8?_HLS_msn={msn}&_HLS_part={part}"
                request = f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                for _, writer in conns:
                    writer.write(request.encode())
                sent = asyncio.get_running_loop().time()
                replies = await asyncio.gather(*(_reply(r, w) for r, w in conns))
            finally:
                await media.close()
        lines = [line for line in nginx.log_lines() if f'"{path}"' in line]

    assert [status for status, _, _ in replies] == [200] * CROWD
    # They were all held together: the first answer came well after the last request.
    assert min(at for _, at, _ in replies) > sent + 0.5, min(a for _, a, _ in replies) - sent
    assert all(f"{msn}.{part}.m4s" in body for _, _, body in replies)
    assert len(lines) == CROWD
    to_origin = [line for line in lines if not line.startswith("-")]
    assert len(to_origin) == 1, to_origin


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
