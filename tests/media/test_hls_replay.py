"""Replays as VOD HLS over the HTTP API: a valid VOD playlist, a segment from the middle
decoded on its own (a seek) plays the expected tone at the expected time, segments
join without a gap, the recording's access rules (signed replay tokens), bad input."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest

from tests.api.test_spaces_support import Spaces, error
from townhall.api.hls_tokens import HlsTokens
from townhall.client.hls import decode, parse_playlist
from townhall.client.media import band_rms
from townhall.media.audio import FRAME_SAMPLES, SAMPLE_RATE, OpusEncoder
from townhall.media.hls import vod
from townhall.media.recorder import Recorder, recording_path

BURST_AT = 14.0  # seconds: inside segment 2 (12.03 s to 18.05 s)
SECONDS = 30.0


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
def sp(client: httpx.AsyncClient) -> Spaces:
    return Spaces(client)


def write_recording(data_dir: Path, space_id: str, seconds: float = SECONDS) -> Path:
    """A finished recording (the media plane's own Recorder and Opus encoder): 440 Hz,
    with 1000 Hz instead from BURST_AT for half a second."""
    encoder = OpusEncoder()
    recorder = Recorder(recording_path(data_dir, space_id))
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    freq = np.where((t >= BURST_AT) & (t < BURST_AT + 0.5), 1000.0, 440.0)
    pcm = (np.sin(2 * np.pi * freq * t) * 9000).astype(np.int16)
    for start in range(0, pcm.size - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        recorder.write(encoder.encode(pcm[start : start + FRAME_SAMPLES]))
    recorder.close()
    return recorder.path


async def ended_with_recording(sp: Spaces, settings: Any, host: Any, **more: Any) -> str:
    sid = str((await sp.create(host, record=True, **more))["id"])
    await sp.ok(host, sid, "end")
    write_recording(settings.data_dir, sid)
    return sid


def decode_timed(init: bytes, media: bytes) -> tuple[float, np.ndarray]:
    """(start time in seconds by the segment's own decode times, samples)."""
    with av.open(io.BytesIO(init + media), "r") as container:
        frames = list(container.decode(audio=0))
    first = frames[0]
    assert first.pts is not None and first.time_base is not None
    start = float(first.pts * first.time_base)
    pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in frames])
    return start, (np.clip(pcm, -1, 1) * 32767).astype(np.int16)


async def test_a_replay_is_valid_vod_and_a_middle_segment_plays_the_tone_on_time(
    client: httpx.AsyncClient, settings: Any, sp: Spaces, make_user: Any
) -> None:
    host, fan = await make_user("host"), await make_user("fan")
    sid = await ended_with_recording(sp, settings, host)
    r = await client.get(f"/api/v1/spaces/{sid}/replay/hls", headers=fan.headers)
    assert r.status_code == 200, r.text
    assert r.json()["path"] == f"/hls/{sid}/replay.m3u8"  # public: no token, one cached copy

    r = await client.get(f"/hls/{sid}/replay.m3u8")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert r.headers["access-control-allow-origin"] == "*"
    text = r.text
    playlist = parse_playlist(text)
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in text.splitlines() and playlist.ended
    assert text.rstrip().endswith("#EXT-X-ENDLIST")
    assert playlist.preload_hint is None and not playlist.parts
    assert "#EXT-X-SERVER-CONTROL" not in playlist.tags
    assert playlist.target_duration == 6 and playlist.map_uri
    assert [s.msn for s in playlist.segments] == list(range(len(playlist.segments)))
    assert all(round(s.duration) <= playlist.target_duration for s in playlist.segments)
    assert sum(s.duration for s in playlist.segments) == pytest.approx(SECONDS, abs=0.03)

    init = await client.get(f"/hls/{sid}/{playlist.map_uri}")
    assert init.status_code == 200 and init.headers["content-type"] == "audio/mp4"
    assert "immutable" in init.headers["cache-control"]

    # A seek to 14 s: the player fetches segment 2 only and decodes it on its own.
    middle = playlist.segments[2]
    r = await client.get(f"/hls/{sid}/{middle.uri}")
    assert r.status_code == 200 and r.headers["content-type"] == "audio/mp4"
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    start, pcm = decode_timed(init.content, r.content)
    assert start == pytest.approx(2 * vod.SEGMENT_SAMPLES / SAMPLE_RATE, abs=1e-6)
    assert len(pcm) == round(middle.duration * SAMPLE_RATE)
    at = round((BURST_AT - start) * SAMPLE_RATE)
    before, during = pcm[at - 12_000 : at - 2_000], pcm[at + 2_000 : at + 12_000]
    assert band_rms(before, 440) > 0.1 and band_rms(before, 1000) < 0.01
    assert band_rms(during, 1000) > 0.1 and band_rms(during, 440) < 0.01
    # The onset, to within 5 ms: where the 1000 Hz energy rises (10 ms windows).
    energies = [band_rms(pcm[i : i + 480], 1000) for i in range(at - 4800, at + 4800, 240)]
    onset = at - 4800 + 240 * next(i for i, e in enumerate(energies) if e > 0.1)
    assert abs((start + onset / SAMPLE_RATE) - BURST_AT) < 0.015
    # Again from the cache: the same bytes.
    assert (await client.get(f"/hls/{sid}/{middle.uri}")).content == r.content

    # Segments join without a gap: segments 1 and 2 in a row are 440 Hz across the seam.
    one = await client.get(f"/hls/{sid}/{playlist.segments[1].uri}")
    both = decode(init.content, one.content + r.content)
    seam = round(playlist.segments[1].duration * SAMPLE_RATE)
    assert band_rms(both[seam - 2400 : seam + 2400], 440) > 0.15


async def test_replays_follow_the_recordings_access_rules(
    app: Any, client: httpx.AsyncClient, settings: Any, sp: Spaces, make_user: Any
) -> None:
    host, guest, stranger = (
        await make_user("host"),
        await make_user("guest"),
        await make_user("stranger"),
    )
    sid = await ended_with_recording(sp, settings, host, visibility="private", guest_ids=[guest.id])
    error(await client.get(f"/api/v1/spaces/{sid}/replay/hls"), 401, "not_signed_in")
    error(
        await client.get(f"/api/v1/spaces/{sid}/replay/hls", headers=stranger.headers),
        404,
        "space_not_found",
    )
    r = await client.get(f"/api/v1/spaces/{sid}/replay/hls", headers=guest.headers)
    assert r.status_code == 200, r.text
    path = r.json()["path"]
    assert "token=" in path and r.json()["expires_at"] > 0
    r = await client.get(path)
    assert r.status_code == 200, r.text
    playlist = parse_playlist(r.text)
    assert playlist.map_uri and "token=" in playlist.map_uri
    assert all("token=" in s.uri for s in playlist.segments)
    assert (await client.get(f"/hls/{sid}/{playlist.segments[0].uri}")).status_code == 200

    bare = f"/hls/{sid}/replay.m3u8"
    error(await client.get(bare), 403, "hls_token_required")
    error(await client.get(bare + "?token=garbage"), 403, "hls_token_invalid")
    tokens = HlsTokens(settings.load_secret_key())
    live_token, _ = tokens.issue(sid)  # a live stream's token is not a replay's
    error(await client.get(f"{bare}?token={live_token}"), 403, "hls_token_invalid")
    other = await ended_with_recording(sp, settings, host, visibility="private")
    token = path.split("token=")[1]
    error(await client.get(f"/hls/{other}/replay.m3u8?token={token}"), 403, "hls_token_invalid")
    expired, _ = tokens.issue(sid, now=0, scope="replay")
    error(await client.get(f"{bare}?token={expired}"), 403, "hls_token_expired")
    segment = playlist.segments[0].uri.split("?")[0]
    error(await client.get(f"/hls/{sid}/{segment}"), 403, "hls_token_required")

    # Not ended yet; no recording; a deleted one.
    live = str((await sp.create(host, record=True))["id"])
    error(await client.get(f"/hls/{live}/replay.m3u8"), 409, "space_not_ended")
    plain = str((await sp.create(host))["id"])
    await sp.ok(host, plain, "end")
    error(await client.get(f"/hls/{plain}/replay.m3u8"), 404, "recording_not_found")
    error(
        await client.get(f"/api/v1/spaces/{plain}/replay/hls", headers=host.headers),
        404,
        "recording_not_found",
    )
    public = await ended_with_recording(sp, settings, host)
    assert (await client.get(f"/hls/{public}/replay.m3u8")).status_code == 200
    r = await client.delete(f"/api/v1/spaces/{public}/recording", headers=host.headers)
    assert r.status_code == 204
    app_service = app.state.hls_replay  # the app `client` talks to
    app_service._access.clear()  # the 2 s access cache, not waited out
    error(await client.get(f"/hls/{public}/replay.m3u8"), 404, "recording_not_found")
    error(await client.get("/hls/nosuchspace0/replay.m3u8"), 404, "space_not_found")


async def test_bad_replay_requests_get_clear_4xx(
    client: httpx.AsyncClient, settings: Any, sp: Spaces, make_user: Any
) -> None:
    host = await make_user("host")
    sid = await ended_with_recording(sp, settings, host)
    playlist = parse_playlist((await client.get(f"/hls/{sid}/replay.m3u8")).text)
    version = playlist.segments[0].uri.split("/")[1]
    base = f"/hls/{sid}/replay/{version}"
    count = len(playlist.segments)
    error(await client.get(f"{base}/{count}.m4s"), 404, "no_such_segment")
    error(await client.get(f"{base}/99999.m4s"), 404, "no_such_segment")
    for name in ("-1.m4s", "01.m4s", "1.2.m4s", "abc.m4s", "1.mp4", "1"):
        error(await client.get(f"{base}/{name}"), 404, "no_such_media")
    error(await client.get(f"/hls/{sid}/replay/0123abcd0123/0.m4s"), 404, "replay_version_gone")
    error(await client.get(f"/hls/{sid}/replay/0123abcd0123/init.mp4"), 404, "replay_version_gone")
    r = await client.get(f"/hls/{sid}/replay/NOTHEX/0.m4s")
    assert r.status_code == 422
    r = await client.get(f"/hls/{sid}/replay.m3u8?token=" + "x" * 200)
    assert r.status_code == 422
