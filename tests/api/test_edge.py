"""The HTTP edge: body limits, Origin (CSRF and cross-site WebSocket) checks, JSON-only
bodies and security headers, through the real app (and real uvicorn/`townhall serve`
where the network matters)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.typing import Origin

from tests.api.test_ws import WsClient, serve
from tests.support.server import server_process
from townhall.api.app import create_app
from townhall.config import Settings

LOGIN = "/api/v1/auth/login"
FOREIGN = "http://127.0.0.1:1"  # another port of the same host: same-site, other origin


def _err(r: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = r.json()["error"]
    return body


# -- body size -------------------------------------------------------------


async def test_a_body_over_the_limit_is_refused_by_its_length(client: httpx.AsyncClient) -> None:
    body = b'{"handle": "x", "password": "' + b"a" * 70_000 + b'"}'
    r = await client.post(LOGIN, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert _err(r)["code"] == "too_large" and "65536" in _err(r)["message"]
    # Under the limit the same route answers as usual.
    r = await client.post(LOGIN, json={"handle": "nobody", "password": "a" * 100})
    assert r.status_code == 401


async def test_a_streamed_body_is_cut_at_the_limit(client: httpx.AsyncClient) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"handle": "x", "password": "'
        for _ in range(1000):  # 16 MiB if all were read
            sent += 16384
            yield b"a" * 16384

    r = await client.post(LOGIN, content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and _err(r)["code"] == "too_large"
    assert sent < 200_000  # the rest was never asked for


async def test_media_offers_may_be_larger_than_other_json(
    client: httpx.AsyncClient, make_user: Any
) -> None:
    ann = await make_user("ann")
    sdp = "v=0\r\n" + "a=x-pad:" + "p" * 60_000 + "\r\n"
    big = {"sdp": sdp, "type": "offer"}
    r = await client.post("/api/v1/spaces/abcdefghijkl/media", json=big, headers=ann.headers)
    assert r.status_code in (403, 404), r.text  # past the edge: the space is unknown
    r = await client.post("/api/v1/spaces", json={"title": sdp * 2}, headers=ann.headers)
    assert r.status_code == 413


async def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def _stream_to(port: int, head: bytes, chunk: bytes, total: int) -> tuple[bytes, int]:
    """Send `head` then `chunk` repeatedly (up to `total` bytes) while reading the answer;
    stops when the server answers or closes. Returns (answer, bytes of body sent)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answer = bytearray()

    async def read() -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                answer.extend(data)

    reading = asyncio.create_task(read())
    sent = 0
    try:
        writer.write(head)
        while sent < total and not reading.done() and b"\r\n\r\n" not in answer:
            writer.write(chunk)
            await asyncio.wait_for(writer.drain(), 10)
            sent += len(chunk)
    except (ConnectionError, TimeoutError):
        pass
    await asyncio.wait_for(reading, 10)
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
    return bytes(answer), sent


@pytest.mark.serial
async def test_a_256_mib_login_body_does_not_grow_the_server(tmp_path: Path) -> None:
    """On a real `townhall serve`, 256 MiB sent to the unauthenticated login (once with a
    Content-Length, once chunked) is answered 413, a huge WebSocket message closes its
    socket, and the server's memory stays put."""
    total = 256 * 1024 * 1024
    data = tmp_path / "data"
    with server_process(data, {"TOWNHALL_SECRET_KEY": "k" * 32}) as (base, proc):
        port = int(base.rsplit(":", 1)[1])
        async with httpx.AsyncClient(base_url=base) as http:  # warm up the code paths
            for _ in range(3):
                r = await http.post(LOGIN, json={"handle": "nobody", "password": "x" * 10})
                assert r.status_code == 401
        before = await _rss_kib(proc.pid)
        chunk = b"a" * (1024 * 1024)
        sized = (
            f"POST {LOGIN} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {total}\r\n\r\n"
        ).encode()
        answer, _ = await _stream_to(port, sized, chunk, total)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert b'"too_large"' in answer
        chunked = (
            f"POST {LOGIN} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        ).encode()
        answer, _ = await _stream_to(
            port, chunked, f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n", total
        )
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert b'"too_large"' in answer
        # A 16 MiB WebSocket message (uvicorn's default limit) is refused before it is
        # buffered: the socket closes with 1009 (message too big).
        async with httpx.AsyncClient(base_url=base) as http:
            r = await http.post(
                "/api/v1/auth/signup",
                json={"handle": "bigws", "display_name": "B", "password": "correct horse"},
            )
            token = r.json()["token"]
        async with websockets.connect(
            f"ws://127.0.0.1:{port}/api/v1/ws?token={token}", open_timeout=10, close_timeout=5
        ) as ws:
            with contextlib.suppress(websockets.ConnectionClosed):
                await ws.send("x" * (16 * 1024 * 1024 - 1024))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        after = await _rss_kib(proc.pid)
        assert proc.poll() is None
        # 768 MB on the unlimited server; a few MiB of noise allowed.
        print(f"server RSS before {before} KiB, after {after} KiB")
        assert after - before < 24 * 1024, (before, after)
        async with httpx.AsyncClient(base_url=base) as http:  # and it still serves
            r = await http.post(LOGIN, json={"handle": "nobody", "password": "x" * 10})
            assert r.status_code == 401


# -- JSON only --------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None]
)
async def test_bodies_that_are_not_json_get_415(
    client: httpx.AsyncClient, make_user: Any, content_type: str | None
) -> None:
    bo = await make_user("bob")
    headers = dict(bo.headers)
    if content_type:
        headers["content-type"] = content_type
    r = await client.post(
        "/api/v1/spaces", content=b'{"title": "t", "visibility": "public"}', headers=headers
    )
    assert r.status_code == 415 and _err(r)["code"] == "unsupported_media_type"
    headers["content-type"] = "application/json; charset=utf-8"
    r = await client.post(
        "/api/v1/spaces", content=b'{"title": "t", "visibility": "public"}', headers=headers
    )
    assert r.status_code == 201, r.text


# -- Origin checks (CSRF, cross-site WebSocket hijacking) ----------------------


@pytest.fixture
async def live(app: Any) -> AsyncIterator[str]:
    async for address in serve(app):
        yield address


async def _signed_in(http: httpx.AsyncClient, handle: str) -> tuple[str, int]:
    r = await http.post(
        "/api/v1/auth/signup",
        json={"handle": handle, "display_name": handle, "password": "correct horse"},
    )
    assert r.status_code == 201, r.text
    http.cookies.clear()
    return str(r.json()["token"]), int(r.json()["user"]["id"])


async def test_cookie_requests_from_another_origin_are_refused(live: str) -> None:
    own = f"http://{live}"
    async with httpx.AsyncClient(base_url=own, timeout=10) as http:
        victim, _ = await _signed_in(http, "victim")
        await _signed_in(http, "mallory")
        cookie = {"cookie": f"townhall_session={victim}"}
        follow = "/api/v1/users/mallory/follow"
        for attack in (
            {"origin": FOREIGN},
            {"origin": "null"},
            {"origin": f"https://{live}"},  # another scheme is another origin
            {"sec-fetch-site": "same-site"},  # no Origin, but a browser says where from
            {"sec-fetch-site": "cross-site"},
        ):
            r = await http.post(follow, headers=cookie | attack)
            assert r.status_code == 403, (attack, r.text)
            assert _err(r)["code"] == "forbidden_origin"
        profile = await http.get("/api/v1/users/mallory", headers=cookie)
        assert profile.json()["is_following"] is False
        # Signing in from a foreign page (login CSRF) is refused too.
        r = await http.post(
            LOGIN,
            json={"handle": "mallory", "password": "correct horse"},
            headers={"origin": FOREIGN},
        )
        assert r.status_code == 403
        # The server's own pages, and non-browser clients (no Origin at all), may.
        r = await http.post(
            follow, headers=cookie | {"origin": own, "sec-fetch-site": "same-origin"}
        )
        assert r.status_code == 200, r.text
        r = await http.delete(follow, headers=cookie)
        assert r.status_code == 200, r.text
        # A bearer token is not the cookie: bots are not checked.
        bearer = {"authorization": f"Bearer {victim}", "origin": FOREIGN}
        assert (await http.post(follow, headers=bearer)).status_code == 200


async def test_public_url_and_allowed_origins_may_use_the_cookie(settings: Settings) -> None:
    allowed = settings.model_copy(
        update={
            "public_url": "https://talk.example.org",
            "allowed_origins": ["http://127.0.0.1:3000"],
            "cookie_secure": False,
        }
    )
    application = create_app(allowed)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 5))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            token, _ = await _signed_in(http, "pat")
            await _signed_in(http, "quin")
            cookie = {"cookie": f"townhall_session={token}"}
            for origin, expected in (
                ("https://talk.example.org", 200),
                ("https://TALK.example.org:443", 200),
                ("http://127.0.0.1:3000", 200),
                ("http://127.0.0.1:3001", 403),
                ("http://talk.example.org", 403),
            ):
                r = await http.post(
                    "/api/v1/users/quin/follow", headers=cookie | {"origin": origin}
                )
                assert r.status_code == expected, (origin, r.text)


async def test_websocket_handshakes_from_another_origin_are_refused(
    live: str, client: httpx.AsyncClient
) -> None:
    own = f"http://{live}"
    async with httpx.AsyncClient(base_url=own, timeout=10) as http:
        token, _ = await _signed_in(http, "wendy")
    host_token, _ = await _signed_in(client, "hostess")
    space = await client.post(
        "/api/v1/spaces",
        json={"title": "Secret", "visibility": "private"},
        headers={"authorization": f"Bearer {host_token}"},
    )
    assert space.status_code == 201, space.text
    sid = space.json()["id"]
    url = f"ws://{live}/api/v1/ws"
    cookie = {"Cookie": f"townhall_session={token}"}
    for origin in (FOREIGN, "null", "http://evil.example"):
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(
                url, additional_headers=cookie, origin=Origin(origin), open_timeout=5
            )
        assert refused.value.response.status_code == 403
    # The server's own page may; so may a token (not the cookie) from anywhere.
    for headers, origin, query in (
        (cookie, own, ""),
        ({}, FOREIGN, f"?token={token}"),
    ):
        conn = await websockets.connect(
            url + query,
            additional_headers=headers,
            origin=Origin(origin),
            open_timeout=5,
        )
        ws = WsClient(conn)
        try:
            await ws.ping()
            got = await ws.subscribe(sid)  # private and not a guest: nothing to see
            assert got[-1]["type"] == "error"
        finally:
            await ws.close()


# -- security headers ---------------------------------------------------------


async def test_every_response_carries_the_security_headers(client: httpx.AsyncClient) -> None:
    for path in ("/", "/js/app.js", "/api/v1/me", "/healthz", "/docs", "/openapi.json"):
        r = await client.get(path)
        assert r.status_code in (200, 401), path
        h = r.headers
        assert h["x-content-type-options"] == "nosniff", path
        assert h["referrer-policy"] == "same-origin", path
        assert h["cross-origin-opener-policy"] == "same-origin", path
        assert h["x-frame-options"] == "DENY", path
        csp = {
            part.split()[0]: part.split()[1:]
            for part in h["content-security-policy"].split(";")
            if part.strip()
        }
        assert csp["default-src"] == ["'self'"], path
        assert csp["script-src"] == ["'self'"], path
        assert "'unsafe-inline'" not in h["content-security-policy"], path
        assert csp["frame-ancestors"] == ["'none'"], path
        assert csp["object-src"] == ["'none'"], path
        assert "'self'" in csp["connect-src"], path
    home_csp = (await client.get("/")).headers["content-security-policy"]
    assert "connect-src 'self' ws://testserver" in home_csp
    assert "media-src 'self' blob:" in home_csp


async def test_413_and_403_answers_carry_the_headers_too(client: httpx.AsyncClient) -> None:
    r = await client.post(
        LOGIN, content=b"x" * 100_000, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413 and r.headers["x-content-type-options"] == "nosniff"
    r = await client.post(LOGIN, json={}, headers={"origin": FOREIGN})
    assert r.status_code == 403 and "content-security-policy" in r.headers


@pytest.mark.parametrize(
    ("public_url", "cookie_secure", "secure"),
    [
        ("", None, False),
        ("http://talk.example.org", None, False),
        ("https://talk.example.org", None, True),
        ("https://talk.example.org", False, False),
        ("", True, True),
    ],
)
async def test_the_cookie_is_secure_when_the_public_url_is_https(
    settings: Settings, public_url: str, cookie_secure: bool | None, secure: bool
) -> None:
    configured = settings.model_copy(
        update={"public_url": public_url, "cookie_secure": cookie_secure}
    )
    assert configured.secure_cookies is secure
    application = create_app(configured)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="https://t") as c:
            r = await c.post(
                "/api/v1/auth/signup",
                json={"handle": "sec", "display_name": "S", "password": "correct horse"},
            )
            assert r.status_code == 201
            cookie = r.headers["set-cookie"].lower()
            assert ("; secure" in cookie) is secure, cookie


async def test_docs_assets_come_from_the_package(client: httpx.AsyncClient) -> None:
    page = (await client.get("/docs")).text
    assert "cdn" not in page.lower() and "<script>" not in page
    for src in ("/docs/assets/swagger-ui/swagger-ui-bundle.js", "/docs/assets/init.js"):
        assert src in page
        r = await client.get(src)
        assert r.status_code == 200 and len(r.content) > 100
    lic = await client.get("/docs/assets/swagger-ui/LICENSE")
    assert "Apache License" in lic.text
    assert json.loads((await client.get("/openapi.json")).text)["info"]["title"] == "townhall"
