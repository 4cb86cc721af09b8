"""Notifications: who is notified, listing with cursors, unread counts, marking read, pushes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from townhall.api.schemas.notifications import InviteNotice, SpaceStartedNotice
from townhall.api.schemas.spaces import UserBrief
from townhall.api.services import notifications
from townhall.bus import Bus

_BY = UserBrief(id=1, handle="host", display_name="Host")


def _invite(n: int | str) -> InviteNotice:
    """An invitation numbered by its title."""
    return InviteNotice(space_id="abcdefABCDEF", title=str(n), by=_BY, role="speaker")


async def _notify(app: Any, user_ids: list[int], n: int) -> None:
    async with app.state.db.session() as session:
        await notifications.notify(session, user_ids, _invite(n))


async def _items(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> Any:
    r = await client.get("/api/v1/notifications", headers=headers, params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def _unread(client: httpx.AsyncClient, headers: dict[str, str]) -> int:
    r = await client.get("/api/v1/notifications/unread_count", headers=headers)
    assert r.status_code == 200, r.text
    return int(r.json()["count"])


async def test_followers_are_notified_except_blocked_and_the_actor(
    app: Any, client: httpx.AsyncClient, make_user: Any
) -> None:
    host = await make_user("host")
    fan = await make_user("fan")
    shy = await make_user("shy")  # follows host, then blocks host
    banned = await make_user("banned")  # follows host, host blocks them
    reminder = await make_user("reminder")  # does not follow, set a reminder
    stranger = await make_user("stranger")
    for u in (fan, shy, banned):
        r = await client.post("/api/v1/users/host/follow", headers=u.headers)
        assert r.status_code == 200, r.text
    assert (await client.post("/api/v1/users/host/block", headers=shy.headers)).status_code == 200
    assert (
        await client.post("/api/v1/users/banned/block", headers=host.headers)
    ).status_code == 200

    by = UserBrief(id=host.id, handle="host", display_name="Host")
    notice = SpaceStartedNotice(space_id="abcdefABCDEF", title="Hello", by=by)
    data = notice.model_dump(mode="json")
    async with app.state.db.session() as session:
        sent = await notifications.notify_followers(
            session, host.id, notice, also=[reminder.id, host.id]
        )
    assert len(sent) == 2

    for u in (fan, reminder):
        body = await _items(client, u.headers)
        assert [(i["kind"], i["data"], i["read"]) for i in body["items"]] == [
            ("space.started", data, False)
        ]
        assert await _unread(client, u.headers) == 1
    for u in (host, shy, banned, stranger):
        assert (await _items(client, u.headers))["items"] == []
        assert await _unread(client, u.headers) == 0


async def test_list_pages_newest_first_without_gaps(
    app: Any, client: httpx.AsyncClient, make_user: Any
) -> None:
    bob = await make_user("bob")
    other = await make_user("other")
    for n in range(25):
        await _notify(app, [bob.id, other.id], n)
    seen: list[int] = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 10}
        if cursor:
            params["cursor"] = cursor
        body = await _items(client, bob.headers, **params)
        seen += [int(item["data"]["title"]) for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == list(range(24, -1, -1))
    default = await _items(client, bob.headers)
    assert len(default["items"]) == 20 and default["next_cursor"] is not None


async def test_mark_read_by_ids_and_all(
    app: Any, client: httpx.AsyncClient, make_user: Any
) -> None:
    bob = await make_user("bob")
    eve = await make_user("eve")
    await _notify(app, [bob.id], 1)
    await _notify(app, [bob.id], 2)
    await _notify(app, [bob.id], 3)
    await _notify(app, [eve.id], 9)
    bob_ids = [i["id"] for i in (await _items(client, bob.headers))["items"]]
    eve_id = (await _items(client, eve.headers))["items"][0]["id"]

    # Eve cannot mark Bob's notifications read; her own is unaffected by his ids.
    r = await client.post("/api/v1/notifications/read", headers=eve.headers, json={"ids": bob_ids})
    assert r.status_code == 200 and r.json() == {"marked": 0, "unread": 1}
    assert await _unread(client, bob.headers) == 3

    r = await client.post(
        "/api/v1/notifications/read", headers=bob.headers, json={"ids": [bob_ids[0], eve_id]}
    )
    assert r.status_code == 200 and r.json() == {"marked": 1, "unread": 2}
    items = (await _items(client, bob.headers))["items"]
    assert [i["read"] for i in items] == [True, False, False]
    assert await _unread(client, eve.headers) == 1

    r = await client.post("/api/v1/notifications/read", headers=bob.headers, json={"all": True})
    assert r.status_code == 200 and r.json() == {"marked": 2, "unread": 0}
    assert all(i["read"] for i in (await _items(client, bob.headers))["items"])
    assert await _unread(client, eve.headers) == 1


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"ids": [1], "all": True},
        {"ids": ["x"]},
        {"ids": [0]},
        {"ids": list(range(1, 502))},
        {"all": "yes"},
        {"everything": True},
    ],
)
async def test_mark_read_rejects_bad_bodies(
    app: Any, client: httpx.AsyncClient, make_user: Any, body: dict[str, Any]
) -> None:
    bob = await make_user("bob")
    await _notify(app, [bob.id], 1)
    r = await client.post("/api/v1/notifications/read", headers=bob.headers, json=body)
    assert r.status_code == 422, r.text
    assert "code" in r.json()["error"]
    assert await _unread(client, bob.headers) == 1  # nothing changed


async def test_bad_cursor_and_no_auth(client: httpx.AsyncClient, make_user: Any) -> None:
    bob = await make_user("bob")
    r = await client.get("/api/v1/notifications", headers=bob.headers, params={"cursor": "abc"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_cursor"
    r = await client.get("/api/v1/notifications", headers=bob.headers, params={"limit": 0})
    assert r.status_code == 422
    assert (await client.get("/api/v1/notifications")).status_code == 401
    assert (await client.get("/api/v1/notifications/unread_count")).status_code == 401
    assert (await client.post("/api/v1/notifications/read", json={"all": True})).status_code == 401


async def test_push_happens_after_commit_and_never_on_rollback(app: Any, make_user: Any) -> None:
    bob = await make_user("bob")
    bus: Bus = app.state.bus
    channel = await bus.subscribe_user(bob.id)
    try:
        with pytest.raises(RuntimeError):
            async with app.state.db.session() as session:
                await notifications.notify(session, [bob.id], _invite("rolled back"))
                raise RuntimeError("the request failed after notifying")
        with pytest.raises(TimeoutError):
            await channel.get(0.3)

        async with app.state.db.session() as session:
            stored = await notifications.notify(session, [bob.id], _invite("kept"))
            with pytest.raises(TimeoutError):  # not before the commit
                await channel.get(0.1)
        pushed = await channel.get(3.0)
        assert pushed == {"type": "notification", "data": stored[0].model_dump(mode="json")}
        assert pushed["data"]["data"]["title"] == "kept" and pushed["data"]["read"] is False
    finally:
        await channel.close()

    async with app.state.db.session() as session:
        page = (await notifications.list_page(session, bob.id, None, 10)).model_dump()
    assert [i["data"]["title"] for i in page["items"]] == ["kept"]
