"""Instance staff: roles, the review queue and its actions, the audit log, the word list,
and what every non-staff caller gets from /api/v1/admin (on SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.test_spaces_support import Spaces, error
from tests.support.evidence import write_tone_evidence
from townhall.api.services.staff import roles
from townhall.domain.staff import InstanceRole

ADMIN = "/api/v1/admin"


@pytest.fixture
def sp(client: httpx.AsyncClient) -> Spaces:
    return Spaces(client)


async def grant(app: Any, handle: str, role: str = "admin") -> None:
    """What `townhall admin grant` does (the operator at the command line)."""
    async with app.state.db.session() as session:
        await roles.grant(session, None, handle, InstanceRole(role))


async def staffed(app: Any, make_user: Any) -> tuple[Any, Any]:
    admin, mod = await make_user("root"), await make_user("mod")
    await grant(app, "root")
    await grant(app, "mod", "moderator")
    return admin, mod


# Every staff endpoint, and who may call it: "staff" (moderators and admins) or "admin".
ENDPOINTS: list[tuple[str, str, Any, str]] = [
    ("GET", "/staff", None, "staff"),
    ("GET", "/users/victim", None, "staff"),
    ("PUT", "/users/victim/role", {"role": "moderator"}, "admin"),
    ("PUT", "/users/victim/invite-quota", {"invite_quota": 3}, "admin"),
    ("POST", "/users/victim/actions", {"action": "warn", "reason": "r"}, "staff"),
    ("GET", "/reports", None, "staff"),
    ("GET", "/reports/{report}", None, "staff"),
    ("GET", "/evidence/{evidence}.ogg", None, "staff"),
    ("POST", "/reports/{report}/actions", {"action": "dismiss"}, "staff"),
    ("GET", "/audit", None, "admin"),
    ("GET", "/words", None, "admin"),
    ("POST", "/words", {"term": "zzyzx"}, "admin"),
    ("DELETE", "/words/{term}", None, "admin"),
    ("POST", "/invites", {"expires_in_days": 2}, "admin"),
]


async def test_only_staff_reach_the_admin_api(
    app: Any, client: httpx.AsyncClient, sp: Spaces, make_user: Any
) -> None:
    admin, mod = await staffed(app, make_user)
    member, victim = await make_user("member"), await make_user("victim")
    sid = (await sp.create(victim))["id"]
    await sp.ok(member, sid, "join")
    r = await sp.post(member, sid, "report", {"reason": "spam"})
    assert r.status_code == 201, r.text
    ids = {"report": r.json()["id"]}
    queue = (await client.get(f"{ADMIN}/reports", headers=mod.headers)).json()
    ids["evidence"] = queue["groups"][0]["evidence"][0]["id"]  # pending: nobody has audio
    write_tone_evidence(app.state.settings.data_dir, ids["evidence"], sid)
    assert await app.state.evidence.record(ids["evidence"])

    async def call(who: Any | None, method: str, path: str, body: Any) -> httpx.Response:
        headers = who.headers if who else {}
        url = ADMIN + path.format(**ids)
        return await client.request(method, url, json=body, headers=headers)

    for method, path, body, level in ENDPOINTS:
        if "{term}" in path:
            made = await call(admin, "POST", "/words", {"term": f"t{len(ids)}x"})
            ids["term"] = made.json()["id"]
        assert (await call(None, method, path, body)).status_code == 401, path
        error(
            await call(member, method, path, body),
            403,
            "staff_only" if level == "staff" else "admin_only",
        )
        got = await call(mod, method, path, body)
        if level == "admin":
            error(got, 403, "admin_only")
        else:
            assert got.status_code < 300, (path, got.text)


async def test_role_rules_protect_admins_and_the_last_admin(
    app: Any, client: httpx.AsyncClient, make_user: Any
) -> None:
    admin, mod = await staffed(app, make_user)
    other = await make_user("other")
    r = await client.put(f"{ADMIN}/users/root/role", json={"role": "member"}, headers=admin.headers)
    error(r, 403, "last_admin")
    r = await client.put(f"{ADMIN}/users/mod/role", json={"role": "admin"}, headers=mod.headers)
    error(r, 403, "admin_only")
    r = await client.post(
        f"{ADMIN}/users/root/actions", json={"action": "ban"}, headers=mod.headers
    )
    error(r, 403, "target_is_admin")
    r = await client.post(f"{ADMIN}/users/mod/actions", json={"action": "ban"}, headers=mod.headers)
    error(r, 403, "act_on_self")
    r = await client.put(f"{ADMIN}/users/other/role", json={"role": "admin"}, headers=admin.headers)
    assert r.status_code == 200 and r.json()["role"] == "admin"
    r = await client.put(f"{ADMIN}/users/root/role", json={"role": "member"}, headers=other.headers)
    assert r.json()["role"] == "member"  # two admins: one may step down
    listed = (await client.get(f"{ADMIN}/staff", headers=other.headers)).json()["staff"]
    assert {(u["handle"], u["role"]) for u in listed} == {("mod", "moderator"), ("other", "admin")}
    audit = (await client.get(f"{ADMIN}/audit?action=role.granted", headers=other.headers)).json()
    assert [(a["target_handle"], a["detail"]["role"]) for a in audit["records"]][:2] == [
        ("root", "member"),
        ("other", "admin"),
    ]


async def test_the_queue_merges_duplicate_reports_and_sorts(
    app: Any, client: httpx.AsyncClient, sp: Spaces, make_user: Any
) -> None:
    _, mod = await staffed(app, make_user)
    host, loud, a, b, c = [await make_user(n) for n in ("host", "loud", "ann", "bob", "cat")]
    sid = (await sp.create(host, title="Town square"))["id"]
    for who in (loud, a, b, c):
        await sp.ok(who, sid, "join")
    for who in (a, b, c):
        r = await sp.post(
            who, sid, "report", {"user_id": loud.id, "reason": f"abuse by {who.handle}"}
        )
        assert r.status_code == 201
    r = await sp.post(a, sid, "report", {"reason": "the whole room is spam"})
    assert r.status_code == 201

    newest = (await client.get(f"{ADMIN}/reports", headers=mod.headers)).json()["groups"]
    assert [(g["person"] and g["person"]["handle"], g["count"]) for g in newest] == [
        (None, 1),
        ("loud", 3),
    ]
    most = (await client.get(f"{ADMIN}/reports?sort=most", headers=mod.headers)).json()["groups"]
    group = most[0]
    assert group["count"] == 3 and group["space"]["title"] == "Town square"
    assert group["space"]["host_handle"] == "host" and group["space"]["state"] == "live"
    assert {r["reporter"] for r in group["reports"]} == {"ann", "bob", "cat"}
    assert group["history"]["reports"] == 3

    done = await client.post(
        f"{ADMIN}/reports/{group['id']}/actions",
        json={"action": "warn", "reason": "keep it civil"},
        headers=mod.headers,
    )
    assert done.status_code == 200, done.text
    assert len(done.json()["resolved_reports"]) == 3
    assert done.json()["audit"]["action"] == "user.warn"
    notes = (await client.get("/api/v1/notifications", headers=loud.headers)).json()["items"]
    assert notes[0]["kind"] == "moderation.warning"
    assert notes[0]["data"]["reason"] == "keep it civil"
    left = (await client.get(f"{ADMIN}/reports", headers=mod.headers)).json()["groups"]
    assert [g["count"] for g in left] == [1]
    again = await client.post(
        f"{ADMIN}/reports/{group['id']}/actions", json={"action": "dismiss"}, headers=mod.headers
    )
    error(again, 409, "report_resolved")
    closed = (await client.get(f"{ADMIN}/reports/{group['id']}", headers=mod.headers)).json()
    assert closed["status"] == "actioned" and closed["audit"][0]["reason"] == "keep it civil"
    error(await client.get(f"{ADMIN}/reports/99999", headers=mod.headers), 404, "report_not_found")


async def test_ban_ends_the_hosts_space_and_signs_them_out_until_restored(
    app: Any, client: httpx.AsyncClient, sp: Spaces, make_user: Any
) -> None:
    admin, mod = await staffed(app, make_user)
    host, fan = await make_user("host"), await make_user("fan")
    sid = (await sp.create(host))["id"]
    await sp.ok(fan, sid, "join")
    report = (await sp.post(fan, sid, "report", {"reason": "hate speech"})).json()

    r = await client.post(
        f"{ADMIN}/reports/{report['id']}/actions",
        json={"action": "ban", "reason": "hate speech, reviewed"},
        headers=mod.headers,
    )
    assert r.status_code == 200, r.text
    assert (await client.get("/api/v1/me", headers=host.headers)).status_code == 401
    space = (await sp.get(fan, sid)).json()
    assert space["state"] == "ended" and space["end_reason"] == "moderator_ended"
    login = {"handle": "host", "password": "correct horse"}
    error(await client.post("/api/v1/auth/login", json=login), 401, "account_banned")
    wrong = {"handle": "host", "password": "wrong horse!"}
    error(await client.post("/api/v1/auth/login", json=wrong), 401, "bad_credentials")

    r = await client.post(
        f"{ADMIN}/users/host/actions",
        json={"action": "restore", "reason": "appeal"},
        headers=mod.headers,
    )
    assert r.status_code == 200 and r.json()["banned"] is False
    client.cookies.clear()
    assert (await client.post("/api/v1/auth/login", json=login)).status_code == 200
    client.cookies.clear()

    r = await client.post(
        f"{ADMIN}/users/host/actions", json={"action": "suspend", "hours": 0}, headers=mod.headers
    )
    assert r.status_code == 422
    r = await client.post(
        f"{ADMIN}/users/host/actions", json={"action": "suspend", "hours": 2}, headers=mod.headers
    )
    assert r.status_code == 200 and r.json()["suspended_until"] is not None
    error(await client.post("/api/v1/auth/login", json=login), 401, "account_suspended")

    log = await client.get(f"{ADMIN}/audit?target_user_id={host.id}", headers=admin.headers)
    assert [a["action"] for a in log.json()["records"]] == [
        "user.suspend",
        "user.restore",
        "user.ban",
    ]
    assert log.json()["records"][2]["report_id"] == report["id"]
    assert log.json()["records"][2]["actor_handle"] == "mod"


async def test_staff_end_a_live_space_and_remove_a_recording(
    app: Any, client: httpx.AsyncClient, sp: Spaces, make_user: Any
) -> None:
    _, mod = await staffed(app, make_user)
    host, fan = await make_user("host"), await make_user("fan")
    sid = (await sp.create(host))["id"]
    await sp.ok(fan, sid, "join")
    report = (await sp.post(fan, sid, "report", {"reason": "raid"})).json()
    r = await client.post(
        f"{ADMIN}/reports/{report['id']}/actions", json={"action": "end_space"}, headers=mod.headers
    )
    assert r.status_code == 200, r.text
    assert (await sp.get(fan, sid)).json()["end_reason"] == "moderator_ended"
    assert (await client.get("/api/v1/me", headers=host.headers)).status_code == 200
    second = (await sp.post(fan, sid, "report", {"reason": "still there"})).json()
    r = await client.post(
        f"{ADMIN}/reports/{second['id']}/actions",
        json={"action": "remove_recording"},
        headers=mod.headers,
    )
    error(r, 409, "no_recording")


async def test_the_word_list_refuses_titles_topics_names_and_bios(
    app: Any, client: httpx.AsyncClient, sp: Spaces, make_user: Any
) -> None:
    admin = await make_user("root")
    await grant(app, "root")
    r = await client.post(f"{ADMIN}/words", json={"term": "  Scam "}, headers=admin.headers)
    assert r.status_code == 201 and r.json()["term"] == "scam"
    error(
        await client.post(f"{ADMIN}/words", json={"term": "SCAM"}, headers=admin.headers),
        409,
        "term_listed",
    )
    r = await client.post(
        "/api/v1/spaces",
        json={"title": "Crypto SCAM night", "visibility": "public"},
        headers=admin.headers,
    )
    error(r, 422, "blocked_term")
    r = await client.post(
        "/api/v1/spaces",
        json={"title": "Fine", "visibility": "public", "topics": ["scam"]},
        headers=admin.headers,
    )
    error(r, 422, "blocked_term")
    await sp.create(admin, title="Scammers are not scams")  # whole words only: "scams" is fine
    error(
        await client.patch("/api/v1/me", json={"bio": "my scam"}, headers=admin.headers),
        422,
        "blocked_term",
    )
    r = await client.post(
        "/api/v1/auth/signup",
        json={"handle": "newbie", "display_name": "Scam Bot", "password": "correct horse"},
    )
    error(r, 422, "blocked_term")
    terms = (await client.get(f"{ADMIN}/words", headers=admin.headers)).json()["terms"]
    r = await client.delete(f"{ADMIN}/words/{terms[0]['id']}", headers=admin.headers)
    assert r.status_code == 204
    assert (
        await client.patch("/api/v1/me", json={"bio": "my scam"}, headers=admin.headers)
    ).status_code == 200
