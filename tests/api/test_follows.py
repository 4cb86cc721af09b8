"""The follow graph: follow, unfollow, lists with cursors, blocks."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import MakeUser


async def test_follow_unfollow_and_profile_flags(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    a = await make_user("anna")
    await make_user("ben")
    r = await client.post("/api/v1/users/ben/follow", headers=a.headers)
    assert r.status_code == 200 and r.json()["is_following"] is True
    assert r.json()["followers_count"] == 1
    # Following twice is idempotent.
    r = await client.post("/api/v1/users/BEN/follow", headers=a.headers)
    assert r.json()["followers_count"] == 1
    r = await client.delete("/api/v1/users/ben/follow", headers=a.headers)
    assert r.json()["is_following"] is False and r.json()["followers_count"] == 0


async def test_follow_errors(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    a = await make_user("cleo")
    r = await client.post("/api/v1/users/cleo/follow", headers=a.headers)
    assert r.status_code == 422 and r.json()["error"]["code"] == "follow_self"
    r = await client.post("/api/v1/users/ghost/follow", headers=a.headers)
    assert r.status_code == 404
    r = await client.post("/api/v1/users/" + "x" * 300 + "/follow", headers=a.headers)
    assert r.status_code == 404
    assert (await client.post("/api/v1/users/cleo/follow")).status_code == 401


async def test_cursor_pagination(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    star = await make_user("star")
    fans = [await make_user(f"fan{i}") for i in range(7)]
    for f in fans:
        assert (
            await client.post("/api/v1/users/star/follow", headers=f.headers)
        ).status_code == 200
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (
            await client.get("/api/v1/users/star/followers", params=params, headers=star.headers)
        ).json()
        seen += [u["handle"] for u in page["users"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"fan{i}" for i in reversed(range(7))]
    following = (await client.get("/api/v1/users/fan3/following", headers=star.headers)).json()
    assert [u["handle"] for u in following["users"]] == ["star"]
    r = await client.get("/api/v1/users/star/followers?cursor=abc", headers=star.headers)
    assert r.status_code == 422 and r.json()["error"]["field"] == "cursor"
    r = await client.get("/api/v1/users/star/followers?limit=0", headers=star.headers)
    assert r.status_code == 422
    r = await client.get("/api/v1/users/star/friends", headers=star.headers)
    assert r.status_code == 422


async def test_block_removes_follows_both_ways_and_stops_following(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    dan = await make_user("dan")
    eve = await make_user("eve")
    await client.post("/api/v1/users/eve/follow", headers=dan.headers)
    await client.post("/api/v1/users/dan/follow", headers=eve.headers)
    r = await client.post("/api/v1/users/eve/block", headers=dan.headers)
    assert r.status_code == 200 and r.json()["is_blocked"] is True
    assert r.json()["is_following"] is False and r.json()["follows_you"] is False

    r = await client.post("/api/v1/users/dan/follow", headers=eve.headers)
    assert r.status_code == 403 and r.json()["error"]["code"] == "blocked"
    r = await client.post("/api/v1/users/eve/follow", headers=dan.headers)
    assert r.status_code == 409 and r.json()["error"]["code"] == "you_blocked"
    r = await client.post("/api/v1/users/dan/block", headers=dan.headers)
    assert r.status_code == 422

    assert (await client.get("/api/v1/users/dan/followers", headers=dan.headers)).json()[
        "users"
    ] == []
    r = await client.delete("/api/v1/users/eve/block", headers=dan.headers)
    assert r.json()["is_blocked"] is False
    r = await client.post("/api/v1/users/dan/follow", headers=eve.headers)
    assert r.status_code == 200


async def test_people_search_by_handle_or_name(client: httpx.AsyncClient, make_user: Any) -> None:
    me = await make_user("mee", "Me Myself")
    ann = await make_user("annie", "Ann Lee")
    await make_user("anna", "Anna Bell")
    await make_user("bob", "Bob Annand")
    shy = await make_user("shy", "Ann Shy")

    async def found(q: str, who: Any = me) -> list[str]:
        r = await client.get("/api/v1/users", params={"q": q}, headers=who.headers)
        assert r.status_code == 200, r.text
        return [u["handle"] for u in r.json()["users"]]

    # Handles by prefix (an exact handle first), display names anywhere, any case.
    assert await found("anna") == ["anna", "bob"]
    assert await found("@ANNIE") == ["annie"]
    assert await found("lee") == ["annie"]
    assert await found("ann") == ["anna", "annie", "bob", "shy"]
    assert await found("%") == []
    # Someone who blocked me is not found by me.
    r = await client.post("/api/v1/users/mee/block", headers=shy.headers)
    assert r.status_code == 200, r.text
    assert await found("ann") == ["anna", "annie", "bob"]
    assert await found("ann", ann) == ["anna", "annie", "bob", "shy"]
    r = await client.get("/api/v1/users", params={"q": ""}, headers=me.headers)
    assert r.status_code == 422
    r = await client.get("/api/v1/users", params={"q": "ann"})
    assert r.status_code == 401
