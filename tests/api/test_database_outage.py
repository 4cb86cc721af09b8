"""PostgreSQL stopped and started again under a running `townhall serve`.

The test starts its own cluster (initdb + pg_ctl in a temporary directory), never the
machine's shared one. While the database is down, REST calls answer 503 with Retry-After
and the JSON error shape, a new WebSocket gets an error message and a close frame with
code 1013 (try again later), and the log says so once (no traceback per request). Once
the database is back, the same server answers again without a restart."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.support.postgres import own_postgres, postgres_bin_dir
from tests.support.server import running_server

pytestmark = pytest.mark.serial


def _ws_url(base: str, token: str) -> str:
    return base.replace("http://", "ws://") + f"/api/v1/ws?token={token}"


def _first_messages_and_close(base: str, token: str) -> tuple[list[dict[str, Any]], int | None]:
    """What a new WebSocket receives until the server closes it (bounded to 10 s)."""
    messages: list[dict[str, Any]] = []
    with connect(_ws_url(base, token), open_timeout=10, close_timeout=5) as ws:
        try:
            while True:
                messages.append(json.loads(ws.recv(timeout=10)))
        except ConnectionClosed as closed:
            return messages, closed.rcvd.code if closed.rcvd else None
        except TimeoutError:
            return messages, None


def _until_ok(call: Any, seconds: float = 30.0) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while True:
        r: httpx.Response = call()
        if r.status_code < 500 or time.monotonic() > deadline:
            return r
        time.sleep(0.3)


def test_postgres_stopped_under_the_server_gives_503_and_close_1013_then_recovers(
    tmp_path: Path,
) -> None:
    if postgres_bin_dir() is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl)")
    with own_postgres() as pg:
        env = {"TOWNHALL_DATABASE_URL": pg.url, "TOWNHALL_LOG_LEVEL": "info"}
        with (
            running_server(tmp_path / "data", env=env, timeout=120) as base,
            httpx.Client(base_url=base, timeout=30) as http,
        ):
            r = http.post(
                "/api/v1/auth/signup",
                json={"handle": "outage", "display_name": "O", "password": "long enough pw"},
            )
            assert r.status_code == 201, r.text
            token = r.json()["token"]
            auth = {"Authorization": f"Bearer {token}"}
            r = http.post(
                "/api/v1/spaces",
                json={"title": "Up and down", "visibility": "public"},
                headers=auth,
            )
            assert r.status_code == 201, r.text
            space_id = r.json()["id"]

            pg.stop("fast")

            for method, path in [
                ("GET", "/api/v1/me"),
                ("GET", f"/api/v1/spaces/{space_id}/snapshot"),
                ("POST", f"/api/v1/spaces/{space_id}/join"),
                ("POST", f"/api/v1/spaces/{space_id}/react"),
            ]:
                body = {"emoji": "👏"} if path.endswith("react") else None
                r = http.request(method, path, headers=auth, json=body)
                assert r.status_code == 503, (path, r.status_code, r.text)
                assert int(r.headers["Retry-After"]) > 0
                assert r.json()["error"]["code"] == "database_unavailable"
                assert r.json()["error"]["message"]
            assert http.get("/healthz").json()["database"] == "down"

            messages, code = _first_messages_and_close(base, token)
            assert code == 1013, (messages, code)
            assert [m["error"]["code"] for m in messages] == ["database_unavailable"]

            pg.start()

            r = _until_ok(lambda: http.get("/api/v1/me", headers=auth))
            assert r.status_code == 200, r.text
            assert r.json()["handle"] == "outage"
            r = http.post(f"/api/v1/spaces/{space_id}/join", headers=auth)
            assert r.status_code == 200, r.text
            with connect(_ws_url(base, token), open_timeout=10) as ws:
                ws.send(json.dumps({"op": "subscribe", "space_id": space_id}))
                first = json.loads(ws.recv(timeout=10))
                assert first["type"] == "snapshot", first
                assert first["data"]["space"]["id"] == space_id

    logs = "".join(p.read_text(errors="replace") for p in tmp_path.glob("server-*.log"))
    assert logs.count("database unavailable") == 1, logs
    assert logs.count("database available again") == 1, logs
    assert "Traceback" not in logs, logs
