"""Moderation reaches the audio across a Redis restart: the server's own Redis is killed
under a live space, roles and mutes change in the database meanwhile (their events may
never be published), Redis comes back empty, and within a bounded time what the database
says is what the listener hears, checked on the signal. (Whether or not the events are
ever published: the room is reconciled with the database while the bus is away and when
it is back.)"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.redis_server import RedisServer, redis_server
from townhall.client.media import MediaClient, ToneTrack, band_rms, connect, http_answer
from townhall.config import Settings

SILENT = 0.01  # a member heard at full level gives ~0.15; a loaded machine's dropouts leak ~0.005
BOUND = 20.0  # seconds within which the audio must follow the database once Redis is back


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path / "redis") as server:
        yield server


@pytest.fixture
def settings(settings: Settings, own_redis: RedisServer) -> Settings:
    return settings.model_copy(update={"redis_url": own_redis.url})


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Errors answered as a real server answers them (500), not raised into the test."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=("127.0.0.1", 5))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def post(http: httpx.AsyncClient, who: Any, path: str, **body: Any) -> httpx.Response:
    return await http.post(f"/api/v1/spaces/{path}", json=body or None, headers=who.headers)


async def ok(http: httpx.AsyncClient, who: Any, path: str, **body: Any) -> dict[str, Any]:
    r = await post(http, who, path, **body)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def committed(http: httpx.AsyncClient, who: Any, path: str, **body: Any) -> None:
    """A change made while Redis is down: it commits (its events wait in the outbox)."""
    r = await post(http, who, path, **body)
    assert r.status_code == 200, r.text


async def speaker(
    http: httpx.AsyncClient, host: Any, sid: str, who: Any, tone: float, clients: list[MediaClient]
) -> MediaClient:
    await ok(http, who, f"{sid}/join")
    await ok(http, host, f"{sid}/invite", user_id=who.id)
    await ok(http, who, f"{sid}/invitation/accept")
    media = await connect(http_answer(http, sid, who.headers), track=ToneTrack(tone))
    clients.append(media)
    return media


async def next_second(client: MediaClient) -> Any:
    return await client.recorder.wait_samples(48_000, after=client.recorder.mark(), timeout=10)


async def heard_within(listener: MediaClient, check: Any, bound: float = BOUND) -> Any:
    """The first second of the listener's audio that passes `check` within `bound` seconds."""
    deadline = asyncio.get_running_loop().time() + bound
    while True:
        heard = await next_second(listener)
        if check(heard):
            return heard
        assert asyncio.get_running_loop().time() < deadline, {
            f: round(band_rms(heard, f), 4) for f in (440, 660, 880, 1320)
        }


async def test_moderation_made_while_redis_was_down_reaches_the_audio(
    app: Any,
    client: httpx.AsyncClient,
    make_user: Any,
    clients: list[MediaClient],
    own_redis: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="townhall")
    host = await make_user("rrhost")
    removed, unmuted, muted, demoted, fan = [
        await make_user(h) for h in ("rrgone", "rrvoice", "rrhush", "rrdown", "rrfan")
    ]
    r = await client.post(
        "/api/v1/spaces", json={"title": "Redis away", "visibility": "public"}, headers=host.headers
    )
    assert r.status_code == 201, r.text
    sid = str(r.json()["id"])
    a = await speaker(client, host, sid, removed, 440, clients)
    b = await speaker(client, host, sid, unmuted, 660, clients)
    c = await speaker(client, host, sid, muted, 880, clients)
    d = await speaker(client, host, sid, demoted, 1320, clients)
    for who in (removed, muted, demoted):
        await ok(client, who, f"{sid}/unmute")
    await ok(client, fan, f"{sid}/join")
    listener = await connect(http_answer(client, sid, fan.headers))
    clients.append(listener)
    await asyncio.gather(*(m.wait_connected() for m in (a, b, c, d, listener)))
    await heard_within(
        listener,
        lambda pcm: (
            band_rms(pcm, 440) > 0.03
            and band_rms(pcm, 880) > 0.03
            and band_rms(pcm, 1320) > 0.03
            and band_rms(pcm, 660) < SILENT
        ),
        bound=10,
    )

    own_redis.stop()
    await asyncio.sleep(1.0)  # the bus's connections see Redis gone
    await committed(client, host, f"{sid}/remove", user_id=removed.id)
    await committed(client, unmuted, f"{sid}/unmute")
    await committed(client, host, f"{sid}/mute", user_id=muted.id)
    await committed(client, host, f"{sid}/members/{demoted.id}/role", role="listener")
    changed = asyncio.get_running_loop().time()
    await asyncio.sleep(1.0)
    own_redis.start()

    await heard_within(
        listener,
        lambda pcm: (
            band_rms(pcm, 660) > 0.03
            and band_rms(pcm, 440) < SILENT
            and band_rms(pcm, 880) < SILENT
            and band_rms(pcm, 1320) < SILENT
        ),
    )
    print(f"heard as the database says {asyncio.get_running_loop().time() - changed:.1f} s after")
    await a.wait_closed(timeout=BOUND)  # the removed member's connection is closed
    room = app.state.media.room(sid)
    assert room is not None and removed.id not in room.participants
    assert not room.participants[demoted.id].on_stage
    assert room.participants[muted.id].muted

    # The bridge follows the space's events again: a change made now arrives as an event
    # (no reconciliation needed for it).
    bridge = app.state.media_bridge
    reconciled, steady = -1, 0
    for _ in range(int(BOUND / 0.1)):  # following, and no resubscription for 1 s
        steady = steady + 1 if bridge.following(sid) and bridge.reconciled == reconciled else 0
        reconciled = bridge.reconciled
        if steady >= 10:
            break
        await asyncio.sleep(0.1)
    assert steady >= 10, "the bridge never followed the space's events again"
    await ok(client, muted, f"{sid}/unmute")
    await heard_within(listener, lambda pcm: band_rms(pcm, 880) > 0.03, bound=5)
    assert bridge.reconciled == reconciled
    # The outage is logged, not a traceback per tick: each media-plane message at most
    # once for the outage and once for its end.
    media_logs = [r for r in caplog.records if r.name.startswith("townhall.media")]
    assert not [r for r in media_logs if r.levelno >= logging.ERROR], media_logs
    for prefix in ("publishing levels", "media presence", "media bridge: lost"):
        said = [r.getMessage() for r in media_logs if r.getMessage().startswith(prefix)]
        assert len(said) <= 2, said


async def test_a_space_ended_while_redis_was_down_closes_its_audio(
    app: Any,
    client: httpx.AsyncClient,
    make_user: Any,
    clients: list[MediaClient],
    own_redis: RedisServer,
) -> None:
    host, voice, fan = [await make_user(h) for h in ("rehost", "revoice", "refan")]
    r = await client.post(
        "/api/v1/spaces", json={"title": "Ends away", "visibility": "public"}, headers=host.headers
    )
    assert r.status_code == 201, r.text
    sid = str(r.json()["id"])
    a = await speaker(client, host, sid, voice, 440, clients)
    await ok(client, voice, f"{sid}/unmute")
    await ok(client, fan, f"{sid}/join")
    listener = await connect(http_answer(client, sid, fan.headers))
    clients.append(listener)
    await asyncio.gather(a.wait_connected(), listener.wait_connected())
    await heard_within(listener, lambda pcm: band_rms(pcm, 440) > 0.03, bound=10)

    own_redis.stop()
    await asyncio.sleep(1.0)
    await committed(client, host, f"{sid}/end")
    await asyncio.sleep(1.0)
    own_redis.start()

    await asyncio.gather(a.wait_closed(timeout=BOUND), listener.wait_closed(timeout=BOUND))
    assert app.state.media.room(sid) is None


async def test_audio_that_starts_while_redis_is_down_follows_the_database(
    app: Any,
    client: httpx.AsyncClient,
    make_user: Any,
    clients: list[MediaClient],
    own_redis: RedisServer,
) -> None:
    """The first offers of a space come while Redis is away: the bridge cannot subscribe
    yet, the audio flows anyway, moderation reaches it from the database, and once Redis
    is back its events do."""
    host, voice, fan = [await make_user(h) for h in ("rdhost", "rdvoice", "rdfan")]
    r = await client.post(
        "/api/v1/spaces", json={"title": "Born away", "visibility": "public"}, headers=host.headers
    )
    assert r.status_code == 201, r.text
    sid = str(r.json()["id"])
    await ok(client, voice, f"{sid}/join")
    await ok(client, host, f"{sid}/invite", user_id=voice.id)
    await ok(client, voice, f"{sid}/invitation/accept")
    await ok(client, voice, f"{sid}/unmute")
    await ok(client, fan, f"{sid}/join")
    bridge = app.state.media_bridge
    assert not bridge.watching(sid)

    own_redis.stop()
    a = await connect(http_answer(client, sid, voice.headers), track=ToneTrack(440))
    clients.append(a)
    listener = await connect(http_answer(client, sid, fan.headers))
    clients.append(listener)
    await asyncio.gather(a.wait_connected(), listener.wait_connected())
    await heard_within(listener, lambda pcm: band_rms(pcm, 440) > 0.03)
    assert bridge.watching(sid) and not bridge.following(sid)

    await committed(client, host, f"{sid}/mute", user_id=voice.id)
    await heard_within(listener, lambda pcm: band_rms(pcm, 440) < SILENT)

    own_redis.start()
    for _ in range(int(BOUND / 0.1)):
        if bridge.following(sid):
            break
        await asyncio.sleep(0.1)
    assert bridge.following(sid)
    await ok(client, voice, f"{sid}/unmute")
    await heard_within(listener, lambda pcm: band_rms(pcm, 440) > 0.03)
