"""Audio over the HTTP API: members of a live space connect; moderation reaches the signal."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.conftest import MakeUser, TestUser
from townhall.client.media import (
    MediaClient,
    Samples,
    SignalingError,
    ToneTrack,
    band_rms,
    connect,
    http_answer,
    http_ice_servers,
    rms,
)


@pytest.fixture
def backend() -> str:
    """Media does not depend on the database backend: SQLite only."""
    return "sqlite"


async def next_second(client: MediaClient) -> Samples:
    return await client.recorder.wait_samples(48_000, after=client.recorder.mark(), timeout=10)


async def start_space(http: httpx.AsyncClient, host: TestUser) -> str:
    r = await http.post(
        "/api/v1/spaces", json={"title": "Tones", "visibility": "public"}, headers=host.headers
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_members_connect_and_moderation_reaches_the_audio(
    app: Any, client: httpx.AsyncClient, make_user: MakeUser, clients: list[MediaClient]
) -> None:
    host, fan, stranger = (
        await make_user("hosty"),
        await make_user("fanny"),
        await make_user("nobody"),
    )
    space_id = await start_space(client, host)
    assert (
        await client.post(f"/api/v1/spaces/{space_id}/unmute", headers=host.headers)
    ).status_code == 200
    assert (
        await client.post(f"/api/v1/spaces/{space_id}/join", headers=fan.headers)
    ).status_code == 200
    assert await http_ice_servers(client, host.headers) == []

    speaker = await connect(http_answer(client, space_id, host.headers), track=ToneTrack(440))
    clients.append(speaker)
    listener = await connect(http_answer(client, space_id, fan.headers), track=ToneTrack(1000))
    clients.append(listener)
    await asyncio.gather(speaker.wait_connected(), listener.wait_connected())
    await asyncio.sleep(0.6)
    heard = await next_second(listener)
    assert band_rms(heard, 440) > 0.05 and band_rms(heard, 1000) < 0.003

    # Not a member: refused, and nothing is left behind for the space.
    with pytest.raises(SignalingError) as refused:
        await connect(http_answer(client, space_id, stranger.headers))
    assert refused.value.status == 403

    r = await client.post(f"/api/v1/spaces/{space_id}/mute", headers=host.headers)
    assert r.status_code == 200, r.text
    await asyncio.sleep(0.5)
    assert rms(await next_second(listener)) < 0.003

    r = await client.post(f"/api/v1/spaces/{space_id}/end", headers=host.headers)
    assert r.status_code == 200, r.text
    await asyncio.gather(speaker.wait_closed(), listener.wait_closed())
    assert app.state.media.room(space_id) is None


async def test_bad_requests_get_clear_errors(
    app: Any, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    host = await make_user("hostz")
    space_id = await start_space(client, host)
    url = f"/api/v1/spaces/{space_id}/media"
    r = await client.post(url, json={"sdp": "v=0\r\n", "type": "offer"})
    assert r.status_code == 401
    cases = [
        ({"sdp": "v=0\r\nm=audio x\r\n", "type": "offer"}, 422, "bad_sdp"),
        ({"sdp": "v=0\r\n", "type": "answer"}, 422, "bad_sdp_type"),
        ({"sdp": "x" * 70_000, "type": "offer"}, 422, "invalid"),
        ({"sdp": 5, "type": "offer"}, 422, "invalid"),
        ({"type": "offer"}, 422, "invalid"),
    ]
    for body, status, code in cases:
        r = await client.post(url, json=body, headers=host.headers)
        assert r.status_code == status, (body, r.text)
        assert r.json()["error"]["code"] == code
    r = await client.post(
        "/api/v1/spaces/nosuchspace1/media",
        json={"sdp": "v=0", "type": "offer"},
        headers=host.headers,
    )
    assert r.status_code in (403, 422)
    assert app.state.media.room(space_id) is None
    assert not app.state.media_bridge.watching(space_id)
