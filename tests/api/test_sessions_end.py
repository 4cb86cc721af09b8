"""Sessions that end do end: logout, token revocation, account deletion and lost access
to a space cut the WebSocket and the media connection, and ids are never reused.

Real uvicorn on loopback, real `websockets` clients, real aiortc media connections whose
received audio is checked on the signal; SQLite and PostgreSQL (`backend`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets

from tests.api.test_ws import WsClient, serve
from townhall.client.media import MediaClient, ToneTrack, band_rms, connect, http_answer

DELETE_BODY = {"password": "correct horse"}
TONE_HZ = 440.0
OTHER_TONE_HZ = 660.0


@pytest.fixture
async def base(app: Any) -> AsyncIterator[str]:
    async for address in serve(app):
        yield address


@pytest.fixture
async def sockets() -> AsyncIterator[list[WsClient]]:
    opened: list[WsClient] = []
    yield opened
    for c in opened:
        await c.close()


@pytest.fixture
async def calls() -> AsyncIterator[list[MediaClient]]:
    made: list[MediaClient] = []
    yield made
    for c in made:
        await c.close()


async def _delete_account(client: httpx.AsyncClient, user: Any) -> None:
    r = await client.request("DELETE", "/api/v1/me", json=DELETE_BODY, headers=user.headers)
    assert r.status_code == 204, r.text


async def _post(client: httpx.AsyncClient, path: str, headers: dict[str, str], **body: Any) -> Any:
    r = await client.post(path, headers=headers, json=body or None)
    assert r.status_code in (200, 201), r.text
    return r.json()


async def _api_token(client: httpx.AsyncClient, user: Any, name: str) -> tuple[int, str]:
    body = await _post(client, "/api/v1/me/tokens", user.headers, name=name)
    return int(body["id"]), str(body["token"])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _space(client: httpx.AsyncClient, host: Any, **extra: Any) -> str:
    body = await _post(
        client,
        "/api/v1/spaces",
        host.headers,
        **({"title": "Ends", "visibility": "public"} | extra),
    )
    await _post(client, f"/api/v1/spaces/{body['id']}/unmute", host.headers)
    return str(body["id"])


async def _watch(sockets: list[WsClient], base: str, token: str, space_id: str) -> WsClient:
    ws = await WsClient.open(base, token)
    sockets.append(ws)
    got = await ws.subscribe(space_id)
    assert got[-1]["type"] == "subscribed", got
    return ws


async def _closed(ws: WsClient) -> tuple[int | None, list[dict[str, Any]]]:
    """What the socket got until the server closed it (bounded: fails if it stays open)."""
    got: list[dict[str, Any]] = []
    with contextlib.suppress(websockets.ConnectionClosed):
        for _ in range(200):
            got.append(await ws.recv())
    return ws.conn.close_code, got


async def _speaker(
    client: httpx.AsyncClient,
    calls: list[MediaClient],
    sid: str,
    headers: dict[str, str],
    hz: float,
) -> MediaClient:
    call = await connect(http_answer(client, sid, headers), track=ToneTrack(hz))
    calls.append(call)
    return call


async def _listener(
    client: httpx.AsyncClient, calls: list[MediaClient], sid: str, headers: dict[str, str]
) -> MediaClient:
    call = await connect(http_answer(client, sid, headers))
    calls.append(call)
    return call


async def _hears(call: MediaClient, hz: float) -> bool:
    """Whether the next half second the listener receives carries the tone."""
    pcm = await call.recorder.wait_samples(24_000, after=call.recorder.mark(), timeout=10)
    return band_rms(pcm, hz) > 0.05


async def _hears_soon(call: MediaClient, hz: float, tries: int = 12) -> bool:
    for _ in range(tries):
        if await _hears(call, hz):
            return True
    return False


async def _cut_off(call: MediaClient) -> None:
    """The server closed the connection: nothing more is received."""
    await call.wait_closed(timeout=10)
    mark = call.recorder.mark()
    await asyncio.sleep(0.3)
    assert call.recorder.mark() == mark


# -- ids -----------------------------------------------------------------------------


async def test_a_new_sign_up_after_a_deletion_gets_a_fresh_id(
    client: httpx.AsyncClient, make_user: Any
) -> None:
    first = await make_user("first")
    gone = await make_user("gone")
    await _delete_account(client, gone)
    newcomer = await make_user("newcomer")
    assert newcomer.id > gone.id > first.id
    r = await client.get("/api/v1/me", headers=newcomer.headers)
    assert r.json()["id"] == newcomer.id


# -- credentials ---------------------------------------------------------------------


async def test_logout_closes_the_cookie_sessions_socket_and_audio_only(
    base: str,
    client: httpx.AsyncClient,
    make_user: Any,
    sockets: list[WsClient],
    calls: list[MediaClient],
) -> None:
    host, fan = await make_user("host"), await make_user("fan")
    sid = await _space(client, host)
    _, bot_token = await _api_token(client, fan, "bot")
    await _post(client, f"/api/v1/spaces/{sid}/join", fan.headers)
    cookie = {"Cookie": f"townhall_session={fan.token}", "Origin": "http://testserver"}
    web = await WsClient.open(base, headers={"Cookie": f"townhall_session={fan.token}"})
    sockets.append(web)
    assert (await web.subscribe(sid))[-1]["type"] == "subscribed"
    bot = await _watch(sockets, base, bot_token, sid)
    speaker = await _speaker(client, calls, sid, host.headers, TONE_HZ)
    ear = await _listener(client, calls, sid, {"Cookie": f"townhall_session={fan.token}"})
    await asyncio.gather(speaker.wait_connected(), ear.wait_connected())
    assert await _hears_soon(ear, TONE_HZ)

    r = await client.post("/api/v1/auth/logout", headers=cookie)
    assert r.status_code == 204, r.text

    code, got = await _closed(web)
    assert code == 4401
    assert got[-1]["type"] == "error" and got[-1]["error"]["code"] == "session_ended"
    await _cut_off(ear)
    # The bot's token is another credential: its socket stays and gets the events.
    await _post(client, f"/api/v1/spaces/{sid}/react", host.headers, emoji="👏")
    await bot.recv_until(lambda m: m["type"] == "reaction")
    await bot.ping()


async def test_revoking_a_token_closes_its_socket_and_audio_but_not_the_other_tokens(
    base: str,
    client: httpx.AsyncClient,
    make_user: Any,
    sockets: list[WsClient],
    calls: list[MediaClient],
) -> None:
    one, two, fan = await make_user("one"), await make_user("two"), await make_user("fan")
    sid_one = await _space(client, one)
    sid_two = await _space(client, two)
    a_id, a_token = await _api_token(client, fan, "a")
    _, b_token = await _api_token(client, fan, "b")
    await _post(client, f"/api/v1/spaces/{sid_one}/join", _bearer(a_token))
    await _post(client, f"/api/v1/spaces/{sid_two}/join", _bearer(b_token))
    ws_a = await _watch(sockets, base, a_token, sid_one)
    ws_b = await _watch(sockets, base, b_token, sid_one)
    speakers = [
        await _speaker(client, calls, sid_one, one.headers, TONE_HZ),
        await _speaker(client, calls, sid_two, two.headers, OTHER_TONE_HZ),
    ]
    ear_a = await _listener(client, calls, sid_one, _bearer(a_token))
    ear_b = await _listener(client, calls, sid_two, _bearer(b_token))
    await asyncio.gather(*(c.wait_connected() for c in [*speakers, ear_a, ear_b]))
    assert await _hears_soon(ear_a, TONE_HZ)
    assert await _hears_soon(ear_b, OTHER_TONE_HZ)

    r = await client.delete(f"/api/v1/me/tokens/{a_id}", headers=fan.headers)
    assert r.status_code == 204

    code, got = await _closed(ws_a)
    assert code == 4401 and got[-1]["error"]["code"] == "session_ended"
    await _cut_off(ear_a)
    # A socket opened with the revoked token is refused from now on.
    late = await WsClient.open(base, a_token)
    sockets.append(late)
    code, got = await _closed(late)
    assert code == 4401 and got[-1]["error"]["code"] == "unauthorized"
    # Token b's socket and audio go on.
    assert await _hears_soon(ear_b, OTHER_TONE_HZ)
    assert ear_b.pc.connectionState == "connected"
    await _post(client, f"/api/v1/spaces/{sid_one}/react", one.headers, emoji="👏")
    await ws_b.recv_until(lambda m: m["type"] == "reaction")


async def test_deleting_the_account_closes_every_socket_and_audio(
    base: str,
    client: httpx.AsyncClient,
    make_user: Any,
    sockets: list[WsClient],
    calls: list[MediaClient],
) -> None:
    host, gone, other = await make_user("host"), await make_user("gone"), await make_user("other")
    sid = await _space(client, host)
    _, bot_token = await _api_token(client, gone, "bot")
    await _post(client, f"/api/v1/spaces/{sid}/join", gone.headers)
    await _post(client, f"/api/v1/spaces/{sid}/join", other.headers)
    mine = [
        await _watch(sockets, base, gone.token, sid),
        await _watch(sockets, base, bot_token, sid),
    ]
    # A socket that watches nothing (only its notifications) closes too.
    idle = await WsClient.open(base, bot_token)
    sockets.append(idle)
    await idle.ping()
    theirs = await _watch(sockets, base, other.token, sid)
    speaker = await _speaker(client, calls, sid, host.headers, TONE_HZ)
    ear = await _listener(client, calls, sid, _bearer(bot_token))
    other_ear = await _listener(client, calls, sid, other.headers)
    await asyncio.gather(*(c.wait_connected() for c in (speaker, ear, other_ear)))
    assert await _hears_soon(ear, TONE_HZ)

    await _delete_account(client, gone)

    for ws in [*mine, idle]:
        code, got = await _closed(ws)
        assert code == 4401 and got[-1]["error"]["code"] == "account_deleted"
    await _cut_off(ear)
    assert await _hears_soon(other_ear, TONE_HZ)
    await theirs.recv_until(lambda m: m["type"] == "member.left")
    # The next account does not inherit anything of the deleted one.
    newcomer = await make_user("newcomer")
    assert newcomer.id > gone.id


# -- access to a space ---------------------------------------------------------------


@pytest.mark.parametrize("how", ["block", "unfollow"])
async def test_losing_access_to_a_space_stops_its_events_audio_and_actions(
    base: str,
    client: httpx.AsyncClient,
    make_user: Any,
    sockets: list[WsClient],
    calls: list[MediaClient],
    how: str,
) -> None:
    """The host blocks a listener (public space), or a follower unfollows the host of a
    followers-only private space: within a moment they hear nothing more, get no more of
    its events, and may not react or raise a hand; others are not affected."""
    host, fan, stays = await make_user("host"), await make_user("fan"), await make_user("stays")
    for user in (fan, stays):
        await _post(client, f"/api/v1/users/{host.handle}/follow", user.headers)
    extra = {"visibility": "private", "followers_may_join": True} if how == "unfollow" else {}
    sid = await _space(client, host, **extra)
    for user in (fan, stays):
        await _post(client, f"/api/v1/spaces/{sid}/join", user.headers)
    fan_ws = await _watch(sockets, base, fan.token, sid)
    stays_ws = await _watch(sockets, base, stays.token, sid)
    speaker = await _speaker(client, calls, sid, host.headers, TONE_HZ)
    ear = await _listener(client, calls, sid, fan.headers)
    other_ear = await _listener(client, calls, sid, stays.headers)
    await asyncio.gather(*(c.wait_connected() for c in (speaker, ear, other_ear)))
    assert await _hears_soon(ear, TONE_HZ)

    if how == "block":
        await _post(client, f"/api/v1/users/{fan.handle}/block", host.headers)
    else:
        r = await client.delete(f"/api/v1/users/{host.handle}/follow", headers=fan.headers)
        assert r.status_code == 200, r.text

    got = await fan_ws.recv_until(lambda m: m["type"] == "unsubscribed")
    assert got[-1] == {"type": "unsubscribed", "space_id": sid, "reason": "no_access"}
    await _cut_off(ear)
    left = await stays_ws.recv_until(lambda m: m["type"] == "member.left")
    assert left[-1]["data"] == {"user_id": fan.id, "reason": "no_access"}
    assert await _hears_soon(other_ear, TONE_HZ)
    # No more events, no way back in, no actions.
    await _post(client, f"/api/v1/spaces/{sid}/react", host.headers, emoji="👏")
    await stays_ws.recv_until(lambda m: m["type"] == "reaction")
    await fan_ws.silent_for(0.3)
    got = await fan_ws.subscribe(sid)
    assert got[-1]["type"] == "error" and got[-1]["error"]["code"] == "not_found"
    # Blocked: 403 (they know the space); no longer a follower of a private space: 404
    # (it is not theirs to know about any more).
    refused = (403, "blocked_by_host") if how == "block" else (404, "space_not_found")
    for path, body in (("react", {"emoji": "👏"}), ("hand", None), ("join", None)):
        r = await client.post(f"/api/v1/spaces/{sid}/{path}", headers=fan.headers, json=body)
        assert (r.status_code, r.json()["error"]["code"]) == refused, (path, r.text)
    await fan_ws.ping()  # the socket itself is still fine for other spaces


async def test_a_watcher_who_never_joined_is_cut_off_by_a_block_too(
    base: str, client: httpx.AsyncClient, make_user: Any, sockets: list[WsClient]
) -> None:
    host, watcher = await make_user("host"), await make_user("watcher")
    sid = await _space(client, host)
    ws = await _watch(sockets, base, watcher.token, sid)
    await _post(client, f"/api/v1/users/{watcher.handle}/block", host.headers)
    got = await ws.recv_until(lambda m: m["type"] == "unsubscribed")
    assert got[-1] == {"type": "unsubscribed", "space_id": sid, "reason": "no_access"}
    await _post(client, f"/api/v1/spaces/{sid}/react", host.headers, emoji="👏")
    await ws.silent_for(0.3)
