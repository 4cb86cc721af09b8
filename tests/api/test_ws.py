"""The WebSocket: auth, snapshots, live events to several clients, resume, presence, pushes.

A real uvicorn server on a free loopback port serves the test's app; clients are
real `websockets` connections; changes are made over the REST API.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
import websockets
from websockets.asyncio.client import ClientConnection

from tests.support.server import free_port
from townhall.api.app import create_app
from townhall.bus import Bus, Event
from townhall.config import Settings
from townhall.store import outbox as outbox_store

RECV_TIMEOUT = 5.0


class WsClient:
    """One test client's WebSocket, with JSON helpers and bounded waits."""

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn

    @classmethod
    async def open(
        cls, base: str, token: str | None = None, headers: dict[str, str] | None = None
    ) -> WsClient:
        url = f"ws://{base}/api/v1/ws" + (f"?token={token}" if token else "")
        conn = await websockets.connect(
            url, additional_headers=headers, open_timeout=5, max_queue=None, close_timeout=2
        )
        return cls(conn)

    async def send(self, **message: Any) -> None:
        await self.conn.send(json.dumps(message))

    async def recv(self, timeout: float = RECV_TIMEOUT) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.conn.recv(), timeout)
        message: dict[str, Any] = json.loads(raw)
        return message

    async def recv_until(
        self, done: Callable[[dict[str, Any]], bool], limit: int = 100
    ) -> list[dict[str, Any]]:
        """Messages up to and including the first for which done() is true."""
        got: list[dict[str, Any]] = []
        for _ in range(limit):
            got.append(await self.recv())
            if done(got[-1]):
                return got
        raise AssertionError(f"no matching message in {limit}: {got[-5:]}")

    async def silent_for(self, seconds: float) -> None:
        with pytest.raises(TimeoutError):
            message = await self.recv(seconds)
            raise AssertionError(f"expected silence, got {message}")

    async def subscribe(self, space_id: str, last_seq: int | None = None) -> list[dict[str, Any]]:
        """Subscribe; the messages up to and including the `subscribed` ack."""
        body: dict[str, Any] = {"op": "subscribe", "space_id": space_id}
        if last_seq is not None:
            body["last_seq"] = last_seq
        await self.send(**body)
        return await self.recv_until(lambda m: m["type"] in ("subscribed", "error"))

    async def ping(self) -> None:
        await self.send(op="ping")
        assert (await self.recv_until(lambda m: m["type"] == "pong"))[-1] == {"type": "pong"}

    async def close(self) -> None:
        await self.conn.close()


async def serve(app: Any, ws_ping: float = 20.0) -> AsyncIterator[str]:
    """Run the (already started) app under uvicorn on a free loopback port; the server
    pings every client every `ws_ping` seconds and drops those that do not answer."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_level="warning",
        ws_ping_interval=ws_ping,
        ws_ping_timeout=ws_ping,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.025)
    assert server.started, "uvicorn did not start"
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@pytest.fixture
async def base(app: Any) -> AsyncIterator[str]:
    async for address in serve(app):
        yield address


@pytest.fixture
async def clients() -> AsyncIterator[list[WsClient]]:
    """Collects clients a test opens, and closes them afterwards."""
    opened: list[WsClient] = []
    yield opened
    for c in opened:
        await c.close()


async def _open(clients: list[WsClient], base: str, user: Any) -> WsClient:
    c = await WsClient.open(base, user.token)
    clients.append(c)
    return c


async def _live_space(
    client: httpx.AsyncClient, host: Any, visibility: str = "public", **extra: Any
) -> dict[str, Any]:
    r = await client.post(
        "/api/v1/spaces",
        headers=host.headers,
        json={"title": "Live test", "visibility": visibility, **extra},
    )
    assert r.status_code == 201, r.text
    space: dict[str, Any] = r.json()
    return space


async def _post(client: httpx.AsyncClient, path: str, user: Any, **body: Any) -> Any:
    r = await client.post(path, headers=user.headers, json=body or None)
    assert r.status_code in (200, 201), r.text
    return r.json()


def _events(messages: list[dict[str, Any]]) -> list[tuple[int, str, dict[str, Any]]]:
    return [(m["seq"], m["type"], m["data"]) for m in messages if m["type"] not in _META]


_META = {"snapshot", "subscribed", "unsubscribed", "pong", "error", "notification"}


# -- auth ------------------------------------------------------------------------


async def test_auth_by_query_token_header_or_cookie(
    base: str, make_user: Any, clients: list[WsClient]
) -> None:
    alice = await make_user("alice")
    by_query = await _open(clients, base, alice)
    by_header = await WsClient.open(base, headers=alice.headers)
    by_cookie = await WsClient.open(base, headers={"Cookie": f"townhall_session={alice.token}"})
    clients += [by_header, by_cookie]
    for c in (by_query, by_header, by_cookie):
        await c.ping()


@pytest.mark.parametrize("token", [None, "th_not-a-real-token", "garbage"])
async def test_unauthenticated_sockets_are_told_and_closed(
    base: str, token: str | None, clients: list[WsClient]
) -> None:
    c = await WsClient.open(base, token)
    clients.append(c)
    message = await c.recv()
    assert message["type"] == "error" and message["error"]["code"] == "unauthorized"
    with pytest.raises(websockets.ConnectionClosed):
        await c.recv()
    assert c.conn.close_code == 4401


async def test_sockets_read_credentials_in_the_same_order_as_http(
    base: str, client: httpx.AsyncClient, make_user: Any, clients: list[WsClient]
) -> None:
    """Authorization first (as for HTTP), then ?token=, then the cookie; a malformed
    Authorization header is refused, not skipped for a weaker credential."""
    user = await make_user("order")
    good = user.headers["Authorization"].split(" ", 1)[1]
    header_wins = await WsClient.open(base, "th_stale", headers={"Authorization": f"Bearer {good}"})
    clients.append(header_wins)
    await header_wins.ping()
    for bad in (f"Basic {good}", "Bearer "):
        refused = await WsClient.open(base, good, headers={"Authorization": bad})
        clients.append(refused)
        message = await refused.recv()
        assert message["type"] == "error" and message["error"]["code"] == "unauthorized"
        with pytest.raises(websockets.ConnectionClosed):
            await refused.recv()
        assert refused.conn.close_code == 4401
        http = await client.get("/api/v1/me", headers={"Authorization": bad})
        assert http.status_code == 401 and http.json()["error"]["code"] == "bad_authorization"


# -- snapshots and live events ------------------------------------------------------


async def test_several_clients_get_snapshot_then_the_same_events_in_order(
    base: str, client: httpx.AsyncClient, make_user: Any, clients: list[WsClient]
) -> None:
    host = await make_user("host")
    listeners = [await make_user(f"fan{i}") for i in range(4)]
    space = await _live_space(client, host)
    sid = space["id"]

    host_ws = await _open(clients, base, host)
    fan_ws = [await _open(clients, base, u) for u in listeners]
    start_seqs = []
    for c, user in [(host_ws, host), *zip(fan_ws, listeners, strict=True)]:
        got = await c.subscribe(sid)
        snapshot, ack = got[0], got[-1]
        assert snapshot["type"] == "snapshot" and snapshot["space_id"] == sid
        assert snapshot["data"]["space"]["id"] == sid
        assert [s["user"]["id"] for s in snapshot["data"]["stage"]] == [host.id]
        expected_role = "host" if user is host else None
        assert snapshot["data"]["me"]["role"] == expected_role
        assert ack == {
            "type": "subscribed",
            "space_id": sid,
            "seq": snapshot["seq"],
            "replayed": -1,
        }
        start_seqs.append(snapshot["seq"])
    assert len(set(start_seqs)) == 1  # nothing happened in between

    # Changes made over REST reach every client as the same numbered events.
    await asyncio.gather(*[_post(client, f"/api/v1/spaces/{sid}/join", u) for u in listeners])
    await _post(client, f"/api/v1/spaces/{sid}/hand", listeners[0])
    await _post(client, f"/api/v1/spaces/{sid}/react", listeners[1], emoji=_any_reaction(snapshot))

    streams = []
    for c in (host_ws, *fan_ws):
        got = await c.recv_until(lambda m: m["type"] == "reaction")
        streams.append(_events(got))
    first = streams[0]
    assert all(stream == first for stream in streams)
    seqs = [seq for seq, _, _ in first]
    assert seqs == list(range(start_seqs[0] + 1, start_seqs[0] + 1 + len(seqs)))
    joined = sorted(d["user"]["id"] for _, t, d in first if t == "member.joined")
    assert joined == sorted(u.id for u in listeners)
    assert ("hand.raised", {"user_id": listeners[0].id}) in [(t, d) for _, t, d in first]
    assert first[-1][1:] == (
        "reaction",
        {"user_id": listeners[1].id, "emoji": _any_reaction(snapshot)},
    )


def _any_reaction(snapshot: dict[str, Any]) -> str:
    return str(snapshot["data"]["reactions"][0])


async def test_resume_gets_exactly_the_missed_events_or_a_fresh_snapshot(
    app: Any,
    base: str,
    client: httpx.AsyncClient,
    make_user: Any,
    clients: list[WsClient],
) -> None:
    host = await make_user("host")
    fan = await make_user("fan")
    space = await _live_space(client, host)
    sid = space["id"]
    watcher = await _open(clients, base, host)  # stays connected throughout
    await watcher.subscribe(sid)
    leaving = await _open(clients, base, fan)
    snapshot = (await leaving.subscribe(sid))[0]
    last_seq = snapshot["seq"]
    await leaving.close()

    await _post(client, f"/api/v1/spaces/{sid}/join", fan)
    await _post(client, f"/api/v1/spaces/{sid}/hand", fan)
    await _post(client, f"/api/v1/spaces/{sid}/hand/lower", fan)
    seen = _events(await watcher.recv_until(lambda m: m["type"] == "hand.lowered"))

    back = await _open(clients, base, fan)
    got = await back.subscribe(sid, last_seq=last_seq)
    assert _events(got) == seen  # exactly the missed ones, in order, nothing else
    assert got[-1] == {
        "type": "subscribed",
        "space_id": sid,
        "seq": seen[-1][0],
        "replayed": len(seen),
    }
    # ...and then live events continue after them.
    await _post(client, f"/api/v1/spaces/{sid}/hand", fan)
    nxt = await back.recv()
    assert (nxt["type"], nxt["seq"]) == ("hand.raised", seen[-1][0] + 1)

    # Up to date: nothing to replay.
    up_to_date = await _open(clients, base, fan)
    got = await up_to_date.subscribe(sid, last_seq=nxt["seq"])
    assert got == [{"type": "subscribed", "space_id": sid, "seq": nxt["seq"], "replayed": 0}]

    # Too old: more events than the replay buffer keeps were published since.
    bus: Bus = app.state.bus
    for _ in range(505):
        await bus.publish(Event("reaction", sid, {"user_id": host.id, "emoji": "x"}))
    old = await _open(clients, base, fan)
    got = await old.subscribe(sid, last_seq=nxt["seq"])
    assert [m["type"] for m in got] == ["snapshot", "subscribed"]
    assert got[0]["seq"] == nxt["seq"] + 505 and got[-1]["replayed"] == -1
    assert got[0]["data"]["me"]["role"] == "listener"

    # Ahead of the space (e.g. the server's memory bus restarted): a snapshot too.
    ahead = await _open(clients, base, fan)
    got = await ahead.subscribe(sid, last_seq=10**9)
    assert [m["type"] for m in got] == ["snapshot", "subscribed"]


async def test_one_socket_watches_several_spaces_and_unsubscribes(
    base: str, client: httpx.AsyncClient, make_user: Any, clients: list[WsClient]
) -> None:
    h1, h2, fan = await make_user("hostone"), await make_user("hosttwo"), await make_user("fan")
    s1 = (await _live_space(client, h1))["id"]
    s2 = (await _live_space(client, h2))["id"]
    c = await _open(clients, base, fan)
    await c.subscribe(s1)
    await c.subscribe(s2)
    await _post(client, f"/api/v1/spaces/{s2}/join", fan)
    await _post(client, f"/api/v1/spaces/{s1}/join", fan)
    got = await c.recv_until(lambda m: m["type"] == "listeners.count" and m["space_id"] == s1)
    assert {m["space_id"] for m in got} == {s1, s2}
    assert [m["space_id"] for m in got if m["type"] == "member.joined"] == [s2, s1]

    await c.send(op="unsubscribe", space_id=s2)
    assert (await c.recv_until(lambda m: m["type"] == "unsubscribed"))[-1] == {
        "type": "unsubscribed",
        "space_id": s2,
    }
    await _post(client, f"/api/v1/spaces/{s2}/hand", fan)
    await c.silent_for(0.4)
    await _post(client, f"/api/v1/spaces/{s1}/hand", fan)
    m = await c.recv()
    assert (m["type"], m["space_id"]) == ("hand.raised", s1)


async def test_private_space_events_are_not_for_strangers(
    base: str, client: httpx.AsyncClient, make_user: Any, clients: list[WsClient]
) -> None:
    host, guest, stranger = (
        await make_user("host"),
        await make_user("guest"),
        await make_user("stranger"),
    )
    sid = (await _live_space(client, host, "private", guest_ids=[guest.id]))["id"]
    outsider = await _open(clients, base, stranger)
    got = await outsider.subscribe(sid)
    assert got == [
        {
            "type": "error",
            "error": {"code": "not_found", "message": "no such space, or not visible to you"},
            "space_id": sid,
        }
    ]
    insider = await _open(clients, base, guest)
    assert (await insider.subscribe(sid))[0]["type"] == "snapshot"
    await _post(client, f"/api/v1/spaces/{sid}/join", guest)
    assert (await insider.recv())["type"] == "member.joined"
    await outsider.silent_for(0.4)
    # Unknown spaces look the same as invisible ones.
    got = await outsider.subscribe("nosuchspace1")
    assert got[-1]["error"]["code"] == "not_found"


async def test_levels_reach_live_sockets_but_are_never_replayed(
    app: Any, base: str, client: httpx.AsyncClient, make_user: Any, clients: list[WsClient]
) -> None:
    host, fan = await make_user("host"), await make_user("fan")
    sid = (await _live_space(client, host))["id"]
    bus: Bus = app.state.bus
    live = await _open(clients, base, host)
    seq = (await live.subscribe(sid))[-1]["seq"]
    away = await _open(clients, base, fan)
    await away.subscribe(sid)
    await away.close()  # away during a long speech

    # Far more levels than the replay buffer holds, then one kept event.
    for i in range(600):
        await bus.publish(Event("levels", sid, {"levels": {str(host.id): i / 600}}))
    await _post(client, f"/api/v1/spaces/{sid}/join", fan)
    got = await live.recv_until(lambda m: m["type"] == "member.joined", limit=700)
    levels = [m for m in got if m["type"] == "levels"]
    assert len(levels) == 600
    assert all(m["seq"] == seq and m["volatile"] is True for m in levels)
    assert [m["data"]["levels"][str(host.id)] for m in levels[:2]] == [0.0, 1 / 600]
    assert (got[-1]["seq"], "volatile" in got[-1]) == (seq + 1, False)

    # The returning client gets exactly the kept events it missed, not a snapshot.
    back = await _open(clients, base, fan)
    got = await back.subscribe(sid, last_seq=seq)
    assert [m["type"] for m in got] == ["member.joined", "listeners.count", "subscribed"]
    assert got[-1]["replayed"] == 2


async def test_a_removed_or_blocked_member_stops_getting_the_space_events(
    app: Any, base: str, client: httpx.AsyncClient, make_user: Any, clients: list[WsClient]
) -> None:
    host, stays = await make_user("host"), await make_user("stays")
    sid = (await _live_space(client, host))["id"]
    watcher = await _open(clients, base, stays)
    await watcher.subscribe(sid)
    bus: Bus = app.state.bus
    for action in ("remove", "block"):
        target = await make_user(f"{action}d")
        ws = await _open(clients, base, target)
        await ws.subscribe(sid)
        await _post(client, f"/api/v1/spaces/{sid}/join", target)
        await ws.recv_until(lambda m: m["type"] == "listeners.count")
        assert await bus.is_present(sid, target.id)

        await _post(client, f"/api/v1/spaces/{sid}/{action}", host, user_id=target.id)
        removed = await ws.recv_until(lambda m: m["type"] == "member.removed")
        assert removed[-1]["data"] == {"user_id": target.id, "by": host.id}
        assert await ws.recv() == {"type": "unsubscribed", "space_id": sid, "reason": "removed"}
        assert not await bus.is_present(sid, target.id)
        # Nothing more from that space, while others still get its events.
        await _post(client, f"/api/v1/spaces/{sid}/react", host, emoji="👏")
        await watcher.recv_until(lambda m: m["type"] == "reaction")
        await ws.silent_for(0.3)
        # And they cannot subscribe again (nor replay), nor join.
        for last_seq in (None, 0):
            got = await ws.subscribe(sid, last_seq=last_seq)
            assert [m["type"] for m in got] == ["error"]
            expected = "removed_from_space" if action == "remove" else "not_found"
            assert got[0]["error"]["code"] in {expected, "removed_from_space"}
        r = await client.post(f"/api/v1/spaces/{sid}/join", headers=target.headers)
        assert r.status_code in (403, 404)
        await ws.ping()  # the socket itself stays usable


async def test_a_member_removed_while_their_stream_resynchronises_is_still_cut_off(
    app: Any, base: str, client: httpx.AsyncClient, make_user: Any, clients: list[WsClient]
) -> None:
    host, target = await make_user("host"), await make_user("target")
    sid = (await _live_space(client, host))["id"]
    ws = await _open(clients, base, target)
    await ws.subscribe(sid)
    await _post(client, f"/api/v1/spaces/{sid}/join", target)
    await ws.recv_until(lambda m: m["type"] == "listeners.count")
    # The socket's bus subscription (the only one on this space) loses events, as a
    # subscriber that fell behind does: the removal never reaches it live.
    (sub,) = app.state.bus._space_subs[sid]
    sub._lagged = True
    await _post(client, f"/api/v1/spaces/{sid}/remove", host, user_id=target.id)
    sub._lagged = False
    sub.interrupt()  # the relay is told it lagged and resynchronises by replay
    got = await ws.recv_until(lambda m: m["type"] == "unsubscribed")
    assert [m["type"] for m in got] == ["member.removed", "listeners.count", "unsubscribed"]
    assert got[-1] == {"type": "unsubscribed", "space_id": sid, "reason": "removed"}
    await _post(client, f"/api/v1/spaces/{sid}/react", host, emoji="👏")
    await ws.silent_for(0.3)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", "invalid_json"),
        ("[1, 2]", "invalid_message"),
        ('{"op": "dance"}', "unknown_op"),
        ('{"op": "subscribe"}', "invalid_space_id"),
        ('{"op": "subscribe", "space_id": 5}', "invalid_space_id"),
        ('{"op": "subscribe", "space_id": "' + "x" * 65 + '"}', "invalid_space_id"),
        ('{"op": "subscribe", "space_id": "abc", "last_seq": -1}', "invalid_last_seq"),
        ('{"op": "subscribe", "space_id": "abc", "last_seq": true}', "invalid_last_seq"),
        ('{"op": "subscribe", "space_id": "abc", "last_seq": "7"}', "invalid_last_seq"),
        ('{"op": "ping", "pad": "' + "x" * 5000 + '"}', "too_large"),
        ('{"op": "ping"}', "binary_frame"),
        ('{"op": "subscribe", "space_id": "\\ud800"}', "invalid_space_id"),  # lone surrogate
        ('{"op": "subscribe", "space_id": "a\\udfffb"}', "invalid_space_id"),
        ('{"op": "ping", "x": ' + "[" * 2000 + "]" * 2000 + "}", "invalid_json"),  # deep
        ("[" * 4000, "invalid_json"),
    ],
)
async def test_bad_messages_get_an_error_and_the_socket_stays_usable(
    base: str,
    make_user: Any,
    clients: list[WsClient],
    raw: str,
    code: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    c = await _open(clients, base, await make_user("alice"))
    await c.conn.send(raw.encode() if code == "binary_frame" else raw)
    message = await c.recv()
    assert message["type"] == "error" and message["error"]["code"] == code
    await c.ping()
    assert [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")] == []


# -- notifications ------------------------------------------------------------------


async def test_notifications_are_pushed_live_to_every_socket_of_the_user(
    base: str, client: httpx.AsyncClient, make_user: Any, clients: list[WsClient]
) -> None:
    host, fan, other = await make_user("host"), await make_user("fan"), await make_user("other")
    await _post(client, "/api/v1/users/host/follow", fan)
    fan_tab1 = await _open(clients, base, fan)
    fan_tab2 = await _open(clients, base, fan)
    other_ws = await _open(clients, base, other)
    for c in (fan_tab1, fan_tab2, other_ws):
        await c.ping()  # the socket is fully set up
    space = await _live_space(client, host)
    for c in (fan_tab1, fan_tab2):
        pushed = await c.recv()
        assert pushed["type"] == "notification"
        assert pushed["data"]["kind"] == "space.started"
        assert pushed["data"]["data"]["space_id"] == space["id"]
        assert pushed["data"]["read"] is False
    await other_ws.silent_for(0.4)
    listed = (await client.get("/api/v1/notifications", headers=fan.headers)).json()
    assert [i["id"] for i in listed["items"]] == [pushed["data"]["id"]]


# -- presence ------------------------------------------------------------------------


async def test_presence_follows_subscriptions_goodbyes_and_disconnects(
    app: Any, base: str, client: httpx.AsyncClient, make_user: Any, clients: list[WsClient]
) -> None:
    host, fan = await make_user("host"), await make_user("fan")
    sid = (await _live_space(client, host))["id"]
    bus: Bus = app.state.bus
    assert await bus.present(sid) == set()
    h = await _open(clients, base, host)
    f = await _open(clients, base, fan)
    await h.subscribe(sid)
    await f.subscribe(sid)
    assert await bus.present(sid) == {host.id, fan.id}
    await f.send(op="unsubscribe", space_id=sid)
    await f.recv_until(lambda m: m["type"] == "unsubscribed")
    assert await bus.present(sid) == {host.id}
    await f.subscribe(sid)
    assert await bus.present(sid) == {host.id, fan.id}
    await f.close()
    for _ in range(100):
        if await bus.present(sid) == {host.id}:
            break
        await asyncio.sleep(0.02)
    assert await bus.present(sid) == {host.id}


# -- presence expiry and host grace (tiny timings) ---------------------------------------


@pytest.fixture
async def quick_base(settings: Settings) -> AsyncIterator[tuple[Any, str]]:
    """An app whose presence lasts 1 s and whose host grace is 1 s."""
    quick = settings.model_copy(update={"presence_ttl_seconds": 1.0, "host_grace_seconds": 1.0})
    application = create_app(quick)
    async with application.router.lifespan_context(application):
        async for address in serve(application, ws_ping=0.25):
            yield application, address


@pytest.fixture
async def quick_client(quick_base: tuple[Any, str]) -> AsyncIterator[httpx.AsyncClient]:
    app, _ = quick_base
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50001))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def _quick_user(c: httpx.AsyncClient, handle: str) -> Any:
    r = await c.post(
        "/api/v1/auth/signup",
        json={"handle": handle, "display_name": handle, "password": "correct horse"},
    )
    assert r.status_code == 201, r.text
    c.cookies.clear()
    body = r.json()

    class U:
        id = body["user"]["id"]
        token = body["token"]
        headers = {"Authorization": f"Bearer {body['token']}"}

    return U


def _vanish(c: WsClient) -> None:
    """The client freezes (a closed laptop, a lost network): it stops reading and so
    stops answering the server's pings, without ever saying goodbye."""
    c.conn.transport.pause_reading()


async def _until(check: Any, timeout: float = 6.0) -> bool:
    """Poll an async condition until true or the timeout (bounded)."""
    for _ in range(int(timeout / 0.05)):
        if await check():
            return True
        await asyncio.sleep(0.05)
    return bool(await check())


async def test_silent_clients_stay_present_and_vanished_ones_drop_out(
    quick_base: tuple[Any, str], quick_client: httpx.AsyncClient, clients: list[WsClient]
) -> None:
    app, base = quick_base
    host = await _quick_user(quick_client, "host")
    quiet = await _quick_user(quick_client, "quiet")
    gone = await _quick_user(quick_client, "gone")
    sid = (await _live_space(quick_client, host))["id"]
    bus: Bus = app.state.bus
    sockets = [await _open(clients, base, u) for u in (host, quiet, gone)]
    for c in sockets:
        await c.subscribe(sid)
    assert await bus.present(sid) == {host.id, quiet.id, gone.id}
    _vanish(sockets[2])

    async def only_the_connected() -> bool:
        return await bus.present(sid) == {host.id, quiet.id}

    assert await _until(only_the_connected)
    await asyncio.sleep(2.2)  # two presence TTLs: connected clients stay, with no pings
    assert await bus.present(sid) == {host.id, quiet.id}


@pytest.mark.parametrize("how", ["closes", "vanishes"])
async def test_space_ends_when_the_host_is_gone_longer_than_the_grace(
    quick_base: tuple[Any, str],
    quick_client: httpx.AsyncClient,
    clients: list[WsClient],
    how: str,
) -> None:
    _, base = quick_base
    host = await _quick_user(quick_client, "host")
    fan = await _quick_user(quick_client, "fan")
    sid = (await _live_space(quick_client, host))["id"]
    h = await _open(clients, base, host)
    f = await _open(clients, base, fan)
    await h.subscribe(sid)
    await f.subscribe(sid)
    await asyncio.sleep(1.5)  # longer than the grace: a present host keeps the space
    r = await quick_client.get(f"/api/v1/spaces/{sid}", headers=fan.headers)
    assert r.json()["state"] == "live"
    if how == "closes":
        await h.close()
    else:
        _vanish(h)
    got = await f.recv_until(lambda m: m["type"] == "space.ended")
    assert got[-1]["data"] == {"reason": "host_gone"}
    r = await quick_client.get(f"/api/v1/spaces/{sid}", headers=fan.headers)
    assert r.json()["state"] == "ended"


async def test_space_survives_when_the_host_handed_over_to_a_cohost(
    quick_base: tuple[Any, str], quick_client: httpx.AsyncClient, clients: list[WsClient]
) -> None:
    _, base = quick_base
    host = await _quick_user(quick_client, "host")
    co = await _quick_user(quick_client, "cohost")
    sid = (await _live_space(quick_client, host))["id"]
    h = await _open(clients, base, host)
    c = await _open(clients, base, co)
    await h.subscribe(sid)
    await c.subscribe(sid)
    await _post(quick_client, f"/api/v1/spaces/{sid}/join", co)
    await _post(quick_client, f"/api/v1/spaces/{sid}/invite", host, user_id=co.id, role="cohost")
    await _post(quick_client, f"/api/v1/spaces/{sid}/invitation/accept", co)
    await _post(quick_client, f"/api/v1/spaces/{sid}/host", host, user_id=co.id)
    _vanish(h)  # the old host disappears without a goodbye
    await asyncio.sleep(3.5)  # well past ping timeout + grace + a check interval
    r = await quick_client.get(f"/api/v1/spaces/{sid}", headers=co.headers)
    assert r.json()["state"] == "live"


async def test_reminders_invitations_and_cohosts_notify_the_right_sockets(
    base: str, client: httpx.AsyncClient, make_user: Any, clients: list[WsClient]
) -> None:
    host = await make_user("host")
    waiter = await make_user("waiter")  # set a reminder, does not follow the host
    co = await make_user("cohost")
    co_fan = await make_user("cofan")  # follows the co-host only
    await _post(client, "/api/v1/users/cohost/follow", co_fan)
    sockets = {u.handle: await _open(clients, base, u) for u in (host, waiter, co, co_fan)}
    for c in sockets.values():
        await c.ping()

    when = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    space = await _live_space(client, host, scheduled_for=when)
    sid = space["id"]
    await _post(client, f"/api/v1/spaces/{sid}/reminder", waiter)
    await _post(client, f"/api/v1/spaces/{sid}/start", host)
    pushed = await sockets["waiter"].recv()
    assert pushed["type"] == "notification" and pushed["data"]["kind"] == "space.reminder"
    assert pushed["data"]["data"]["space_id"] == sid

    await _post(client, f"/api/v1/spaces/{sid}/join", co)
    await _post(client, f"/api/v1/spaces/{sid}/invite", host, user_id=co.id, role="cohost")
    pushed = await sockets["cohost"].recv()
    assert pushed["data"]["kind"] == "invite"
    assert pushed["data"]["data"]["role"] == "cohost"
    assert pushed["data"]["data"]["by"]["id"] == host.id

    await _post(client, f"/api/v1/spaces/{sid}/invitation/accept", co)
    pushed = await sockets["cofan"].recv()
    assert pushed["data"]["kind"] == "cohost.added"
    assert pushed["data"]["data"]["space_id"] == sid
    for handle in ("host", "waiter"):
        await sockets[handle].silent_for(0.3)


@pytest.mark.redis
async def test_no_event_is_lost_when_the_redis_pubsub_connection_drops(
    settings: Settings, clients: list[WsClient]
) -> None:
    import uuid

    import redis.asyncio as aioredis

    from tests.bus.redis_helpers import REDIS_URL, redis_unreachable_reason

    reason = await redis_unreachable_reason()
    if reason:
        pytest.skip(reason)
    prefix = f"townhall-test-{uuid.uuid4().hex[:12]}:"
    on_redis = settings.model_copy(update={"redis_url": REDIS_URL, "redis_prefix": prefix})
    application = create_app(on_redis)
    admin = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        async with application.router.lifespan_context(application):
            transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 50002))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                host = await _quick_user(http, "host")
                fan = await _quick_user(http, "fan")
                sid = (await _live_space(http, host))["id"]
                async for base in serve(application):
                    c = await _open(clients, base, fan)
                    start = (await c.subscribe(sid))[0]["seq"]
                    listed = await admin.client_list()
                    ids = [
                        x["id"]
                        for x in listed
                        if x.get("name") == f"{prefix}bus" and x["sub"] != "0"
                    ]
                    assert len(ids) == 1
                    # An event whose pub/sub message is lost (stored in the replay log, sent to
                    # no channel), then the node's pub/sub connection drops: only a resync
                    # from the replay log can bring the event to the client.
                    # Numbered as the outbox numbers it (the database's counter for the
                    # space), relayed into the log but to a channel nobody listens to.
                    bus: Any = application.state.bus
                    async with application.state.db.session() as session:
                        seq = await outbox_store.raise_space_seq(session, sid, start + 1)
                    lost = {"type": "reaction", "space_id": sid, "data": {}, "at": 1.0}
                    lost["data"] = {"user_id": host.id, "emoji": "x"}
                    await bus._relay_script(
                        keys=[bus._seq_key(sid), bus._log_key(sid), f"{prefix}nowhere"],
                        args=[json.dumps(lost | {"seq": seq}), seq, 500, 60],
                    )
                    await admin.client_kill_filter(_id=ids[0])
                    await _post(http, f"/api/v1/spaces/{sid}/join", fan)
                    await _post(http, f"/api/v1/spaces/{sid}/hand", fan)
                    got = await c.recv_until(lambda m: m["type"] == "hand.raised")
                    events = _events(got)
                    assert [seq for seq, _, _ in events] == list(
                        range(start + 1, start + 1 + len(events))
                    )
                    assert [t for _, t, _ in events] == [
                        "reaction",
                        "member.joined",
                        "listeners.count",
                        "hand.raised",
                    ]
    finally:
        keys = [key async for key in admin.scan_iter(match=f"{prefix}*")]
        if keys:
            await admin.delete(*keys)
        await admin.aclose()


# -- no task outlives its connection -------------------------------------------------

_CONNECTION_TASKS = {
    "_keep_present",
    "UserChannel.forward_to",
    "LiveClient._relay",
    "LiveClient._close",
}


def _connection_tasks() -> list[asyncio.Task[Any]]:
    """The WebSocket handlers (uvicorn's run_asgi) and every task they started."""
    return [
        t
        for t in asyncio.all_tasks()
        if t.get_coro().__qualname__ in _CONNECTION_TASKS  # type: ignore[union-attr]
        or t.get_coro().__qualname__.endswith("run_asgi")  # type: ignore[union-attr]
    ]


async def _no_connection_tasks_within(seconds: float) -> list[str]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while _connection_tasks() and loop.time() < deadline:
        await asyncio.sleep(0.05)
    return [t.get_name() + " " + t.get_coro().__qualname__ for t in _connection_tasks()]  # type: ignore[union-attr]


@pytest.mark.redis
@pytest.mark.parametrize("redis_state", ["answering", "frozen"])
async def test_sockets_that_vanish_leave_no_task_behind(
    settings: Settings, tmp_path: Any, redis_state: str
) -> None:
    """Clients that drop their TCP connection without a goodbye, many at once, with a
    presence refresh running all the time: every handler and task of theirs ends within
    a bound, and their presence goes (at once, or when Redis is frozen, once it expires)."""
    from tests.support.redis_server import redis_server

    with redis_server(tmp_path / "redis") as redis:
        quick = settings.model_copy(
            update={
                "redis_url": redis.url,
                "presence_ttl_seconds": 0.3 if redis_state == "answering" else 1.0,
                "host_grace_seconds": 600.0,
            }
        )
        application = create_app(quick)
        async with application.router.lifespan_context(application):
            transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 50003))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                host = await _quick_user(http, "host")
                fan = await _quick_user(http, "fan")
                sid = (await _live_space(http, host))["id"]
                other = (await _live_space(http, fan))["id"]
                bus: Bus = application.state.bus
                async for base in serve(application):
                    sockets = [await WsClient.open(base, fan.token) for _ in range(12)]
                    for c in sockets:
                        await c.subscribe(sid)
                        await c.subscribe(other)
                    assert await bus.present(sid) == {fan.id}
                    await asyncio.sleep(0.3)  # presence refreshes keep running meanwhile
                    if redis_state == "frozen":
                        redis.freeze()
                        await asyncio.sleep(0.2)
                    for c in sockets:
                        c.conn.transport.abort()  # gone without a close frame
                    left = await _no_connection_tasks_within(12.0)
                    assert left == [], left
                    if redis_state == "frozen":
                        redis.thaw()

                    async def fan_gone() -> bool:
                        return await bus.present(sid) == set() == await bus.present(other)

                    assert await _until(fan_gone, timeout=5.0)
                    # The server still serves new sockets.
                    c = await WsClient.open(base, fan.token)
                    await c.subscribe(sid)
                    await c.ping()
                    await c.close()
