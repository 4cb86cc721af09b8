"""Many clients at once: the stage limit holds under concurrent approvals and accepts."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import pytest

from tests.api.test_spaces_support import Spaces
from townhall.api.services import spaces as service
from townhall.api.services.context import Context


@pytest.fixture
def sp(client: httpx.AsyncClient) -> Spaces:
    return Spaces(client)


async def _stage(app: Any, sid: str, viewer: Any) -> list[tuple[int, str]]:
    snap = await Spaces.snapshot(app, sid, viewer)
    return [(s["user"]["id"], s["role"]) for s in snap["stage"]]


async def _space_with_moderators(
    app: Any, sp: Spaces, make_user: Any, listeners: int
) -> tuple[str, list[Any], list[Any]]:
    host = await make_user("host")
    sid = (await sp.create(host))["id"]
    cohosts = [await make_user(f"cohost{i}") for i in range(2)]
    for c in cohosts:
        await sp.ok(c, sid, "join")
        await sp.ok(host, sid, "invite", {"user_id": c.id, "role": "cohost"})
        await sp.ok(c, sid, "invitation/accept")
    crowd = [await make_user(f"crowd{i}") for i in range(listeners)]
    await asyncio.gather(*(sp.ok(u, sid, "join") for u in crowd))
    return sid, [host, *cohosts], crowd


async def test_concurrent_approvals_by_three_moderators_never_overfill_the_stage(
    app: Any, sp: Spaces, make_user: Any
) -> None:
    app.state.settings.stage_limit = 6  # host + 2 co-hosts + 3 speakers
    sid, mods, crowd = await _space_with_moderators(app, sp, make_user, 12)
    await asyncio.gather(*(sp.ok(u, sid, "hand") for u in crowd))
    # Every moderator approves every raised hand, all at once.
    calls = [sp.post(mod, sid, f"hands/{u.id}/approve") for u in crowd for mod in mods]
    results = await asyncio.gather(*calls)
    outcomes = Counter((r.status_code, r.json().get("error", {}).get("code")) for r in results)
    assert outcomes[(200, None)] == 3, outcomes
    assert set(outcomes) <= {(200, None), (409, "stage_full"), (409, "hand_not_raised")}
    stage = await _stage(app, sid, mods[0])
    assert len(stage) == 6
    assert Counter(role for _, role in stage) == {"host": 1, "cohost": 2, "speaker": 3}
    async with app.state.db.session() as session:
        roles = [await service.membership(session, sid, u.id) for u in crowd]
    assert sum(1 for m in roles if m and m.role == "speaker") == 3
    await app.state.outbox.drain()  # the events committed so far are on the bus
    role_events = [
        e
        for e in await app.state.bus.replay(sid, 0)
        if e.type == "role.changed" and e.data["role"] == "speaker"
    ]
    assert len(role_events) == 3


async def test_concurrent_invitation_accepts_respect_the_limit(
    app: Any, sp: Spaces, make_user: Any
) -> None:
    app.state.settings.stage_limit = 5
    sid, (host, *_), crowd = await _space_with_moderators(app, sp, make_user, 8)
    for u in crowd:
        await sp.ok(host, sid, "invite", {"user_id": u.id})
    results = await asyncio.gather(*(sp.post(u, sid, "invitation/accept") for u in crowd))
    codes = Counter(r.status_code for r in results)
    assert codes == {200: 2, 409: 6}, [r.text for r in results]
    assert len(await _stage(app, sid, host)) == 5


async def test_concurrent_joins_count_every_listener(app: Any, sp: Spaces, make_user: Any) -> None:
    host = await make_user("host")
    sid = (await sp.create(host))["id"]
    crowd = [await make_user(f"crowd{i}") for i in range(15)]
    await asyncio.gather(*(sp.ok(u, sid, "join") for u in crowd))
    got = (await sp.get(host, sid)).json()
    assert got["listener_count"] == 15
    await asyncio.gather(*(sp.ok(u, sid, "leave") for u in crowd[:5]))
    await sp.ok(host, sid, "end")
    hist = (await sp.get(host, sid, "history")).json()
    assert (hist["peak_listeners"], hist["total_listeners"]) == (15, 15)


async def test_the_space_lock_alone_serialises_approvals(
    app: Any, sp: Spaces, make_user: Any
) -> None:
    """Straight to the service, one session each (no request-level writes to lean on)."""
    from townhall.domain.errors import Conflict
    from townhall.store import accounts as accounts_store

    settings = app.state.settings
    settings.stage_limit = 4
    sid, mods, crowd = await _space_with_moderators(app, sp, make_user, 10)
    await asyncio.gather(*(sp.ok(u, sid, "hand") for u in crowd))

    async def approve(mod_id: int, user_id: int) -> str:
        try:
            async with app.state.db.session() as session:
                mod = await accounts_store.user_by_id(session, mod_id)
                assert mod is not None
                ctx = Context(session, app.state.bus, settings, mod)
                await service.answer_hand(ctx, sid, user_id, True)
            return "ok"
        except Conflict as exc:
            return exc.code

    results = await asyncio.gather(*(approve(m.id, u.id) for u in crowd for m in mods))
    assert results.count("ok") == 1, Counter(results)
    assert set(results) <= {"ok", "stage_full", "hand_not_raised"}
    assert len(await _stage(app, sid, mods[0])) == 4
