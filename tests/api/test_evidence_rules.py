"""Evidence rules on both databases: reports at once in one window share one evidence;
a window nobody had audio for becomes `missing`; retention deletes after the configured
days (the keeper's clock is advanced, never slept); a space not live gets no evidence."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx

from tests.api.test_spaces_support import Spaces
from tests.api.test_staff import grant
from tests.support.evidence import write_tone_evidence
from townhall.api.services.staff.evidence import EvidenceKeeper
from townhall.bus.evidence import EVIDENCE_CHANNEL, EvidenceRequest
from townhall.store.db import utcnow

ADMIN = "/api/v1/admin"


async def _evidence(client: httpx.AsyncClient, mod: Any) -> list[dict[str, Any]]:
    queue = (await client.get(f"{ADMIN}/reports?status=all", headers=mod.headers)).json()
    return [e for g in queue["groups"] for e in g["evidence"]]


async def test_reports_at_once_share_one_window_and_unwritten_ones_go_missing(
    app: Any, client: httpx.AsyncClient, make_user: Any
) -> None:
    mod, host = await make_user("mod"), await make_user("host")
    await grant(app, "mod", "moderator")
    fans = [await make_user(f"fan{i}") for i in range(4)]
    sp = Spaces(client)
    sid = (await sp.create(host))["id"]
    for fan in fans:
        await sp.ok(fan, sid, "join")
    answers = await asyncio.gather(
        *(sp.post(f, sid, "report", {"user_id": host.id, "reason": "x"}) for f in fans)
    )
    assert [a.status_code for a in answers] == [201] * 4
    found = await _evidence(client, mod)
    assert len({e["id"] for e in found}) == 1 and found[0]["status"] == "pending"
    assert found[0]["url"] is None

    # A request lost while the bus was away is sent again while the window is open.
    keeper = EvidenceKeeper(app.state.db, app.state.bus, app.state.settings.data_dir, 30)
    channel = await app.state.bus.subscribe_user(EVIDENCE_CHANNEL)
    try:
        assert (await keeper.check_once())["asked"] == [found[0]["id"]]
        again = EvidenceRequest.from_payload(await channel.get(timeout=5))
    finally:
        await channel.close()
    assert again is not None and (again.evidence_id, again.space_id) == (found[0]["id"], sid)
    assert (again.before, again.after) == (300.0, 120.0)
    now = utcnow()
    keeper.clock = lambda: now + timedelta(minutes=2)  # window still open (+ grace)
    assert (await keeper.check_once())["missing"] == []
    keeper.clock = lambda: now + timedelta(minutes=3)
    assert (await keeper.check_once())["missing"] == [found[0]["id"]]
    assert [e["status"] for e in await _evidence(client, mod)] == ["missing"]
    keeper.clock = lambda: now + timedelta(days=31)
    assert (await keeper.check_once())["deleted"] == [found[0]["id"]]
    assert await _evidence(client, mod) == []


async def test_written_evidence_is_found_without_its_announcement_and_retained(
    app: Any, client: httpx.AsyncClient, make_user: Any
) -> None:
    mod, host, fan = await make_user("mod"), await make_user("host"), await make_user("fan")
    await grant(app, "mod", "moderator")
    sp = Spaces(client)
    sid = (await sp.create(host))["id"]
    await sp.ok(fan, sid, "join")
    assert (await sp.post(fan, sid, "report", {"reason": "x"})).status_code == 201
    eid = (await _evidence(client, mod))[0]["id"]
    data_dir = app.state.settings.data_dir
    write_tone_evidence(data_dir, eid, sid)  # its evidence.saved never came
    now = utcnow()
    keeper = EvidenceKeeper(app.state.db, None, data_dir, 7, clock=lambda: now)
    assert (await keeper.check_once())["recorded"] == [eid]
    ready = (await _evidence(client, mod))[0]
    assert ready["status"] == "ready" and 900 <= ready["duration_ms"] <= 1000
    assert (await client.get(ready["url"], headers=mod.headers)).status_code == 200
    keeper.clock = lambda: now + timedelta(days=6, hours=23)
    assert (await keeper.check_once())["deleted"] == []
    keeper.clock = lambda: now + timedelta(days=7, minutes=1)
    assert (await keeper.check_once())["deleted"] == [eid]
    assert not (data_dir / "evidence" / f"{eid}.ogg").exists()
    assert (await client.get(ready["url"], headers=mod.headers)).status_code == 404


async def test_a_space_not_live_gets_no_evidence(
    app: Any, client: httpx.AsyncClient, make_user: Any
) -> None:
    mod, host, fan = await make_user("mod"), await make_user("host"), await make_user("fan")
    await grant(app, "mod", "moderator")
    sp = Spaces(client)
    sid = (await sp.create(host))["id"]
    await sp.ok(fan, sid, "join")
    await sp.ok(host, sid, "end")
    assert (await sp.post(fan, sid, "report", {"reason": "x"})).status_code == 201
    assert await _evidence(client, mod) == []
