"""What reaches moderators by itself: a report pushed live to their WebSockets, report
floods refused, and captions that contain a listed term flagged to the review queue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.api.test_spaces_support import Spaces, error
from tests.api.test_staff import grant
from tests.api.test_ws import WsClient, serve
from townhall.api.services.spaces.extras import REPORTS_PER_WINDOW
from townhall.api.services.staff import alerts
from townhall.store import spaces as spaces_store


@pytest.fixture
async def base(app: Any) -> AsyncIterator[str]:
    async for address in serve(app):
        yield address


async def test_a_report_reaches_every_moderators_socket_live(
    app: Any, base: str, client: httpx.AsyncClient, make_user: Any
) -> None:
    mod, admin, host, fan = [await make_user(n) for n in ("mod", "root", "host", "fan")]
    await grant(app, "mod", "moderator")
    await grant(app, "root")
    sockets = [await WsClient.open(base, who.token) for who in (mod, admin, fan)]
    try:
        for ws in sockets:
            await ws.ping()
        sp = Spaces(client)
        sid = (await sp.create(host))["id"]
        await sp.ok(fan, sid, "join")
        report = await sp.post(fan, sid, "report", {"user_id": host.id, "reason": "spam"})
        assert report.status_code == 201
        for ws in sockets[:2]:
            pushed = await ws.recv_until(lambda m: m["type"] == "report.filed", limit=20)
            assert pushed[-1]["data"]["report_id"] == report.json()["id"]
            assert pushed[-1]["data"]["space_id"] == sid
        await sockets[2].silent_for(0.5)  # not staff: told nothing
    finally:
        for ws in sockets:
            await ws.close()


async def test_report_floods_are_refused(client: httpx.AsyncClient, make_user: Any) -> None:
    sp = Spaces(client)
    host, fan = await make_user("host"), await make_user("fan")
    sid = (await sp.create(host))["id"]
    await sp.ok(fan, sid, "join")
    assert (await sp.post(fan, sid, "report", {"reason": "spam"})).status_code == 201
    error(await sp.post(fan, sid, "report", {"reason": "spam!"}), 409, "already_reported")
    others = [await make_user(f"user{i}") for i in range(REPORTS_PER_WINDOW)]
    for other in others:
        await sp.ok(other, sid, "join")
    codes = [
        (await sp.post(fan, sid, "report", {"user_id": o.id, "reason": "x"})).status_code
        for o in others
    ]
    assert codes[: REPORTS_PER_WINDOW - 1] == [201] * (REPORTS_PER_WINDOW - 1)
    assert codes[-1] == 429


async def test_a_caption_with_a_listed_term_is_flagged_once_for_review(
    app: Any, client: httpx.AsyncClient, make_user: Any
) -> None:
    mod, host = await make_user("mod"), await make_user("host")
    await grant(app, "mod")
    sid = (await Spaces(client).create(host, title="Evening"))["id"]
    assert (
        await client.post("/api/v1/admin/words", json={"term": "scam"}, headers=mod.headers)
    ).status_code == 201
    async with app.state.db.session() as session:
        space = await spaces_store.get_space(session, sid)
        assert space is not None
        assert await alerts.flag_caption(session, space, host.id, "hello everyone", 1000) is None
        flagged = await alerts.flag_caption(session, space, host.id, "this is a Scam, buy", 65_000)
        assert flagged is not None
        again = await alerts.flag_caption(session, space, host.id, "scam again", 70_000)
        assert again is None
    groups = (await client.get("/api/v1/admin/reports", headers=mod.headers)).json()["groups"]
    assert len(groups) == 1 and groups[0]["count"] == 1
    item = groups[0]["reports"][0]
    assert item["reporter"] is None
    assert item["reason"] == 'word list: "scam" at 0:01:05: this is a Scam, buy'
    assert groups[0]["person"]["handle"] == "host"
