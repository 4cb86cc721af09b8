"""Room safety tools: mute everyone on stage at once, lock the stage, co-hosts' blocks
keep people out, and hosts' moderation actions in the audit log."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.test_spaces_support import Spaces, error, event_types, events
from tests.api.test_staff import grant


@pytest.fixture
def sp(client: httpx.AsyncClient) -> Spaces:
    return Spaces(client)


async def _stage(sp: Spaces, make_user: Any) -> tuple[str, list[Any]]:
    """A live space: host, a co-host (cat), two unmuted speakers (ann, bob), a listener."""
    host, cat, ann, bob, lis = [await make_user(n) for n in ("host", "cat", "ann", "bob", "lis")]
    sid = (await sp.create(host))["id"]
    for who in (cat, ann, bob, lis):
        await sp.ok(who, sid, "join")
    await sp.ok(host, sid, "invite", {"user_id": cat.id, "role": "cohost"})
    await sp.ok(cat, sid, "invitation/accept")
    for who in (ann, bob):
        await sp.ok(who, sid, "hand")
        await sp.ok(host, sid, f"hands/{who.id}/approve")
    for who in (host, cat, ann, bob):
        await sp.ok(who, sid, "unmute")
    return sid, [host, cat, ann, bob, lis]


async def test_mute_all_mutes_everyone_else_and_a_cohost_never_the_host(
    app: Any, sp: Spaces, make_user: Any
) -> None:
    sid, (host, cat, ann, bob, lis) = await _stage(sp, make_user)
    error(await sp.post(lis, sid, "mute-all"), 403, "moderators_only")
    error(await sp.post(ann, sid, "mute-all"), 403, "moderators_only")
    assert (await sp.ok(cat, sid, "mute-all"))["muted"] == sorted([ann.id, bob.id])
    stage = {
        m["user"]["id"]: m["muted"] for m in (await sp.get(host, sid, "snapshot")).json()["stage"]
    }
    assert stage == {host.id: False, cat.id: False, ann.id: True, bob.id: True}
    muted = [
        e.data["user_id"]
        for e in await events(app, sid)
        if e.type == "mute.changed" and e.data["muted"] and e.data["by"] == cat.id
    ]
    assert sorted(muted) == sorted([ann.id, bob.id])
    assert (await sp.ok(host, sid, "mute-all"))["muted"] == [cat.id]
    assert (await sp.ok(host, sid, "mute-all"))["muted"] == []


async def test_a_locked_stage_takes_no_new_hands(app: Any, sp: Spaces, make_user: Any) -> None:
    sid, (host, cat, _ann, _bob, lis) = await _stage(sp, make_user)
    late = await make_user("late")
    await sp.ok(late, sid, "join")
    await sp.ok(late, sid, "hand")
    error(await sp.post(lis, sid, "stage/lock", {"locked": True}), 403, "moderators_only")
    assert (await sp.ok(cat, sid, "stage/lock", {"locked": True})) == {"stage_locked": True}
    assert (await sp.get(lis, sid, "snapshot")).json()["stage_locked"] is True
    error(await sp.post(lis, sid, "hand"), 409, "stage_locked")
    await sp.ok(host, sid, f"hands/{late.id}/approve")  # hands already up may still come up
    await sp.ok(host, sid, "stage/lock", {"locked": False})
    await sp.ok(lis, sid, "hand")
    assert (await event_types(app, sid)).count("stage.locked") == 2


async def test_people_a_cohost_blocked_cannot_join(
    client: httpx.AsyncClient, sp: Spaces, make_user: Any
) -> None:
    host, cat, troll = [await make_user(n) for n in ("host", "cat", "troll")]
    sid = (await sp.create(host))["id"]
    await sp.ok(cat, sid, "join")
    await sp.ok(host, sid, "invite", {"user_id": cat.id, "role": "cohost"})
    await sp.ok(cat, sid, "invitation/accept")
    assert (await client.post("/api/v1/users/troll/block", headers=cat.headers)).status_code == 200
    error(await sp.post(troll, sid, "join"), 403, "blocked_by_cohost")
    await sp.ok(cat, sid, "leave")
    await sp.ok(troll, sid, "join")  # the rule follows who co-hosts now


async def test_hosts_moderation_actions_are_in_the_audit_log(
    app: Any, client: httpx.AsyncClient, sp: Spaces, make_user: Any
) -> None:
    sid, (host, cat, ann, _bob, lis) = await _stage(sp, make_user)
    admin = await make_user("root")
    await grant(app, "root")
    await sp.ok(cat, sid, "mute", {"user_id": ann.id})
    await sp.ok(host, sid, "stage/lock", {"locked": True})
    await sp.ok(host, sid, "remove", {"user_id": lis.id})
    log = (await client.get(f"/api/v1/admin/audit?space_id={sid}", headers=admin.headers)).json()
    assert [(r["action"], r["actor_handle"], r["target_handle"]) for r in log["records"]] == [
        ("space.remove", "host", "lis"),
        ("space.stage_lock", "host", None),
        ("space.mute", "cat", "ann"),
    ]


async def test_a_hosts_block_in_one_space_cuts_them_from_the_hosts_other_live_spaces(
    app: Any, sp: Spaces, make_user: Any
) -> None:
    host, cat, troll = [await make_user(n) for n in ("host", "cat", "troll")]
    first = (await sp.create(host))["id"]
    second = (await sp.create(host, title="Second room"))["id"]
    for sid in (first, second):
        await sp.ok(troll, sid, "join")
        await sp.ok(cat, sid, "join")
    await sp.ok(host, first, "block", {"user_id": troll.id})
    left = [
        e.data
        for e in await events(app, second)
        if e.type == "member.left" and e.data["user_id"] == troll.id
    ]
    assert left == [{"user_id": troll.id, "reason": "no_access"}]
    listeners = {m["id"] for m in (await sp.get(host, second, "snapshot")).json()["listeners"]}
    assert troll.id not in listeners and cat.id in listeners
    error(await sp.post(troll, second, "join"), 403, "blocked_by_host")
