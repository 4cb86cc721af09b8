"""Spaces API: lifecycle, validation, access, discovery, editing, history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.api.test_spaces_support import API, Spaces, error, event_types, events
from townhall.api.app import create_app
from townhall.api.services import spaces as service


@pytest.fixture
def sp(client: httpx.AsyncClient) -> Spaces:
    return Spaces(client)


def _soon(hours: float = 1) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


async def _kinds(client: httpx.AsyncClient, who: Any) -> list[str]:
    r = await client.get("/api/v1/notifications", headers=who.headers)
    assert r.status_code == 200, r.text
    return [n["kind"] for n in r.json()["items"]]


async def test_create_live_space_puts_host_on_stage_and_tells_followers(
    app: Any, client: httpx.AsyncClient, sp: Spaces, make_user: Any
) -> None:
    host, fan = await make_user("host"), await make_user("fan")
    r = await client.post(f"/api/v1/users/{host.handle}/follow", headers=fan.headers)
    assert r.status_code == 200, r.text
    space = await sp.create(host, title="  Morning   news ", topics=["News", "news", "Talk"])
    assert space["state"] == "live" and len(space["id"]) == 12
    assert space["title"] == "Morning news" and space["topics"] == ["News", "Talk"]
    assert space["host"]["id"] == host.id and space["stage_count"] == 1
    snap = await sp.snapshot(app, space["id"], host)
    assert [(s["user"]["id"], s["role"]) for s in snap["stage"]] == [(host.id, "host")]
    assert snap["me"]["role"] == "host" and snap["hand_queue"] == []
    assert await event_types(app, space["id"]) == ["space.started", "member.joined"]
    assert "space.started" in await _kinds(client, fan)
    async with app.state.db.session() as session:
        m = await service.membership(session, space["id"], host.id)
        assert m is not None and (m.role, m.muted) == ("host", True)
        assert await service.membership(session, space["id"], fan.id) is None


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"title": "x" * 71}, 422, "title_too_long", "title"),
        ({"title": "   "}, 422, "title_required", "title"),
        ({"topics": ["a", "b", "c", "d"]}, 422, "too_many_topics", "topics"),
        ({"visibility": "secret"}, 422, "invalid", "visibility"),
        ({"speaker_policy": "nobody"}, 422, "invalid", "speaker_policy"),
        ({"scheduled_for": "2001-01-01T00:00:00+00:00"}, 422, "schedule_in_past", None),
        ({"scheduled_for": "later"}, 422, "invalid", "scheduled_for"),
        ({"guest_ids": [99999]}, 422, "unknown_user", "guest_ids"),
        ({"surprise": 1}, 422, "invalid", "surprise"),
    ],
)
async def test_bad_input_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient,
    make_user: Any,
    body: dict[str, Any],
    status: int,
    code: str,
    field: str | None,
) -> None:
    host = await make_user("host")
    payload = {"title": "Fine", "visibility": "public"} | body
    r = await client.post(API, json=payload, headers=host.headers)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code
    if field:
        assert err["field"] == field
    for state in ("live", "scheduled"):
        listed = await client.get(API, params={"state": state}, headers=host.headers)
        assert listed.json()["spaces"] == []


async def test_schedule_limits_and_needs_sign_in(client: httpx.AsyncClient, make_user: Any) -> None:
    host = await make_user("host")
    far = (datetime.now(UTC) + timedelta(days=31)).isoformat()
    r = await client.post(
        API, json={"title": "t", "visibility": "public", "scheduled_for": far}, headers=host.headers
    )
    error(r, 422, "schedule_too_far")
    r = await client.post(API, json={"title": "t", "visibility": "public"})
    assert r.status_code == 401


async def test_scheduled_space_starts_or_cancels_only_by_host(
    app: Any, client: httpx.AsyncClient, sp: Spaces, make_user: Any
) -> None:
    host, other, keen = await make_user("host"), await make_user("other"), await make_user("keen")
    fan = await make_user("fan")
    await client.post(f"/api/v1/users/{host.handle}/follow", headers=fan.headers)
    space = await sp.create(host, scheduled_for=_soon(2))
    sid = space["id"]
    assert await _kinds(client, fan) == []  # scheduling is not starting
    await sp.ok(fan, sid, "reminder")
    assert space["state"] == "scheduled" and space["started_at"] is None
    error(await sp.post(other, sid, "join"), 409, "space_not_live")
    assert (await sp.ok(keen, sid, "reminder"))["reminder_set"] is True
    assert (await sp.get(keen, sid)).json()["reminder_set"] is True
    error(await sp.post(other, sid, "start"), 403, "host_only")
    error(await sp.post(other, sid, "cancel"), 403, "host_only")
    assert (await sp.get(host, sid)).json()["state"] == "scheduled"
    started = await sp.ok(host, sid, "start")
    assert started["state"] == "live" and started["started_at"]
    assert await _kinds(client, keen) == ["space.reminder"]
    assert await _kinds(client, fan) == ["space.started"]  # once, though also a reminder holder
    error(await sp.post(host, sid, "start"), 409, "not_scheduled")
    error(await sp.post(host, sid, "cancel"), 409, "not_scheduled")
    error(await sp.post(keen, sid, "reminder"), 409, "not_scheduled")

    later = await sp.create(host, scheduled_for=_soon(3))
    cancelled = await sp.ok(host, later["id"], "cancel")
    assert cancelled["state"] == "cancelled"
    error(await sp.post(other, later["id"], "join"), 409, "space_ended")
    assert [e.data for e in await events(app, later["id"])] == [{"reason": "cancelled"}]


async def test_end_is_the_hosts_and_history_shows_who_came(
    app: Any, client: httpx.AsyncClient, sp: Spaces, make_user: Any
) -> None:
    host, a, b = await make_user("host"), await make_user("ann"), await make_user("bob")
    sid = (await sp.create(host))["id"]
    await sp.ok(a, sid, "join")
    await sp.ok(b, sid, "join")
    assert (await sp.get(a, sid)).json()["listener_count"] == 2
    await sp.ok(b, sid, "leave")
    await sp.ok(b, sid, "join")
    # Bob speaks for a while, then steps down: the recap still lists him as a speaker.
    await sp.ok(b, sid, "hand")
    await sp.ok(host, sid, f"hands/{b.id}/approve")
    await sp.ok(b, sid, "step-down")
    error(await sp.get(a, sid, "history"), 409, "space_not_ended")
    error(await sp.post(a, sid, "end"), 403, "host_only")
    ended = await sp.ok(host, sid, "end")
    assert ended["state"] == "ended" and ended["end_reason"] == "host_ended"
    error(await sp.post(host, sid, "end"), 409, "not_live")
    error(await sp.post(a, sid, "join"), 409, "space_ended")
    error(await sp.post(a, sid, "hand"), 409, "space_ended")
    got = (await sp.get(a, sid)).json()
    assert got["listener_count"] == 0 and got["history"]["peak_listeners"] == 2
    assert got["history"]["total_listeners"] == 2
    assert [u["handle"] for u in got["history"]["speakers"]] == ["host", "bob"]
    hist = (await sp.get(a, sid, "history")).json()
    assert hist["duration_seconds"] >= 0 and hist["peak_listeners"] == 2
    stays = [(s["user"]["handle"], s["left_at"] is not None) for s in hist["attendance"]]
    assert stays == [("host", True), ("ann", True), ("bob", True), ("bob", True)]
    assert (await event_types(app, sid))[-1] == "space.ended"
    async with app.state.db.session() as session:
        assert await service.membership(session, sid, a.id) is None


async def test_system_end_for_host_grace(app: Any, sp: Spaces, make_user: Any) -> None:
    host = await make_user("host")
    sid = (await sp.create(host))["id"]
    async with app.state.db.session() as session:
        assert await service.live_space_hosts(session) == [(sid, host.id)]
        await service.end_space(session, app.state.bus, sid, "host_gone")
    got = (await sp.get(host, sid)).json()
    assert (got["state"], got["end_reason"]) == ("ended", "host_gone")
    from townhall.domain.errors import Conflict

    with pytest.raises(Conflict):
        async with app.state.db.session() as session:
            await service.end_space(session, app.state.bus, sid, "host_gone")


async def test_private_space_admits_guests_and_followers_only(
    app: Any, client: httpx.AsyncClient, sp: Spaces, make_user: Any
) -> None:
    host, guest, fan, stranger = (
        await make_user("host"),
        await make_user("guest"),
        await make_user("fan"),
        await make_user("stranger"),
    )
    await client.post(f"/api/v1/users/{host.handle}/follow", headers=fan.headers)
    sid = (await sp.create(host, visibility="private", guest_ids=[guest.id]))["id"]
    assert await _kinds(client, guest) == ["space.started"]
    assert await _kinds(client, fan) == []  # a private space is not announced to followers
    error(await sp.get(stranger, sid), 404, "space_not_found")
    error(await sp.post(stranger, sid, "join"), 404, "space_not_found")
    error(await sp.post(fan, sid, "join"), 404, "space_not_found")
    async with app.state.db.session() as session:
        assert not await service.can_view(session, sid, stranger.id)
        assert await service.can_view(session, sid, guest.id)
        assert not await service.can_view(session, "nope", guest.id)
    listed = await client.get(API, headers=stranger.headers)
    assert listed.json()["spaces"] == []
    listed = await client.get(API, headers=guest.headers)
    assert [s["id"] for s in listed.json()["spaces"]] == [sid]
    assert (await sp.ok(guest, sid, "join"))["me"]["role"] == "listener"
    error(await sp.post(guest, sid, "guests", {"user_ids": [stranger.id]}), 403, "host_only")
    assert (await sp.ok(host, sid, "guests", {"user_ids": [stranger.id]}))["added"] == [stranger.id]
    assert await _kinds(client, stranger) == ["invite"]
    await sp.ok(stranger, sid, "join")

    open_to_fans = (await sp.create(host, visibility="private", followers_may_join=True))["id"]
    await sp.ok(fan, open_to_fans, "join")
    error(await sp.post(guest, open_to_fans, "join"), 404, "space_not_found")


async def test_blocked_by_host_cannot_see_or_join(
    client: httpx.AsyncClient, sp: Spaces, make_user: Any
) -> None:
    host, pest = await make_user("host"), await make_user("pest")
    sid = (await sp.create(host))["id"]
    r = await client.post(f"/api/v1/users/{pest.handle}/block", headers=host.headers)
    assert r.status_code == 200, r.text
    error(await sp.post(pest, sid, "join"), 403, "blocked_by_host")
    error(await sp.get(pest, sid), 403, "blocked_by_host")
    assert (await client.get(API, headers=pest.headers)).json()["spaces"] == []


async def test_discovery_orders_followed_first_then_by_listeners_and_searches(
    client: httpx.AsyncClient, sp: Spaces, make_user: Any
) -> None:
    me, friend, busy, quiet, cohost_friend = (
        await make_user("mee"),
        await make_user("friend"),
        await make_user("busy"),
        await make_user("quiet"),
        await make_user("pal"),
    )
    crowd = [await make_user(f"crowd{i}") for i in range(3)]
    for u in (friend, cohost_friend):
        await client.post(f"/api/v1/users/{u.handle}/follow", headers=me.headers)
    friend_space = (await sp.create(friend, title="Friend talk"))["id"]
    busy_space = (await sp.create(busy, title="Busy room", topics=["Jazz"]))["id"]
    quiet_space = (await sp.create(quiet, title="Quiet room"))["id"]
    co_space = (await sp.create(quiet, title="Co-hosted"))["id"]
    await sp.ok(cohost_friend, co_space, "join")
    await sp.ok(quiet, co_space, "invite", {"user_id": cohost_friend.id, "role": "cohost"})
    await sp.ok(cohost_friend, co_space, "invitation/accept")
    for u in crowd:
        await sp.ok(u, busy_space, "join")
    await sp.ok(crowd[0], quiet_space, "join")
    await sp.ok(crowd[1], co_space, "join")
    await sp.ok(crowd[2], friend_space, "join")
    await sp.ok(crowd[0], co_space, "join")

    listed = (await client.get(API, params={"state": "live"}, headers=me.headers)).json()
    order = [s["id"] for s in listed["spaces"]]
    assert order == [co_space, friend_space, busy_space, quiet_space]
    counts = {s["id"]: s["listener_count"] for s in listed["spaces"]}
    assert counts == {co_space: 2, friend_space: 1, busy_space: 3, quiet_space: 1}

    found = await client.get(API, params={"q": "jazz"}, headers=me.headers)
    assert [s["id"] for s in found.json()["spaces"]] == [busy_space]
    found = await client.get(API, params={"q": "ROOM"}, headers=me.headers)
    assert {s["id"] for s in found.json()["spaces"]} == {busy_space, quiet_space}
    found = await client.get(API, params={"q": "%"}, headers=me.headers)
    assert found.json()["spaces"] == []
    r = await client.get(API, params={"state": "ended"}, headers=me.headers)
    assert r.status_code == 422


async def test_signed_out_visitors_see_the_public_live_spaces(
    client: httpx.AsyncClient, sp: Spaces, make_user: Any
) -> None:
    host, friend = await make_user("host"), await make_user("friend")
    public = (await sp.create(host, title="Open to all"))["id"]
    await sp.create(friend, title="Just us", visibility="private")
    await sp.ok(friend, public, "join")
    listed = await client.get(API, params={"state": "live"})
    assert listed.status_code == 200
    spaces = listed.json()["spaces"]
    assert [s["id"] for s in spaces] == [public]
    assert spaces[0]["listener_count"] == 1 and spaces[0]["stage_count"] == 1
    upcoming = (await client.get(API, params={"state": "scheduled"})).json()["spaces"]
    assert upcoming == []
    r = await client.get(f"{API}/{public}")  # the room itself still asks who you are
    assert r.status_code == 401


async def test_scheduled_listing_soonest_first(
    client: httpx.AsyncClient, sp: Spaces, make_user: Any
) -> None:
    host, me = await make_user("host"), await make_user("mee")
    late = (await sp.create(host, title="Late", scheduled_for=_soon(5)))["id"]
    early = (await sp.create(host, title="Early", scheduled_for=_soon(1)))["id"]
    await sp.create(host, title="Now")
    listed = await client.get(API, params={"state": "scheduled"}, headers=me.headers)
    assert [s["id"] for s in listed.json()["spaces"]] == [early, late]


async def test_share_links_use_the_public_url(
    settings: Any, client: httpx.AsyncClient, sp: Spaces, make_user: Any
) -> None:
    host = await make_user("host")
    created = await sp.create(host)
    assert created["share_url"] == f"http://testserver/#/space/{created['id']}"
    got = (await sp.get(host, created["id"])).json()
    assert got["share_url"] == created["share_url"]

    public = settings.model_copy(update={"public_url": "https://talk.example.org/"})
    application = create_app(public)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://internal:8080") as c:
            r = await c.get(f"{API}/{created['id']}", headers=host.headers)
            assert r.json()["share_url"] == f"https://talk.example.org/#/space/{created['id']}"
            r = await c.post(
                API,
                json={"title": "Later", "visibility": "public", "scheduled_for": _soon(1)},
                headers=host.headers,
            )
            assert r.json()["share_url"].startswith("https://talk.example.org/#/space/")


async def test_listing_one_hosts_spaces_for_a_profile(
    client: httpx.AsyncClient, sp: Spaces, make_user: Any
) -> None:
    host, other, me = await make_user("host"), await make_user("other"), await make_user("mee")
    live = (await sp.create(host, title="Mine live"))["id"]
    later = (await sp.create(host, title="Mine later", scheduled_for=_soon(2)))["id"]
    await sp.create(host, title="Mine secret", visibility="private")
    await sp.create(other, title="Not mine")
    await sp.create(other, title="Not mine later", scheduled_for=_soon(1))

    def ids(r: httpx.Response) -> list[str]:
        assert r.status_code == 200, r.text
        return [s["id"] for s in r.json()["spaces"]]

    params = {"state": "live", "host": "HOST"}
    assert ids(await client.get(API, params=params, headers=me.headers)) == [live]
    params = {"state": "scheduled", "host": "host"}
    assert ids(await client.get(API, params=params, headers=me.headers)) == [later]
    r = await client.get(API, params={"host": "nobody"}, headers=me.headers)
    error(r, 404, "user_not_found")


async def test_host_edits_live_space(
    app: Any, client: httpx.AsyncClient, sp: Spaces, make_user: Any
) -> None:
    host, other = await make_user("host"), await make_user("other")
    sid = (await sp.create(host, title="Before", topics=["a"]))["id"]
    r = await client.patch(f"{API}/{sid}", json={"title": "After"}, headers=other.headers)
    error(r, 403, "host_only")
    r = await client.patch(f"{API}/{sid}", json={"title": "x" * 71}, headers=host.headers)
    error(r, 422, "title_too_long")
    r = await client.patch(
        f"{API}/{sid}",
        json={"title": "After", "topics": ["b", "c"], "speaker_policy": "invited"},
        headers=host.headers,
    )
    assert r.status_code == 200, r.text
    got = (await sp.get(other, sid)).json()
    assert (got["title"], got["topics"], got["speaker_policy"]) == (
        "After",
        ["b", "c"],
        "invited",
    )
    assert (await event_types(app, sid))[-1] == "space.updated"


async def test_unknown_space_is_404(sp: Spaces, make_user: Any) -> None:
    who = await make_user("who")
    for action in ("join", "leave", "hand", "end", "start"):
        error(await sp.post(who, "nope", action), 404, "space_not_found")
    error(await sp.get(who, "x" * 40), 404, "space_not_found")
