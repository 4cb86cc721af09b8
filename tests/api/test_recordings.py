"""Recording and replay over the API: asking to record, the host's switch, replaying an
ended space's recording (access, HTTP Range), deleting it; SQLite and PostgreSQL.

The finished file is written by the media plane's own `Recorder` (a 440 Hz tone encoded
with the mixer's `OpusEncoder`), where the media plane puts it; the SDK end-to-end test
records a real speaking client through a real server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.api.test_spaces_support import Spaces, error, events
from tests.support.ogg import decode_ogg
from townhall.client.media import dominant_frequencies
from townhall.media.audio import FRAME_SAMPLES, SAMPLE_RATE, OpusEncoder
from townhall.media.recorder import Recorder, recording_path


@pytest.fixture
def sp(client: httpx.AsyncClient) -> Spaces:
    return Spaces(client)


def write_tone_recording(data_dir: Path, space_id: str, seconds: float = 2.0) -> Path:
    """What the media plane leaves behind: a finished Ogg Opus file of a 440 Hz tone."""
    encoder = OpusEncoder()
    recorder = Recorder(recording_path(data_dir, space_id))
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    tone = (np.sin(2 * np.pi * 440 * t) * 9000).astype(np.int16)
    for start in range(0, tone.size - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        recorder.write(encoder.encode(tone[start : start + FRAME_SAMPLES]))
    recorder.close()
    return recorder.path


def url(space_id: str) -> str:
    return f"/api/v1/spaces/{space_id}/recording"


async def test_record_from_the_start_and_the_hosts_switch(
    app: Any, sp: Spaces, make_user: Any
) -> None:
    host, other = await make_user("host"), await make_user("other")
    space = await sp.create(host, record=True)
    sid = space["id"]
    assert space["recording"] is True
    assert (await sp.get(other, sid)).json()["recording"] is True
    snap = await sp.snapshot(app, sid, other)
    assert snap["recording"] is True and snap["space"]["recording"] is True

    error(await sp.post(other, sid, "recording", {"on": False}), 403, "host_only")
    assert await sp.ok(host, sid, "recording", {"on": False}) == {"recording": False}
    assert (await sp.get(other, sid)).json()["recording"] is False
    assert await sp.ok(host, sid, "recording", {"on": False}) == {"recording": False}  # no-op
    assert await sp.ok(host, sid, "recording", {"on": True}) == {"recording": True}
    changes = [e.data for e in await events(app, sid) if e.type == "recording.changed"]
    assert changes == [{"on": False, "by": host.id}, {"on": True, "by": host.id}]
    r = await sp.post(host, sid, "recording", {"on": "yes"})
    assert r.status_code == 422

    plain = await sp.create(host)
    assert plain["recording"] is False
    await sp.ok(host, plain["id"], "end")
    error(await sp.post(host, plain["id"], "recording", {"on": True}), 409, "space_not_live")
    ended = (await sp.get(host, plain["id"])).json()
    assert ended["recording"] is None
    error(await sp.get(host, plain["id"], "recording"), 404, "recording_not_found")


async def test_replay_range_and_delete(
    app: Any, client: httpx.AsyncClient, settings: Any, sp: Spaces, make_user: Any
) -> None:
    host, fan = await make_user("host"), await make_user("fan")
    sid = (await sp.create(host, record=True))["id"]
    error(await sp.get(fan, sid, "recording"), 409, "space_not_ended")
    await sp.ok(host, sid, "end")
    path = write_tone_recording(settings.data_dir, sid)

    space = (await sp.get(fan, sid)).json()
    rec = space["recording"]
    assert rec["url"] == url(sid) and rec["size_bytes"] == path.stat().st_size
    assert 1.9 <= rec["duration_seconds"] <= 2.1

    r = await client.get(url(sid), headers=fan.headers)
    assert r.status_code == 200 and r.headers["content-type"] == "audio/ogg"
    assert r.headers["accept-ranges"] == "bytes"
    pcm, duration = decode_ogg(r.content)
    assert abs(duration - rec["duration_seconds"]) < 0.01
    assert abs(dominant_frequencies(pcm, 1)[0] - 440) < 8

    r = await client.get(url(sid), headers=fan.headers | {"Range": "bytes=0-99"})
    assert r.status_code == 206 and len(r.content) == 100
    assert r.content == path.read_bytes()[:100] and r.content.startswith(b"OggS")
    assert r.headers["content-range"] == f"bytes 0-99/{rec['size_bytes']}"

    r = await client.delete(url(sid), headers=fan.headers)
    error(r, 403, "host_only")
    r = await client.delete(url(sid), headers=host.headers)
    assert r.status_code == 204, r.text
    assert not path.exists()
    assert (await sp.get(fan, sid)).json()["recording"] is None
    error(await sp.get(fan, sid, "recording"), 404, "recording_not_found")
    error(await client.delete(url(sid), headers=host.headers), 404, "recording_not_found")


async def test_a_private_spaces_recording_refuses_strangers(
    client: httpx.AsyncClient, settings: Any, sp: Spaces, make_user: Any
) -> None:
    host, guest, stranger = (
        await make_user("host"),
        await make_user("guest"),
        await make_user("stranger"),
    )
    sid = (await sp.create(host, visibility="private", guest_ids=[guest.id], record=True))["id"]
    await sp.ok(host, sid, "end")
    write_tone_recording(settings.data_dir, sid, seconds=1.0)
    assert (await client.get(url(sid), headers=guest.headers)).status_code == 200
    error(await sp.get(stranger, sid, "recording"), 404, "space_not_found")
    error(await client.delete(url(sid), headers=stranger.headers), 404, "space_not_found")
    error(await sp.get(stranger, "nosuchspace0", "recording"), 404, "space_not_found")
    assert (await client.get(url(sid))).status_code == 401


async def test_a_recording_still_being_finished_is_not_offered(
    client: httpx.AsyncClient, settings: Any, sp: Spaces, make_user: Any
) -> None:
    host = await make_user("host")
    sid = (await sp.create(host, record=True))["id"]
    await sp.ok(host, sid, "end")
    write_tone_recording(settings.data_dir, sid, seconds=1.0)
    partial = Recorder(recording_path(settings.data_dir, sid))  # copying: still a .part
    assert (await sp.get(host, sid)).json()["recording"] is None
    partial.close()
    assert (await sp.get(host, sid)).json()["recording"]["duration_seconds"] > 0.9


async def test_deleting_the_hosts_account_deletes_the_files(
    client: httpx.AsyncClient, settings: Any, sp: Spaces, make_user: Any
) -> None:
    host = await make_user("host")
    sid = (await sp.create(host, record=True))["id"]
    await sp.ok(host, sid, "end")
    path = write_tone_recording(settings.data_dir, sid, seconds=0.5)
    r = await client.request(
        "DELETE", "/api/v1/me", json={"password": "correct horse"}, headers=host.headers
    )
    assert r.status_code == 204, r.text
    assert not path.exists()


async def test_deleting_the_account_while_recording_keeps_nothing(
    client: httpx.AsyncClient, settings: Any, sp: Spaces, make_user: Any
) -> None:
    """The account's live space ends; the media plane, still writing, finds its file gone."""
    host = await make_user("host")
    sid = (await sp.create(host, record=True))["id"]
    writing = Recorder(recording_path(settings.data_dir, sid))  # as the media plane does
    encoder = OpusEncoder()
    for _ in range(10):
        writing.write(encoder.encode(np.zeros(FRAME_SAMPLES, np.int16)))
    assert writing.partial.exists()
    r = await client.request(
        "DELETE", "/api/v1/me", json={"password": "correct horse"}, headers=host.headers
    )
    assert r.status_code == 204, r.text
    writing.close()  # the room closes after the space ended
    assert not writing.partial.exists() and not writing.path.exists()
