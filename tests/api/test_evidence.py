"""Report evidence end to end: a host speaks a tone over real WebRTC, a listener reports the
space, and the media plane's ring buffer becomes an Ogg file around the report (checked
on the signal) with a timeline naming who spoke; a second report in the window adds no
file; the evidence survives a restart, outlives the deleted space while a report holds it,
and is deleted when its retention ends (the keeper's clock is advanced, never slept)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.api.test_staff import grant
from tests.bus.redis_helpers import REDIS_URL, redis_unreachable_reason
from tests.conftest import TestUser
from tests.support.ogg import decode_ogg
from tests.support.redis_server import redis_server
from townhall.api.app import create_app
from townhall.api.services.staff.evidence import EvidenceKeeper
from townhall.client.media import ToneTrack, band_rms, connect, dominant_frequencies, http_answer
from townhall.config import Settings
from townhall.media.evidence import evidence_path, timeline_path
from townhall.store.db import utcnow

ADMIN = "/api/v1/admin"
API = "/api/v1/spaces"
AFTER_SECONDS = 3.0


@pytest.fixture
def backend() -> str:
    """Real-time audio: SQLite only (the retention rules run on both in test_staff*)."""
    return "sqlite"


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """The app with its lifespan (database, bus, media plane, evidence keeper)."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield application, c


async def signup(client: httpx.AsyncClient, handle: str) -> TestUser:
    r = await client.post(
        "/api/v1/auth/signup",
        json={"handle": handle, "display_name": handle.title(), "password": "correct horse"},
    )
    assert r.status_code == 201, r.text
    client.cookies.clear()
    return TestUser(user=r.json()["user"], token=r.json()["token"])


async def evidence_of(
    client: httpx.AsyncClient, mod: TestUser, status: str = "ready", timeout: float = 15.0
) -> list[dict[str, Any]]:
    """The queue's evidence (of every group), once all of it has `status`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        groups = (await client.get(f"{ADMIN}/reports?status=all", headers=mod.headers)).json()
        found = [e for g in groups["groups"] for e in g["evidence"]]
        if found and all(e["status"] == status for e in found):
            return found
        assert asyncio.get_running_loop().time() < deadline, found
        await asyncio.sleep(0.2)


async def test_a_report_keeps_the_spaces_audio_around_it(settings: Settings) -> None:
    settings = settings.model_copy(update={"evidence_after_seconds": AFTER_SECONDS})
    async with running(settings) as (app, client):
        host, fan, other = [await signup(client, h) for h in ("host", "fan", "other")]
        mod = await signup(client, "mod")
        await grant(app, "mod", "moderator")
        r = await client.post(
            API, json={"title": "Tones", "visibility": "public"}, headers=host.headers
        )
        sid = r.json()["id"]
        for who in (fan, other):
            assert (await client.post(f"{API}/{sid}/join", headers=who.headers)).status_code == 200
        speaker = await connect(http_answer(client, sid, host.headers), track=ToneTrack(440))
        listener = await connect(http_answer(client, sid, fan.headers))
        try:
            await asyncio.gather(speaker.wait_connected(), listener.wait_connected())
            await asyncio.sleep(1.5)  # the host is muted: silence goes into the buffer
            r = await client.post(f"{API}/{sid}/unmute", headers=host.headers)
            assert r.status_code == 200, r.text
            await asyncio.sleep(2.0)
            r = await client.post(
                f"{API}/{sid}/report", json={"reason": "abuse"}, headers=fan.headers
            )
            assert r.status_code == 201, r.text
            r = await client.post(
                f"{API}/{sid}/report",
                json={"user_id": host.id, "reason": "the host"},
                headers=other.headers,
            )
            assert r.status_code == 201, r.text
            queue = (await client.get(f"{ADMIN}/reports", headers=mod.headers)).json()
            listed = [e for g in queue["groups"] for e in g["evidence"]]
            assert len(listed) == 2 and len({e["id"] for e in listed}) == 1  # one window, one file
            assert listed[0]["status"] in ("pending", "ready")  # ready: a slow machine
            assert (listed[0]["status"] == "pending") == (listed[0]["url"] is None)
            found = await evidence_of(client, mod, "ready", timeout=AFTER_SECONDS + 10)
        finally:
            await asyncio.gather(speaker.close(), listener.close())

        assert len({e["id"] for e in found}) == 1
        evidence = found[0]
        eid = evidence["id"]
        assert evidence["url"] == f"{ADMIN}/evidence/{eid}.ogg"
        assert sorted(p.name for p in (settings.data_dir / "evidence").iterdir()) == [
            f"{eid}.json",
            f"{eid}.ogg",
        ]
        got = await client.get(evidence["url"], headers=mod.headers)
        assert got.status_code == 200 and got.headers["content-type"] == "audio/ogg"
        assert (await client.get(evidence["url"], headers=fan.headers)).status_code == 403
        assert (await client.get(evidence["url"])).status_code == 401

        # The audio: what the room mixed from its start (less than the 5 minutes before),
        # muted, then the host's tone, up to 2 s after the report.
        pcm, duration = decode_ogg(got.content)
        assert 4.0 < duration < 9.0, duration
        assert abs(evidence["duration_ms"] / 1000 - duration) < 0.1
        timeline = evidence["timeline"]
        spoke = [t for t in timeline if t["kind"] == "speaking"]
        assert {t["handle"] for t in spoke} == {"host"}, timeline
        assert {t["handle"] for t in timeline if t["kind"] == "stage"} == {"host"}
        start_s = spoke[0]["start_ms"] / 1000
        end_s = spoke[-1]["end_ms"] / 1000
        assert 1.0 < start_s < duration - 2.0, timeline
        assert end_s > duration - 0.5, timeline  # still speaking when the window closed
        before = pcm[: int((start_s - 0.3) * 48_000)]
        during = pcm[int((start_s + 0.3) * 48_000) :]
        assert band_rms(before, 440) < 0.003, "the muted host was kept"
        assert band_rms(during, 440) > 0.05
        assert dominant_frequencies(during, 1)[0] == pytest.approx(440, abs=10)
        report_at = evidence["report_at_ms"] / 1000
        # After the report: the window's 3 s, less the ticks a loaded machine skipped (the
        # app, its mixer and the test's clients share one event loop here).
        assert 0.2 < duration - report_at < AFTER_SECONDS + 0.1, report_at
        around = pcm[int((report_at - 1) * 48_000) : int((report_at + 1) * 48_000)]
        assert band_rms(around, 440) > 0.05
        assert float(np.abs(pcm).max()) > 0

        r = await client.post(f"{API}/{sid}/end", headers=host.headers)
        assert r.status_code == 200, r.text

    # A restart: the evidence is still there; the host deletes their account (and with it
    # the space): the reports hold the evidence until its retention ends.
    async with running(settings) as (app, client):
        again = await evidence_of(client, mod)
        assert again[0]["id"] == eid and again[0]["timeline"] == timeline
        assert (await client.get(evidence["url"], headers=mod.headers)).content == got.content
        r = await client.request(
            "DELETE", "/api/v1/me", json={"password": "correct horse"}, headers=host.headers
        )
        assert r.status_code == 204, r.text

        now = utcnow()
        keeper = EvidenceKeeper(
            app.state.db, None, settings.data_dir, 90, clock=lambda: now + timedelta(days=89)
        )
        assert (await keeper.check_once())["deleted"] == []
        assert (await client.get(evidence["url"], headers=mod.headers)).status_code == 200
        keeper = EvidenceKeeper(
            app.state.db, None, settings.data_dir, 90, clock=lambda: now + timedelta(days=91)
        )
        assert (await keeper.check_once())["deleted"] == [eid]
        assert not evidence_path(settings.data_dir, eid).exists()
        assert not timeline_path(settings.data_dir, eid).exists()
        assert (await client.get(evidence["url"], headers=mod.headers)).status_code == 404
        groups = (await client.get(f"{ADMIN}/reports?status=all", headers=mod.headers)).json()
        assert groups["groups"] and all(g["evidence"] == [] for g in groups["groups"])


@pytest.mark.redis
async def test_the_media_plane_over_redis_keeps_evidence_for_another_node(
    settings: Settings,
) -> None:
    """Node A has the space's audio; the report is filed through node B: the request
    reaches A's media plane over Redis, and B records and serves the file."""
    reason = await redis_unreachable_reason()
    if reason:
        pytest.skip(reason)
    prefix = f"townhall-test-{uuid.uuid4().hex[:12]}:"
    settings = settings.model_copy(
        update={
            "evidence_after_seconds": 1.0,
            "redis_url": REDIS_URL,
            "redis_prefix": prefix,
        }
    )
    try:
        async with running(settings) as (node_a, a), running(settings) as (node_b, b):
            host, fan = await signup(a, "host"), await signup(a, "fan")
            mod = await signup(a, "mod")
            await grant(node_a, "mod", "moderator")
            r = await a.post(
                API, json={"title": "Far", "visibility": "public"}, headers=host.headers
            )
            sid = r.json()["id"]
            assert (await a.post(f"{API}/{sid}/unmute", headers=host.headers)).status_code == 200
            assert (await a.post(f"{API}/{sid}/join", headers=fan.headers)).status_code == 200
            speaker = await connect(http_answer(a, sid, host.headers), track=ToneTrack(660))
            try:
                await speaker.wait_connected()
                await asyncio.sleep(2.0)
                assert node_b.state.media.room(sid) is None  # the audio is on node A only
                r = await b.post(f"{API}/{sid}/report", json={"reason": "x"}, headers=fan.headers)
                assert r.status_code == 201, r.text
                found = await evidence_of(b, mod, "ready", timeout=15.0)
            finally:
                await speaker.close()
            assert node_a.state.evidence_desk.written == [found[0]["id"]]
            got = await b.get(found[0]["url"], headers=mod.headers)
            pcm, duration = decode_ogg(got.content)
            assert 2.0 < duration < 6.0
            assert dominant_frequencies(pcm[24_000:], 1)[0] == pytest.approx(660, abs=10)
            assert {t["handle"] for t in found[0]["timeline"]} == {"host"}
    finally:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(REDIS_URL)
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.mark.redis
async def test_a_report_filed_while_redis_is_away_still_gets_its_evidence(
    settings: Settings, tmp_path: Path
) -> None:
    """Redis (the bus) stops before the report and comes back within its window: the
    outbox holds the request and the keeper asks again, so the media plane keeps it."""
    with redis_server(tmp_path / "redis") as redis:
        settings = settings.model_copy(
            update={"evidence_after_seconds": 6.0, "redis_url": redis.url}
        )
        async with running(settings) as (app, client):
            host, fan, mod = [await signup(client, h) for h in ("host", "fan", "mod")]
            await grant(app, "mod", "moderator")
            r = await client.post(
                API, json={"title": "Away", "visibility": "public"}, headers=host.headers
            )
            sid = r.json()["id"]
            assert (await client.post(f"{API}/{sid}/unmute", headers=host.headers)).is_success
            assert (await client.post(f"{API}/{sid}/join", headers=fan.headers)).is_success
            speaker = await connect(http_answer(client, sid, host.headers), track=ToneTrack(550))
            try:
                await speaker.wait_connected()
                await asyncio.sleep(1.5)
                await asyncio.to_thread(redis.stop)
                r = await client.post(
                    f"{API}/{sid}/report", json={"reason": "x"}, headers=fan.headers
                )
                assert r.status_code == 201, r.text
                await asyncio.sleep(1.0)
                await asyncio.to_thread(redis.start)
                found = await evidence_of(client, mod, "ready", timeout=30.0)
            finally:
                await speaker.close()
            got = await client.get(found[0]["url"], headers=mod.headers)
            pcm, duration = decode_ogg(got.content)
            assert duration > 3.0
            assert dominant_frequencies(pcm[-48_000:], 1)[0] == pytest.approx(550, abs=10)
