"""LL-HLS over the HTTP API: a bot speaks 440 Hz over WebRTC and an LL-HLS player hears
it; caching headers, blocking reloads, private-space tokens and bad input."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import httpx
import pytest

from tests.conftest import MakeUser, TestUser
from tests.media.test_hls_packager import check_ll_hls
from townhall.api.hls_tokens import BUCKET_SECONDS, HlsTokens
from townhall.client.hls import HlsPlayer, parse_playlist
from townhall.client.media import (
    MediaClient,
    SignalingError,
    ToneTrack,
    band_rms,
    connect,
    http_answer,
)
from townhall.media.hls.window import PartRecord


@pytest.fixture
def backend() -> str:
    """Media does not depend on the database backend: SQLite only."""
    return "sqlite"


async def start_space(
    http: httpx.AsyncClient, host: TestUser, visibility: str = "public", **more: Any
) -> str:
    r = await http.post(
        "/api/v1/spaces",
        json={"title": "Tones", "visibility": visibility, **more},
        headers=host.headers,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def speak(
    http: httpx.AsyncClient, space_id: str, host: TestUser, clients: list[MediaClient]
) -> MediaClient:
    r = await http.post(f"/api/v1/spaces/{space_id}/unmute", headers=host.headers)
    assert r.status_code == 200, r.text
    speaker = await connect(http_answer(http, space_id, host.headers), track=ToneTrack(440))
    clients.append(speaker)
    await speaker.wait_connected()
    return speaker


async def wait_for_parts(app: Any, space_id: str, parts: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        window = app.state.hls.hub.local(space_id)
        if window is not None and window.parts_held >= parts:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {parts} HLS parts for {space_id} in {timeout} s")


def error_code(r: httpx.Response) -> str:
    return str(r.json()["error"]["code"])


async def test_a_listener_over_hls_hears_the_speakers_440_hz(
    app: Any, client: httpx.AsyncClient, make_user: MakeUser, clients: list[MediaClient]
) -> None:
    host = await make_user("hosthls")
    space_id = await start_space(client, host)
    await speak(client, space_id, host, clients)
    await wait_for_parts(app, space_id, 6)

    url = f"http://testserver/hls/{space_id}/live.m3u8"
    r = await client.get(url)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert r.headers["cache-control"] == "public, max-age=1"
    assert r.headers["access-control-allow-origin"] == "*"
    check_ll_hls(r.text, live=True)
    assert "token=" not in r.text  # a public space's URLs carry none

    player = HlsPlayer(client, url)
    await player.play(4.0)
    assert player.stats.errors == 0 and player.stats.missed_parts == 0
    assert len(player.parts) >= 6
    positions = [(p.msn, p.index) for p in player.parts]
    assert positions == sorted(set(positions))  # every part once, in order, no hole
    for a, b in itertools.pairwise(positions):
        assert b == (a[0], a[1] + 1) or b == (a[0] + 1, 0)
    heard = player.audio()
    assert heard.size > 2.5 * 48_000
    # The tone, and nothing else (on a loaded machine the speaker's sound may have gaps).
    assert band_rms(heard, 440) > 0.03
    assert band_rms(heard, 1000) < 0.005 and band_rms(heard, 880) < 0.005

    # Media: the content type, immutable caching, CORS.
    playlist = parse_playlist((await client.get(url)).text)
    assert playlist.map_uri is not None
    init = await client.get(httpx.URL(url).join(playlist.map_uri))
    part = await client.get(httpx.URL(url).join(playlist.parts[-1].uri))
    segment = await client.get(httpx.URL(url).join(playlist.segments[-1].uri))
    for media in (init, part, segment):
        assert media.status_code == 200
        assert media.headers["content-type"] == "audio/mp4"
        assert media.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert media.headers["access-control-allow-origin"] == "*"
    assert init.content[4:8] == b"ftyp" and part.content[4:8] == b"moof"

    # The end of the space ends the stream: ENDLIST, no preload hint.
    assert (await client.post(f"/api/v1/spaces/{space_id}/end", headers=host.headers)).is_success
    deadline = time.monotonic() + 10
    while "#EXT-X-ENDLIST" not in (ended := await client.get(url)).text:
        assert time.monotonic() < deadline, ended.text
        await asyncio.sleep(0.1)
    assert ended.status_code == 200
    check_ll_hls(ended.text, live=False)


async def test_a_blocking_reload_returns_once_the_part_exists(
    app: Any, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    host = await make_user("hostblock")
    space_id = await start_space(client, host)
    hub = app.state.hls.hub
    hub.start_stream(space_id, "abc123", b"\x00\x00\x00\x08ftyp")  # this node's hub

    def publish(msn: int, index: int) -> None:
        hub.publish_part(space_id, PartRecord("abc123", msn, index, 0.49, time.time(), b"x"))

    publish(0, 0)
    url = f"/hls/{space_id}/live.m3u8"
    # The next part, not there yet: the request is held...
    pending = asyncio.create_task(client.get(url, params={"_HLS_msn": 0, "_HLS_part": 1}))
    hinted = asyncio.create_task(client.get(f"/hls/{space_id}/abc123/0.1.m4s"))
    await asyncio.sleep(0.3)
    assert not pending.done() and not hinted.done()
    # ... and answered as soon as the part exists, with it listed.
    publish(0, 1)
    r = await asyncio.wait_for(pending, 2.0)
    assert r.status_code == 200
    assert r.headers["cache-control"] == "public, max-age=6"  # keyed by its query
    assert '"abc123/0.1.m4s"' in r.text
    part = await asyncio.wait_for(hinted, 2.0)
    assert part.status_code == 200 and part.content == b"x"
    # A whole segment (_HLS_msn without _HLS_part) waits for its last part.
    pending = asyncio.create_task(client.get(url, params={"_HLS_msn": 0}))
    publish(0, 2)
    await asyncio.sleep(0.2)
    assert not pending.done()
    publish(0, 3)
    r = await asyncio.wait_for(pending, 2.0)
    assert "#EXTINF" in r.text and '"abc123/1.0.m4s"' in r.text  # hint: the next segment
    # Already there: answered at once.
    r = await asyncio.wait_for(client.get(url, params={"_HLS_msn": 0, "_HLS_part": 0}), 2.0)
    assert r.status_code == 200

    # Bounded: nothing comes, the request ends after the blocking limit (503, retry).
    from townhall.api.services import hls as hls_service

    limit = hls_service.BLOCK_SECONDS
    hls_service.BLOCK_SECONDS = 0.3
    try:
        r = await asyncio.wait_for(client.get(url, params={"_HLS_msn": 1, "_HLS_part": 1}), 5)
        assert r.status_code == 503 and error_code(r) == "hls_not_ready"
        assert r.headers["retry-after"] == "1"
    finally:
        hls_service.BLOCK_SECONDS = limit
    # The stream ends while a request waits: it gets the ended playlist at once.
    pending = asyncio.create_task(client.get(url, params={"_HLS_msn": 1, "_HLS_part": 2}))
    await asyncio.sleep(0.2)
    hub.end_stream(space_id, "abc123")
    r = await asyncio.wait_for(pending, 2.0)
    assert r.status_code == 200 and "#EXT-X-ENDLIST" in r.text


async def test_bad_hls_requests_get_clear_4xx(
    app: Any, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    host = await make_user("hostbad")
    space_id = await start_space(client, host)
    url = f"/hls/{space_id}/live.m3u8"
    # Live, but no audio yet.
    r = await client.get(url)
    assert r.status_code == 404 and error_code(r) == "hls_not_started"
    hub = app.state.hls.hub
    hub.start_stream(space_id, "beef", b"\x00\x00\x00\x08ftyp")
    for n in range(100):  # 49 s of parts: the first ones have left the window
        msn, index = divmod(n, 4)
        hub.publish_part(space_id, PartRecord("beef", msn, index, 0.49, time.time(), b"p"))
    assert (await client.get(url)).status_code == 200
    cases = [
        ("/hls/nosuchspace/live.m3u8", {}, 404, "space_not_found"),
        (url, {"_HLS_msn": "abc"}, 400, "bad_hls_query"),
        (url, {"_HLS_msn": "-1"}, 400, "bad_hls_query"),
        (url, {"_HLS_msn": "1.5"}, 400, "bad_hls_query"),
        (url, {"_HLS_msn": "99999999999999"}, 400, "bad_hls_query"),
        (url, {"_HLS_part": "1"}, 400, "bad_hls_query"),
        (url, {"_HLS_msn": "3", "_HLS_part": "x"}, 400, "bad_hls_query"),
        (url, {"_HLS_msn": "3", "_HLS_part": "4"}, 400, "bad_hls_query"),
        (url, {"_HLS_msn": "28"}, 400, "hls_msn_too_far"),
        (f"/hls/{space_id}/beef/0.0.m4s", {}, 404, "hls_expired"),
        (f"/hls/{space_id}/beef/1.m4s", {}, 404, "hls_expired"),
        (f"/hls/{space_id}/beef/40.0.m4s", {}, 404, "hls_not_produced"),
        (f"/hls/{space_id}/beef/24.9.m4s", {}, 404, "no_such_media"),
        (f"/hls/{space_id}/beef/x.m4s", {}, 404, "no_such_media"),
        (f"/hls/{space_id}/beef/24.0.mp4", {}, 404, "no_such_media"),
        (f"/hls/{space_id}/cafe/24.0.m4s", {}, 404, "hls_stream_gone"),
        (f"/hls/{space_id}/cafe/init.mp4", {}, 404, "hls_stream_gone"),
        (f"/hls/{space_id}/NOTHEX/init.mp4", {}, 422, "invalid"),
    ]
    for path, params, status, code in cases:
        r = await asyncio.wait_for(client.get(path, params=params), 3.0)
        assert (r.status_code, error_code(r)) == (status, code), (path, params, r.text)
    assert (await client.get(f"/hls/{space_id}/beef/24.0.m4s")).content == b"p"

    # An ended space whose stream is gone, and a space that never had audio: 404.
    other = await start_space(client, host)
    assert (await client.post(f"/api/v1/spaces/{other}/end", headers=host.headers)).is_success
    r = await client.get(f"/hls/{other}/live.m3u8")
    assert r.status_code == 404 and error_code(r) == "space_not_live"
    r = await client.get(f"/api/v1/spaces/{other}/hls", headers=host.headers)
    assert r.status_code == 404 and error_code(r) == "space_not_live"


async def test_private_spaces_need_a_signed_token_of_that_space(
    app: Any, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    host, guest, stranger = (
        await make_user("hostpriv"),
        await make_user("guestpriv"),
        await make_user("strangerpriv"),
    )
    space_id = await start_space(client, host, "private", guest_ids=[guest.id])
    other_id = await start_space(client, host, "private")
    public_id = await start_space(client, host, "public")
    hub = app.state.hls.hub
    for sid in (space_id, other_id, public_id):
        hub.start_stream(sid, "f00d", b"\x00\x00\x00\x08ftyp")
        for n in range(6):
            hub.publish_part(sid, PartRecord("f00d", n // 4, n % 4, 0.49, time.time(), b"p"))

    # Who gets the URL: a member of the private space (signed); a public one's is plain.
    r = await client.get(f"/api/v1/spaces/{space_id}/hls", headers=guest.headers)
    assert r.status_code == 403 and error_code(r) == "not_in_space"  # invited, not joined
    assert (await client.post(f"/api/v1/spaces/{space_id}/join", headers=guest.headers)).is_success
    r = await client.get(f"/api/v1/spaces/{space_id}/hls", headers=guest.headers)
    assert r.status_code == 200, r.text
    signed = r.json()
    assert "?token=" in signed["path"] and signed["url"].endswith(signed["path"])
    assert signed["expires_at"] > time.time() + 2 * BUCKET_SECONDS - 1
    r = await client.get(f"/api/v1/spaces/{space_id}/hls", headers=stranger.headers)
    assert r.status_code == 404  # may not even see it
    assert (await client.get(f"/api/v1/spaces/{space_id}/hls")).status_code == 401
    r = await client.get(f"/api/v1/spaces/{public_id}/hls", headers=stranger.headers)
    assert r.status_code == 200 and r.json()["path"] == f"/hls/{public_id}/live.m3u8"
    assert r.json()["expires_at"] is None

    # With its token, the playlist and every media URI in it work; the URIs carry it.
    r = await client.get(signed["path"])
    assert r.status_code == 200, r.text
    token = signed["path"].split("token=")[1]
    playlist = parse_playlist(r.text)
    uris = [playlist.map_uri or ""] + [p.uri for p in playlist.parts]
    assert all(uri.endswith(f"?token={token}") for uri in uris)
    for uri in uris:
        assert (
            await client.get(httpx.URL(f"http://testserver{signed['path']}").join(uri))
        ).is_success

    # Without it, forged, expired, or of another space: 403, for the playlist and media.
    tokens = HlsTokens("t" * 32)
    stale, _ = tokens.issue(space_id, now=time.time() - 4 * BUCKET_SECONDS)
    theirs, _ = tokens.issue(other_id)
    expires = token.split(".")[0]
    cases = [
        (None, "hls_token_required"),
        ("", "hls_token_required"),
        ("garbage", "hls_token_invalid"),
        (f"{expires}.AAAAAAAAAAAAAAAAAAAAAAAA", "hls_token_invalid"),
        (f"{int(expires) + 300}.{token.split('.')[1]}", "hls_token_invalid"),
        (stale, "hls_token_expired"),
        (theirs, "hls_token_invalid"),
        (HlsTokens("z" * 32).issue(space_id)[0], "hls_token_invalid"),  # another instance's
    ]
    for bad, code in cases:
        params = {} if bad is None else {"token": bad}
        for path in (
            f"/hls/{space_id}/live.m3u8",
            f"/hls/{space_id}/f00d/init.mp4",
            f"/hls/{space_id}/f00d/1.0.m4s",
        ):
            r = await client.get(path, params=params)
            assert (r.status_code, error_code(r)) == (403, code), (bad, path, r.text)
    # A public space needs none (and ignores one).
    assert (await client.get(f"/hls/{public_id}/live.m3u8")).status_code == 200


async def test_full_webrtc_seats_send_listeners_to_hls(
    app: Any, client: httpx.AsyncClient, make_user: MakeUser, clients: list[MediaClient]
) -> None:
    host, fan = await make_user("hostfull"), await make_user("fanfull")
    space_id = await start_space(client, host)
    await speak(client, space_id, host, clients)
    assert (await client.post(f"/api/v1/spaces/{space_id}/join", headers=fan.headers)).is_success
    app.state.settings.webrtc_listener_limit = 0
    with pytest.raises(SignalingError) as refused:
        await connect(http_answer(client, space_id, fan.headers))
    assert refused.value.status == 409 and refused.value.code == "webrtc_full"
    r = await client.post(
        f"/api/v1/spaces/{space_id}/media",
        json={"sdp": "v=0\r\n", "type": "offer"},
        headers=fan.headers,
    )
    body = r.json()["error"]
    assert r.status_code == 409 and body["hls_path"] == f"/hls/{space_id}/live.m3u8"
    assert body["hls_url"].endswith(body["hls_path"])
    # The stage is never refused: the host reconnects fine with the limit at 0.
    again = await connect(http_answer(client, space_id, host.headers), track=ToneTrack(440))
    clients.append(again)
    await again.wait_connected()
    # One seat: the first listener gets it, the second is sent to HLS.
    app.state.settings.webrtc_listener_limit = 1
    second = await make_user("fansecond")
    assert (await client.post(f"/api/v1/spaces/{space_id}/join", headers=second.headers)).is_success
    first = await connect(http_answer(client, space_id, fan.headers))
    clients.append(first)
    with pytest.raises(SignalingError) as refused:
        await connect(http_answer(client, space_id, second.headers))
    assert refused.value.code == "webrtc_full"
    # The seated listener may reconnect (its own seat does not count against it).
    clients.append(await connect(http_answer(client, space_id, fan.headers)))
    assert app.state.media.webrtc_listeners(space_id) == 1
