"""Accounts over the HTTP API: sign-up, sign-in, tokens, profile, deletion."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from tests.conftest import MakeUser
from townhall.api.app import create_app
from townhall.config import Settings
from townhall.store.db import Database, utcnow
from townhall.store.models import Token, User

SIGNUP = "/api/v1/auth/signup"
LOGIN = "/api/v1/auth/login"


def _err(r: httpx.Response) -> dict[str, Any]:
    body = r.json()
    assert "error" in body, body
    return dict(body["error"])


async def test_signup_then_me_with_bearer_and_cookie(client: httpx.AsyncClient) -> None:
    r = await client.post(
        SIGNUP, json={"handle": "Alice_1", "display_name": "Alice", "password": "hunter2 hunter3"}
    )
    assert r.status_code == 201
    body = r.json()
    assert body["user"]["handle"] == "Alice_1"
    assert body["token"].startswith("th_")
    assert "password" not in r.text and "hunter2" not in r.text
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie

    me = await client.get("/api/v1/me")  # the cookie from sign-up
    assert me.status_code == 200 and me.json()["handle"] == "Alice_1"
    client.cookies.clear()
    assert (await client.get("/api/v1/me")).status_code == 401
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.json()["followers_count"] == 0


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"handle": "ab", "display_name": "x", "password": "long enough"}, "handle"),
        ({"handle": "a" * 16, "display_name": "x", "password": "long enough"}, "handle"),
        ({"handle": "bad-char", "display_name": "x", "password": "long enough"}, "handle"),
        ({"handle": "good", "display_name": "", "password": "long enough"}, "display_name"),
        ({"handle": "good", "display_name": "x" * 51, "password": "long enough"}, "display_name"),
        ({"handle": "good", "display_name": "x", "password": "short"}, "password"),
        ({"handle": 12345, "display_name": "x", "password": "long enough"}, "handle"),
        ({"handle": "good", "display_name": "x"}, "password"),
        (
            {"handle": "good", "display_name": "x", "password": "long enough", "admin": True},
            "admin",
        ),
    ],
)
async def test_signup_rejects_bad_input(
    client: httpx.AsyncClient, payload: dict[str, Any], field: str
) -> None:
    r = await client.post(SIGNUP, json=payload)
    assert r.status_code == 422, r.text
    assert _err(r)["field"] == field
    # Nothing was stored: the handle is still free.
    if isinstance(payload.get("handle"), str) and 3 <= len(payload["handle"]) <= 15:
        ok = await client.post(
            SIGNUP,
            json={"handle": payload["handle"], "display_name": "x", "password": "long enough"},
        )
        assert ok.status_code in (201, 422)


async def test_handles_are_unique_case_insensitively(client: httpx.AsyncClient) -> None:
    ok = {"display_name": "B", "password": "long enough"}
    assert (await client.post(SIGNUP, json={"handle": "bob", **ok})).status_code == 201
    r = await client.post(SIGNUP, json={"handle": "BOB", **ok})
    assert r.status_code == 409 and _err(r)["code"] == "handle_taken"
    login = await client.post(LOGIN, json={"handle": "BoB", "password": "long enough"})
    assert login.status_code == 200 and login.json()["user"]["handle"] == "bob"


async def test_malformed_bodies_are_4xx(client: httpx.AsyncClient) -> None:
    r = await client.post(
        SIGNUP, content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422 and _err(r)["code"] == "invalid_json"
    r = await client.post(SIGNUP, json=[1, 2])
    assert r.status_code == 422
    r = await client.post(SIGNUP, content=b"\xff\xfe", headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500


async def test_login_wrong_password_and_logout_revokes(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    await make_user("carol")
    r = await client.post(LOGIN, json={"handle": "carol", "password": "wrong password"})
    assert r.status_code == 401 and _err(r)["code"] == "bad_credentials"
    r = await client.post(LOGIN, json={"handle": "nobody", "password": "whatever1"})
    assert r.status_code == 401 and _err(r)["code"] == "bad_credentials"

    r = await client.post(LOGIN, json={"handle": "carol", "password": "correct horse"})
    assert r.status_code == 200
    token = r.json()["token"]
    h = {"Authorization": f"Bearer {token}"}
    client.cookies.clear()
    assert (await client.post("/api/v1/auth/logout", headers=h)).status_code == 204
    r = await client.get("/api/v1/me", headers=h)
    assert r.status_code == 401 and _err(r)["code"] == "invalid_token"


async def test_bad_authorization_headers(client: httpx.AsyncClient) -> None:
    for value in ["Basic abc", "Bearer", "Bearer th_unknown", "Bearer " + "x" * 5000]:
        r = await client.get("/api/v1/me", headers={"Authorization": value})
        assert r.status_code == 401, value


async def test_api_tokens_list_create_revoke(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    dave = await make_user("dave")
    r = await client.post("/api/v1/me/tokens", json={"name": "my bot"}, headers=dave.headers)
    assert r.status_code == 201
    bot = r.json()
    bot_h = {"Authorization": f"Bearer {bot['token']}"}
    assert (await client.get("/api/v1/me", headers=bot_h)).json()["handle"] == "dave"

    listed = (await client.get("/api/v1/me/tokens", headers=dave.headers)).json()["tokens"]
    assert {t["name"] for t in listed} == {"web session", "my bot"}
    assert all("token" not in t for t in listed)
    assert [t["current"] for t in listed] == [True, False]

    r = await client.delete(f"/api/v1/me/tokens/{bot['id']}", headers=dave.headers)
    assert r.status_code == 204
    assert (await client.get("/api/v1/me", headers=bot_h)).status_code == 401
    r = await client.delete(f"/api/v1/me/tokens/{bot['id']}", headers=dave.headers)
    assert r.status_code == 404

    # Someone else's token cannot be revoked.
    erin = await make_user("erin")
    r = await client.delete(f"/api/v1/me/tokens/{listed[0]['id']}", headers=erin.headers)
    assert r.status_code == 404
    assert (await client.get("/api/v1/me", headers=dave.headers)).status_code == 200
    r = await client.post("/api/v1/me/tokens", json={"name": ""}, headers=dave.headers)
    assert r.status_code == 422


async def test_expired_token_is_refused(
    client: httpx.AsyncClient, make_user: MakeUser, app: Any
) -> None:
    frank = await make_user("frank")
    db: Database = app.state.db
    async with db.session() as s:
        await s.execute(update(Token).values(expires_at=utcnow() - timedelta(seconds=1)))
    r = await client.get("/api/v1/me", headers=frank.headers)
    assert r.status_code == 401 and _err(r)["code"] == "invalid_token"


async def test_edit_profile(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    gina = await make_user("gina")
    r = await client.patch(
        "/api/v1/me", json={"display_name": "Gina G", "bio": "hello"}, headers=gina.headers
    )
    assert r.status_code == 200 and r.json()["display_name"] == "Gina G"
    r = await client.patch("/api/v1/me", json={"bio": "x" * 161}, headers=gina.headers)
    assert r.status_code == 422 and _err(r)["field"] == "bio"
    r = await client.patch("/api/v1/me", json={"display_name": 3}, headers=gina.headers)
    assert r.status_code == 422
    me = (await client.get("/api/v1/me", headers=gina.headers)).json()
    assert me["bio"] == "hello" and me["display_name"] == "Gina G"  # nothing lost


async def test_delete_account_takes_its_data(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    hal = await make_user("hal")
    ivy = await make_user("ivy")
    await client.post("/api/v1/users/ivy/follow", headers=hal.headers)
    r = await client.request(
        "DELETE", "/api/v1/me", json={"password": "nope nope"}, headers=hal.headers
    )
    assert r.status_code == 401
    r = await client.request(
        "DELETE", "/api/v1/me", json={"password": "correct horse"}, headers=hal.headers
    )
    assert r.status_code == 204
    assert (await client.get("/api/v1/me", headers=hal.headers)).status_code == 401
    assert (await client.get("/api/v1/users/hal", headers=ivy.headers)).status_code == 404
    followers = (await client.get("/api/v1/users/ivy/followers", headers=ivy.headers)).json()
    assert followers["users"] == []
    # The handle is free again.
    assert (
        await client.post(
            SIGNUP, json={"handle": "hal", "display_name": "H", "password": "long enough"}
        )
    ).status_code == 201


async def test_signup_and_login_are_rate_limited(settings: Settings) -> None:
    limited = settings.model_copy(update={"auth_rate_limit": 3, "auth_rate_window": 60.0})
    application = create_app(limited)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, client=("10.9.9.9", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            codes = []
            for i in range(3):
                r = await c.post(LOGIN, json={"handle": f"user{i}", "password": "whatever1"})
                codes.append(r.status_code)
            r = await c.post(
                SIGNUP, json={"handle": "late", "display_name": "L", "password": "long enough"}
            )
            assert codes == [401, 401, 401]
            assert r.status_code == 429 and _err(r)["code"] == "rate_limited"
            assert "retry-after" in r.headers
        # Another address is limited per handle too.
        transport = httpx.ASGITransport(app=application, client=("10.9.9.10", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            for _ in range(3):
                await c.post(LOGIN, json={"handle": "victim", "password": "whatever1"})
        transport = httpx.ASGITransport(app=application, client=("10.9.9.11", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            r = await c.post(LOGIN, json={"handle": "VICTIM", "password": "whatever1"})
            assert r.status_code == 429


async def test_healthz(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["database"] == "up" and r.json()["bus"] == "up"


async def test_openapi_and_docs(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert "/api/v1/auth/signup" in spec["paths"]
    assert "/api/v1/users/{handle}/follow" in spec["paths"]
    assert (await client.get("/docs")).status_code == 200


async def test_passwords_are_argon2id_and_tokens_keyed_digests(
    client: httpx.AsyncClient, make_user: MakeUser, app: Any
) -> None:
    kim = await make_user("kim")
    async with app.state.db.session() as s:
        user = (await s.execute(select(User).where(User.handle == "kim"))).scalar_one()
        stored = (await s.execute(select(Token.token_hash))).scalars().all()
    assert user.password_hash.startswith("$argon2id$")
    assert "correct horse" not in user.password_hash
    assert kim.token not in stored
    assert hashlib.sha256(kim.token.encode()).hexdigest() not in stored  # keyed, not bare


async def test_changing_the_secret_key_signs_everyone_out(
    settings: Settings, make_user: MakeUser, client: httpx.AsyncClient
) -> None:
    lou = await make_user("lou")
    for key, expected in (("another key, 32 characters long", 401), (settings.secret_key, 200)):
        application = create_app(settings.model_copy(update={"secret_key": key}))
        async with application.router.lifespan_context(application):
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                r = await c.get("/api/v1/me", headers=lou.headers)
                assert r.status_code == expected, (key, r.text)


async def test_login_sets_the_cookie_and_logout_clears_it(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    await make_user("meg")
    r = await client.post(LOGIN, json={"handle": "meg", "password": "correct horse"})
    cookie = r.headers["set-cookie"].lower()
    assert "townhall_session=th_" in cookie
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    assert (await client.get("/api/v1/me")).status_code == 200  # the cookie alone signs in
    r = await client.post("/api/v1/auth/logout")
    assert r.status_code == 204
    cleared = r.headers["set-cookie"].lower()
    assert "townhall_session=" in cleared and ("max-age=0" in cleared or "expires=" in cleared)
    assert (await client.get("/api/v1/me")).status_code == 401


async def test_secure_cookies_behind_https(settings: Settings) -> None:
    secure = settings.model_copy(update={"cookie_secure": True})
    application = create_app(secure)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="https://t") as c:
            r = await c.post(
                SIGNUP, json={"handle": "sec", "display_name": "S", "password": "long enough"}
            )
            assert "secure" in r.headers["set-cookie"].lower()


async def test_every_api_route_asks_who_is_asking(app: Any, client: httpx.AsyncClient) -> None:
    """Without credentials every /api/v1 route but sign-up, login and the public listing
    of spaces (a visitor's home page) answers 401 (JSON)."""
    open_routes = {"/api/v1/auth/signup", "/api/v1/auth/login"}
    open_operations = {("get", "/api/v1/spaces")}
    fill = {
        "{space_id}": "abcdefghijkl",
        "{handle}": "someone",
        "{user_id}": "1",
        "{token_id}": "1",
        "{direction}": "followers",
        "{invite_id}": "1",
        "{report_id}": "1",
        "{term_id}": "1",
        "{evidence_id}": "1",
        "{clip_id}": "abcdefghijkl",
    }
    checked = 0
    for path, operations in app.openapi()["paths"].items():
        if not path.startswith("/api/v1") or path in open_routes:
            continue
        url = path
        for name, value in fill.items():
            url = url.replace(name, value)
        assert "{" not in url, f"add a value for {url}"
        for method in operations:
            if (method, path) in open_operations:
                continue
            r = await client.request(method.upper(), url, json={})
            assert r.status_code == 401, (method, path, r.status_code, r.text)
            assert r.json()["error"]["code"] == "not_signed_in"
            checked += 1
    assert checked >= 40


async def test_deleting_an_account_closes_its_spaces_with_events(
    app: Any, client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    from tests.api.test_spaces_support import Spaces, events

    sp = Spaces(client)
    host, fan, other = await make_user("nia"), await make_user("oli"), await make_user("pat")
    live = (await sp.create(host))["id"]
    soon = (await sp.create(host, scheduled_for=(utcnow() + timedelta(hours=1)).isoformat()))["id"]
    elsewhere = (await sp.create(other))["id"]
    await sp.ok(fan, live, "join")
    await sp.ok(host, elsewhere, "join")

    r = await client.request(
        "DELETE", "/api/v1/me", json={"password": "correct horse"}, headers=host.headers
    )
    assert r.status_code == 204, r.text
    ended = [e for e in await events(app, live) if e.type == "space.ended"]
    assert [e.data for e in ended] == [{"reason": "host_deleted"}]
    cancelled = [e for e in await events(app, soon) if e.type == "space.ended"]
    assert [e.data for e in cancelled] == [{"reason": "cancelled"}]
    assert (await sp.get(fan, soon)).status_code == 404  # gone with its host
    left = [e for e in await events(app, elsewhere) if e.type == "member.left"]
    assert [e.data["user_id"] for e in left] == [host.id]
    got = (await sp.get(other, elsewhere)).json()
    assert got["listener_count"] == 0
