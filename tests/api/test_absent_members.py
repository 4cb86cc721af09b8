"""Ghost members: people who vanish without leaving are swept out of live spaces.

A member counts as present while they have a WebSocket subscription to the space or a
media (WebRTC) connection to it. Real uvicorn, real `websockets` clients, real aiortc
connections made with the SDK, tiny timings (presence 1 s, absence limit 1 s).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.api.test_ws import WsClient, _live_space, _post, _quick_user, _vanish, serve
from townhall.api.app import create_app
from townhall.bus import Bus
from townhall.client.api import Townhall
from townhall.client.media import MediaClient
from townhall.config import Settings

ABSENT = 1.0


@pytest.fixture
async def sweeping(settings: Settings) -> AsyncIterator[tuple[Any, str, httpx.AsyncClient]]:
    """An app whose presence lasts 1 s, whose members are swept after 1 s away, and
    whose host grace is long (so only the sweeper acts)."""
    quick = settings.model_copy(
        update={
            "presence_ttl_seconds": 1.0,
            "absent_member_seconds": ABSENT,
            "host_grace_seconds": 600.0,
        }
    )
    application = create_app(quick)
    async with application.router.lifespan_context(application):
        async for address in serve(application, ws_ping=0.25):
            transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 50003))
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                yield application, address, c


@pytest.fixture
async def sockets() -> AsyncIterator[list[WsClient]]:
    opened: list[WsClient] = []
    yield opened
    for c in opened:
        await c.close()


async def _open(sockets: list[WsClient], base: str, user: Any) -> WsClient:
    c = await WsClient.open(base, user.token)
    sockets.append(c)
    return c


async def _snapshot(http: httpx.AsyncClient, sid: str, user: Any) -> dict[str, Any]:
    r = await http.get(f"/api/v1/spaces/{sid}/snapshot", headers=user.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _listener_ids(snapshot: dict[str, Any]) -> set[int]:
    return {u["id"] for u in snapshot["listeners"]}


async def test_a_vanished_socket_is_swept_and_the_listener_count_drops(
    sweeping: tuple[Any, str, httpx.AsyncClient], sockets: list[WsClient]
) -> None:
    _, base, http = sweeping
    host = await _quick_user(http, "host")
    stays, ghost = await _quick_user(http, "stays"), await _quick_user(http, "ghost")
    sid = (await _live_space(http, host))["id"]
    watcher = await _open(sockets, base, host)
    await watcher.subscribe(sid)
    ws = {u.id: await _open(sockets, base, u) for u in (stays, ghost)}
    for user in (stays, ghost):
        await ws[user.id].subscribe(sid)
        await _post(http, f"/api/v1/spaces/{sid}/join", user)
    await _post(http, f"/api/v1/spaces/{sid}/hand", ghost)
    counts = await watcher.recv_until(
        lambda m: m["type"] == "hand.raised" and m["data"]["user_id"] == ghost.id
    )
    assert [m["data"]["count"] for m in counts if m["type"] == "listeners.count"][-1] == 2

    _vanish(ws[ghost.id])  # a closed laptop: no goodbye, no POST /leave
    got = await watcher.recv_until(lambda m: m["type"] == "listeners.count", limit=50)
    left = [m for m in got if m["type"] == "member.left"]
    assert [m["data"] for m in left] == [{"user_id": ghost.id, "reason": "absent"}]
    assert got[-1]["data"] == {"count": 1}
    snap = await _snapshot(http, sid, host)
    assert _listener_ids(snap) == {stays.id} and snap["listener_count"] == 1
    assert snap["hand_queue"] == [] and snap["hand_count"] == 0  # no ghost in the queue

    # The member still connected (silent, no pings of its own) stays, well past the limit.
    await asyncio.sleep(3 * ABSENT)
    assert _listener_ids(await _snapshot(http, sid, host)) == {stays.id}


async def test_a_member_with_only_a_media_connection_stays_until_it_closes(
    sweeping: tuple[Any, str, httpx.AsyncClient], sockets: list[WsClient]
) -> None:
    app, base, http = sweeping
    bus: Bus = app.state.bus
    host, bot = await _quick_user(http, "host"), await _quick_user(http, "bot")
    sid = (await _live_space(http, host))["id"]
    watcher = await _open(sockets, base, host)
    await watcher.subscribe(sid)
    media: MediaClient | None = None
    async with Townhall(f"http://{base}", bot.token) as sdk:
        await sdk.join(sid)  # no WebSocket at all: a bot that only listens
        await watcher.recv_until(lambda m: m["type"] == "listeners.count")
        try:
            media = await sdk.connect_media(sid)
            await media.wait_connected()
            assert await bus.is_present(sid, bot.id)
            await asyncio.sleep(3 * ABSENT)  # three presence lifetimes and absence limits
            assert _listener_ids(await _snapshot(http, sid, host)) == {bot.id}
            await watcher.silent_for(0.1)
        finally:
            if media is not None:
                await media.close()  # the bot dies: its connection closes, no POST /leave
    got = await watcher.recv_until(lambda m: m["type"] == "member.left", limit=50)
    assert got[-1]["data"] == {"user_id": bot.id, "reason": "absent"}
    assert (await watcher.recv())["data"] == {"count": 0}
    assert _listener_ids(await _snapshot(http, sid, host)) == set()


async def test_the_host_is_never_swept(
    sweeping: tuple[Any, str, httpx.AsyncClient], sockets: list[WsClient]
) -> None:
    _, base, http = sweeping
    host, fan = await _quick_user(http, "host"), await _quick_user(http, "fan")
    sid = (await _live_space(http, host))["id"]  # the host never connects at all
    watch = await _open(sockets, base, fan)
    await watch.subscribe(sid)
    await asyncio.sleep(3 * ABSENT)
    await watch.silent_for(0.1)  # no member.left for the host
    snap = await _snapshot(http, sid, fan)
    assert [s["user"]["id"] for s in snap["stage"]] == [host.id]
    assert snap["space"]["state"] == "live"
