"""Clips over the API (SQLite and PostgreSQL): a clip of a recording that is 440 Hz for
3 s then 880 Hz for 3 s, cut from 3.5 s to 5.5 s, is 2 s of 880 Hz (checked on the
signal: the recording's own packets, not re-encoded); its page has the words said in it;
spans longer than 60 s, clips the host turned off, and strangers to a private space are
refused; clips go with the recording and with the account."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.api.test_spaces_support import Spaces, error
from tests.support.ogg import decode_ogg
from townhall.api.services.clips import clip_path
from townhall.client.media import dominant_frequencies
from townhall.media.audio import FRAME_SAMPLES, SAMPLE_RATE, OpusEncoder
from townhall.media.recorder import Recorder, recording_path
from townhall.store import captions as captions_store


@pytest.fixture
def sp(client: httpx.AsyncClient) -> Spaces:
    return Spaces(client)


def two_tone_recording(data_dir: Path, space_id: str) -> list[bytes]:
    """440 Hz for 3 s, then 880 Hz for 3 s; returns the packets written."""
    encoder = OpusEncoder()
    recorder = Recorder(recording_path(data_dir, space_id))
    t = np.arange(3 * SAMPLE_RATE) / SAMPLE_RATE
    pcm = np.concatenate([np.sin(2 * np.pi * f * t) * 9000 for f in (440, 880)]).astype(np.int16)
    packets = []
    for start in range(0, pcm.size - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        packets.append(encoder.encode(pcm[start : start + FRAME_SAMPLES]))
        recorder.write(packets[-1])
    recorder.close()
    return packets


async def recorded_space(app: Any, sp: Spaces, settings: Any, host: Any, **create: Any) -> str:
    sid: str = (await sp.create(host, record=True, **create))["id"]
    async with app.state.db.session() as session:
        await captions_store.add_line(session, sid, host.id, 500, 2000, 500, "the low tone")
        await captions_store.add_line(session, sid, host.id, 4000, 5000, 4000, "the high tone")
    await sp.ok(host, sid, "end")
    two_tone_recording(settings.data_dir, sid)
    return sid


async def test_a_clip_is_the_chosen_span_of_the_recording(
    app: Any, client: httpx.AsyncClient, settings: Any, sp: Spaces, make_user: Any
) -> None:
    host, fan = await make_user("host"), await make_user("fan")
    sid = await recorded_space(app, sp, settings, host)
    r = await client.post(
        f"/api/v1/spaces/{sid}/clips", json={"start_ms": 3500, "end_ms": 5500}, headers=fan.headers
    )
    assert r.status_code == 201, r.text
    clip = r.json()
    assert (clip["start_ms"], clip["end_ms"], clip["by"]["id"]) == (3500, 5500, fan.id)
    assert [line["text"] for line in clip["lines"]] == ["the high tone"]
    assert clip["lines"][0]["at_ms"] == 500
    assert clip["share_url"] == f"/#/clip/{clip['id']}"

    page = (await client.get(f"/api/v1/clips/{clip['id']}", headers=host.headers)).json()
    assert page["lines"] == clip["lines"] and page["space"]["id"] == sid
    r = await client.get(clip["audio_url"], headers=host.headers)
    assert r.status_code == 200 and r.headers["content-type"] == "audio/ogg"
    pcm, duration = decode_ogg(r.content)
    assert 1.9 <= duration <= 2.1, duration
    freqs = dominant_frequencies(pcm[pcm.size // 10 :], 1)
    assert freqs and abs(freqs[0] - 880) < 8, freqs
    low = float(np.sqrt(np.mean(np.square(pcm.astype(np.float64))))) if pcm.size else 0.0
    assert low > 1000  # real audio, not silence

    for body, code in (
        ({"start_ms": 0, "end_ms": 61_000}, "clip_too_long"),
        ({"start_ms": 2000, "end_ms": 2000}, "invalid_span"),
        ({"start_ms": 9000, "end_ms": 10_000}, "invalid_span"),
    ):
        r = await client.post(f"/api/v1/spaces/{sid}/clips", json=body, headers=fan.headers)
        error(r, 422, code)
    r = await client.post(
        f"/api/v1/spaces/{sid}/clips", json={"start_ms": -1, "end_ms": 9}, headers=fan.headers
    )
    assert r.status_code == 422
    error(
        await client.get("/api/v1/clips/nosuchclip00", headers=fan.headers), 404, "clip_not_found"
    )

    # The host deletes the recording: its clips go with it.
    r = await client.delete(f"/api/v1/spaces/{sid}/recording", headers=host.headers)
    assert r.status_code == 204
    error(
        await client.get(f"/api/v1/clips/{clip['id']}", headers=fan.headers), 404, "clip_not_found"
    )
    assert not clip_path(settings.data_dir, clip["id"]).exists()


async def test_clips_off_private_spaces_and_deleted_accounts(
    app: Any, client: httpx.AsyncClient, settings: Any, sp: Spaces, make_user: Any
) -> None:
    host, guest, stranger = (
        await make_user("host"),
        await make_user("guest"),
        await make_user("stranger"),
    )
    sid = (await sp.create(host, record=True, visibility="private", guest_ids=[guest.id]))["id"]
    await sp.ok(host, sid, "captions", {"clips": False})
    await sp.ok(host, sid, "end")
    two_tone_recording(settings.data_dir, sid)
    span = {"start_ms": 0, "end_ms": 2000}
    r = await client.post(f"/api/v1/spaces/{sid}/clips", json=span, headers=guest.headers)
    error(r, 403, "clips_off")

    other = await recorded_space(
        app, sp, settings, host, visibility="private", guest_ids=[guest.id]
    )
    r = await client.post(f"/api/v1/spaces/{other}/clips", json=span, headers=stranger.headers)
    error(r, 404, "space_not_found")
    r = await client.post(f"/api/v1/spaces/{other}/clips", json=span, headers=guest.headers)
    assert r.status_code == 201
    clip = r.json()
    error(
        await client.get(f"/api/v1/clips/{clip['id']}", headers=stranger.headers),
        404,
        "clip_not_found",
    )
    error(await client.get(clip["audio_url"], headers=stranger.headers), 404, "clip_not_found")

    r = await client.request(
        "DELETE", "/api/v1/me", json={"password": "correct horse"}, headers=guest.headers
    )
    assert r.status_code == 204
    error(
        await client.get(f"/api/v1/clips/{clip['id']}", headers=host.headers), 404, "clip_not_found"
    )
    assert not clip_path(settings.data_dir, clip["id"]).exists()
