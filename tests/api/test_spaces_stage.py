"""Spaces API: hands, invitations, roles, mutes, removal, blocks, reactions, reports."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.test_spaces_support import Spaces, error, event_types, events
from townhall.api.services import spaces as service
from townhall.store import accounts as accounts_store
from townhall.store import spaces as store


@pytest.fixture
def sp(client: httpx.AsyncClient) -> Spaces:
    return Spaces(client)


async def _room(sp: Spaces, make_user: Any, *names: str) -> tuple[str, Any, list[Any]]:
    """A live space hosted by 'host' with the named users joined as listeners."""
    host = await make_user("host")
    sid = (await sp.create(host))["id"]
    people = [await make_user(n) for n in names]
    for p in people:
        await sp.ok(p, sid, "join")
    return sid, host, people


async def _member(app: Any, sid: str, user: Any) -> tuple[str, bool] | None:
    async with app.state.db.session() as session:
        m = await service.membership(session, sid, user.id)
    return (m.role, m.muted) if m else None


async def test_hand_queue_approve_and_decline(app: Any, sp: Spaces, make_user: Any) -> None:
    sid, host, (ann, bob, cat) = await _room(sp, make_user, "ann", "bob", "cat")
    for p in (bob, ann, cat):
        assert (await sp.ok(p, sid, "hand"))["hand_raised"] is True
    error(await sp.post(ann, sid, "hand"), 409, "hand_already_raised")
    host_view = (await sp.get(host, sid, "snapshot")).json()
    assert [h["user"]["id"] for h in host_view["hand_queue"]] == [bob.id, ann.id, cat.id]
    ann_view = await sp.snapshot(app, sid, ann)
    assert ann_view["hand_queue"] is None and ann_view["me"]["hand_raised"] is True
    assert ann_view["hand_count"] == 3

    error(await sp.post(ann, sid, f"hands/{bob.id}/approve"), 403, "moderators_only")
    assert await _member(app, sid, bob) == ("listener", True)
    assert (await sp.ok(host, sid, f"hands/{bob.id}/approve"))["role"] == "speaker"
    assert await _member(app, sid, bob) == ("speaker", True)
    error(await sp.post(host, sid, f"hands/{bob.id}/approve"), 409, "hand_not_raised")
    await sp.ok(host, sid, f"hands/{ann.id}/decline")
    assert (await sp.snapshot(app, sid, ann))["me"]["hand_raised"] is False
    assert await _member(app, sid, ann) == ("listener", True)
    await sp.ok(cat, sid, "hand/lower")
    error(await sp.post(cat, sid, "hand/lower"), 409, "hand_not_raised")
    error(await sp.post(host, sid, f"hands/{cat.id}/approve"), 409, "hand_not_raised")
    error(await sp.post(host, sid, "hands/999999/approve"), 404, "member_not_found")

    evs = [(e.type, e.data) for e in await events(app, sid)]
    assert ("role.changed", {"user_id": bob.id, "role": "speaker", "by": host.id}) in evs
    assert ("hand.lowered", {"user_id": ann.id, "by": host.id, "declined": True}) in evs
    assert ("hand.lowered", {"user_id": cat.id}) in evs
    seqs = [e.seq for e in await events(app, sid)]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


async def test_speaker_policy_decides_who_may_raise_a_hand(
    client: httpx.AsyncClient, sp: Spaces, make_user: Any
) -> None:
    host, pal, other = await make_user("host"), await make_user("pal"), await make_user("other")
    await client.post(f"/api/v1/users/{pal.handle}/follow", headers=host.headers)
    followed = (await sp.create(host, speaker_policy="followed"))["id"]
    invited = (await sp.create(host, speaker_policy="invited"))["id"]
    for sid in (followed, invited):
        await sp.ok(pal, sid, "join")
        await sp.ok(other, sid, "join")
    error(await sp.post(other, followed, "hand"), 403, "speaker_policy_followed")
    await sp.ok(pal, followed, "hand")
    error(await sp.post(pal, invited, "hand"), 403, "speaker_policy_invited")
    await sp.ok(host, invited, "invite", {"user_id": other.id})
    assert (await sp.ok(other, invited, "invitation/accept"))["role"] == "speaker"


async def test_invitations_accept_decline_and_out_of_order(
    app: Any, client: httpx.AsyncClient, sp: Spaces, make_user: Any
) -> None:
    sid, host, (ann, bob, cat, fan) = await _room(sp, make_user, "ann", "bob", "cat", "fan")
    await client.post(f"/api/v1/users/{cat.handle}/follow", headers=fan.headers)
    error(await sp.post(ann, sid, "invitation/accept"), 409, "no_invitation")
    error(await sp.post(ann, sid, "invitation/decline"), 409, "no_invitation")
    assert await _member(app, sid, ann) == ("listener", True)
    error(await sp.post(ann, sid, "invite", {"user_id": bob.id}), 403, "moderators_only")
    await sp.ok(host, sid, "invite", {"user_id": ann.id, "role": "speaker"})
    error(await sp.post(host, sid, "invite", {"user_id": ann.id}), 409, "already_invited")
    await sp.ok(ann, sid, "invitation/accept")
    assert await _member(app, sid, ann) == ("speaker", True)
    error(await sp.post(host, sid, "invite", {"user_id": ann.id}), 409, "already_in_role")

    await sp.ok(host, sid, "invite", {"user_id": bob.id})
    await sp.ok(bob, sid, "invitation/decline")
    assert await _member(app, sid, bob) == ("listener", True)

    await sp.ok(host, sid, "invite", {"user_id": cat.id, "role": "cohost"})
    await sp.ok(cat, sid, "invitation/accept")
    assert await _member(app, sid, cat) == ("cohost", True)
    error(
        await sp.post(cat, sid, "invite", {"user_id": bob.id, "role": "cohost"}), 403, "host_only"
    )
    await sp.ok(cat, sid, "invite", {"user_id": bob.id, "role": "speaker"})
    r = await client.get("/api/v1/notifications", headers=fan.headers)
    assert [n["kind"] for n in r.json()["items"]] == ["cohost.added"]
    r = await client.get("/api/v1/notifications", headers=bob.headers)
    assert [n["data"]["role"] for n in r.json()["items"]] == ["speaker", "speaker"]
    evs = [(e.type, e.data) for e in await events(app, sid)]
    assert ("invite.declined", {"user_id": bob.id, "role": "speaker"}) in evs
    assert ("invite.sent", {"user_id": cat.id, "role": "cohost", "by": host.id}) in evs
    error(await sp.post(host, sid, "invite", {"user_id": ann.id, "role": "host"}), 422, "invalid")


async def test_stage_and_cohost_limits(app: Any, sp: Spaces, make_user: Any) -> None:
    app.state.settings.stage_limit = 3
    app.state.settings.cohost_limit = 1
    sid, host, (ann, bob, cat, dan) = await _room(sp, make_user, "ann", "bob", "cat", "dan")
    await sp.ok(host, sid, "invite", {"user_id": ann.id, "role": "cohost"})
    await sp.ok(ann, sid, "invitation/accept")
    error(
        await sp.post(host, sid, "invite", {"user_id": bob.id, "role": "cohost"}),
        409,
        "cohost_limit",
    )
    await sp.ok(host, sid, "invite", {"user_id": bob.id})
    await sp.ok(host, sid, "invite", {"user_id": cat.id})
    await sp.ok(bob, sid, "invitation/accept")
    error(await sp.post(cat, sid, "invitation/accept"), 409, "stage_full")
    assert await _member(app, sid, cat) == ("listener", True)
    await sp.ok(dan, sid, "hand")
    error(await sp.post(ann, sid, f"hands/{dan.id}/approve"), 409, "stage_full")
    error(await sp.post(host, sid, "invite", {"user_id": dan.id}), 409, "stage_full")
    snap = await sp.snapshot(app, sid, host)
    assert len(snap["stage"]) == 3
    await sp.ok(bob, sid, "step-down")
    await sp.ok(cat, sid, "invitation/accept")
    assert await _member(app, sid, cat) == ("speaker", True)


async def test_roles_move_down_only_as_the_rules_say(app: Any, sp: Spaces, make_user: Any) -> None:
    sid, host, (co, co2, spk, lis) = await _room(sp, make_user, "coco", "coco2", "spk", "lis")
    for c in (co, co2):
        await sp.ok(host, sid, "invite", {"user_id": c.id, "role": "cohost"})
        await sp.ok(c, sid, "invitation/accept")
    await sp.ok(host, sid, "invite", {"user_id": spk.id})
    await sp.ok(spk, sid, "invitation/accept")

    def role(uid: int, to: str) -> tuple[str, dict[str, str]]:
        return f"members/{uid}/role", {"role": to}

    error(await sp.post(lis, sid, *role(spk.id, "listener")), 403, "moderators_only")
    error(await sp.post(co, sid, *role(host.id, "listener")), 403, "cannot_act_on_host")
    error(await sp.post(co, sid, *role(co2.id, "speaker")), 403, "host_only")
    error(await sp.post(host, sid, *role(lis.id, "speaker")), 403, "promotion_needs_invitation")
    error(await sp.post(host, sid, *role(lis.id, "listener")), 409, "already_in_role")
    await sp.ok(co, sid, *role(spk.id, "listener"))
    assert await _member(app, sid, spk) == ("listener", True)
    await sp.ok(host, sid, *role(co2.id, "speaker"))
    assert await _member(app, sid, co2) == ("speaker", True)
    await sp.ok(co2, sid, "step-down")
    error(await sp.post(co2, sid, "step-down"), 409, "not_on_stage")
    error(await sp.post(host, sid, "step-down"), 403, "host_cannot_step_down")

    error(await sp.post(host, sid, "host", {"user_id": spk.id}), 409, "not_a_cohost")
    error(await sp.post(co, sid, "host", {"user_id": co.id}), 403, "host_only")
    view = await sp.ok(host, sid, "host", {"user_id": co.id})
    assert view["host"]["id"] == co.id
    assert await _member(app, sid, co) == ("host", True)
    assert await _member(app, sid, host) == ("cohost", True)
    error(await sp.post(host, sid, "end"), 403, "host_only")
    async with app.state.db.session() as session:
        assert await service.live_space_hosts(session) == [(sid, co.id)]
    await sp.ok(co, sid, "end")


async def test_mute_rules(app: Any, sp: Spaces, make_user: Any) -> None:
    sid, host, (co, spk, lis) = await _room(sp, make_user, "coco", "spk", "lis")
    await sp.ok(host, sid, "invite", {"user_id": co.id, "role": "cohost"})
    await sp.ok(co, sid, "invitation/accept")
    await sp.ok(host, sid, "invite", {"user_id": spk.id})
    await sp.ok(spk, sid, "invitation/accept")
    for p in (host, spk):
        await sp.ok(p, sid, "unmute")
    assert await _member(app, sid, spk) == ("speaker", False)
    error(await sp.post(lis, sid, "unmute"), 409, "not_on_stage")
    error(await sp.post(lis, sid, "mute", {"user_id": spk.id}), 403, "moderators_only")
    error(await sp.post(spk, sid, "mute", {"user_id": host.id}), 403, "moderators_only")
    error(await sp.post(co, sid, "mute", {"user_id": host.id}), 403, "cannot_act_on_host")
    assert await _member(app, sid, host) == ("host", False)
    await sp.ok(co, sid, "mute", {"user_id": spk.id})
    assert await _member(app, sid, spk) == ("speaker", True)
    error(await sp.post(host, sid, "unmute", {"user_id": spk.id}), 403, "cannot_unmute_others")
    assert await _member(app, sid, spk) == ("speaker", True)
    error(await sp.post(host, sid, "mute", {"user_id": lis.id}), 409, "not_on_stage")
    await sp.ok(spk, sid, "unmute")
    assert await _member(app, sid, spk) == ("speaker", False)
    evs = [(e.type, e.data) for e in await events(app, sid) if e.type == "mute.changed"]
    assert evs[-2] == ("mute.changed", {"user_id": spk.id, "muted": True, "by": co.id})
    assert evs[-1] == ("mute.changed", {"user_id": spk.id, "muted": False, "by": spk.id})


async def test_remove_and_block(
    app: Any, client: httpx.AsyncClient, sp: Spaces, make_user: Any
) -> None:
    sid, host, (co, spk, lis, pest, grump) = await _room(
        sp, make_user, "coco", "spk", "lis", "pest", "grump"
    )
    await sp.ok(host, sid, "invite", {"user_id": co.id, "role": "cohost"})
    await sp.ok(co, sid, "invitation/accept")
    error(await sp.post(lis, sid, "remove", {"user_id": spk.id}), 403, "moderators_only")
    error(await sp.post(co, sid, "remove", {"user_id": host.id}), 403, "cannot_act_on_host")
    error(await sp.post(co, sid, "remove", {"user_id": 999999}), 404, "member_not_found")
    error(await sp.post(host, sid, "remove", {"user_id": host.id}), 409, "cannot_remove_self")
    await sp.ok(co, sid, "remove", {"user_id": spk.id})
    assert await _member(app, sid, spk) is None
    error(await sp.post(spk, sid, "join"), 403, "removed_from_space")
    error(await sp.post(co, sid, "remove", {"user_id": spk.id}), 404, "member_not_found")
    assert ("member.removed", {"user_id": spk.id, "by": co.id}) in [
        (e.type, e.data) for e in await events(app, sid)
    ]
    await sp.ok(co, sid, "block", {"user_id": pest.id})
    error(await sp.post(pest, sid, "join"), 403, "removed_from_space")
    # A co-host's block is this space's ban, not an account block of the co-host's own.
    async with app.state.db.session() as session:
        assert not await accounts_store.is_blocked(session, co.id, pest.id)
    error(await sp.post(co, sid, "block", {"user_id": host.id}), 403, "cannot_act_on_host")
    other = (await sp.create(co))["id"]
    await sp.ok(pest, other, "join")
    # The host's block bans from the space and blocks from the host's other spaces.
    await sp.ok(host, sid, "block", {"user_id": grump.id})
    error(await sp.post(grump, sid, "join"), 403, "removed_from_space")
    async with app.state.db.session() as session:
        assert await accounts_store.is_blocked(session, host.id, grump.id)
    hosts_other = (await sp.create(host))["id"]
    error(await sp.post(grump, hosts_other, "join"), 403, "blocked_by_host")
    # Leaving and rejoining are not the same as removal.
    await sp.ok(lis, sid, "leave")
    error(await sp.post(lis, sid, "leave"), 409, "not_in_space")
    await sp.ok(lis, sid, "join")
    assert await _member(app, sid, lis) == ("listener", True)


async def test_host_leaving_keeps_the_space_live(app: Any, sp: Spaces, make_user: Any) -> None:
    sid, host, (ann,) = await _room(sp, make_user, "ann")
    await sp.ok(host, sid, "leave")
    assert (await sp.get(ann, sid)).json()["state"] == "live"
    assert (await sp.ok(host, sid, "join"))["me"]["role"] == "host"
    types = await event_types(app, sid)
    assert types.count("member.left") == 1 and types.count("member.joined") == 3


async def test_reactions_are_fixed_and_rate_limited(app: Any, sp: Spaces, make_user: Any) -> None:
    sid, host, (ann,) = await _room(sp, make_user, "ann")
    outsider = await make_user("outsider")
    error(await sp.post(ann, sid, "react", {"emoji": "🐍"}), 422, "unknown_reaction")
    error(await sp.post(outsider, sid, "react", {"emoji": "👏"}), 409, "not_in_space")
    for _ in range(5):
        await sp.ok(ann, sid, "react", {"emoji": "👏"})
    r = await sp.post(ann, sid, "react", {"emoji": "🔥"})
    error(r, 429, "reaction_rate_limited")
    await sp.ok(host, sid, "react", {"emoji": "🔥"})
    reactions = [e.data for e in await events(app, sid) if e.type == "reaction"]
    assert reactions == [{"user_id": ann.id, "emoji": "👏"}] * 5 + [
        {"user_id": host.id, "emoji": "🔥"}
    ]


async def test_reports_are_stored(app: Any, sp: Spaces, make_user: Any) -> None:
    sid, host, (ann,) = await _room(sp, make_user, "ann")
    stranger = await make_user("stranger")
    r = await sp.post(ann, sid, "report", {"reason": "  spam   spam "})
    assert r.status_code == 201, r.text
    r = await sp.post(ann, sid, "report", {"user_id": host.id, "reason": "rude"})
    assert r.status_code == 201, r.text
    error(
        await sp.post(ann, sid, "report", {"user_id": stranger.id, "reason": "x"}),
        404,
        "not_a_participant",
    )
    error(await sp.post(ann, sid, "report", {"reason": "   "}), 422, "reason_required")
    error(await sp.post(ann, sid, "report", {}), 422, "invalid")
    async with app.state.db.session() as session:
        rows = await store.reports_of(session, sid)
    assert [(r.reporter_id, r.target_user_id, r.reason) for r in rows] == [
        (ann.id, None, "spam spam"),
        (ann.id, host.id, "rude"),
    ]
    assert all(r.created_at is not None for r in rows)


async def test_snapshot_says_what_the_viewer_may_do(app: Any, sp: Spaces, make_user: Any) -> None:
    sid, host, (ann, bob, cat) = await _room(sp, make_user, "ann", "bob", "cat")
    await sp.ok(ann, sid, "hand")
    await sp.ok(host, sid, "invite", {"user_id": bob.id, "role": "cohost"})
    await sp.ok(host, sid, "invite", {"user_id": cat.id, "role": "speaker"})
    await sp.ok(cat, sid, "invitation/accept")

    view = (await sp.get(host, sid, "snapshot")).json()
    stage = {m["user"]["id"]: m["actions"] for m in view["stage"]}
    listeners = {m["id"]: m["actions"] for m in view["listeners"]}
    assert stage[host.id] == ["unmute"]  # muted already; the host cannot step down
    assert stage[cat.id] == ["invite_cohost", "make_listener", "remove", "block"]
    hand = ["invite_speaker", "invite_cohost", "approve_hand", "decline_hand"]
    assert listeners[ann.id] == [*hand, "remove", "block"]
    assert listeners[bob.id] == ["remove", "block"]  # already invited
    assert [h["actions"] for h in view["hand_queue"]] == [listeners[ann.id]]
    assert [(i["user"]["id"], i["role"]) for i in view["invitations"]] == [(bob.id, "cohost")]
    assert view["me"]["actions"] == ["unmute"]

    bob_view = await sp.snapshot(app, sid, bob)
    assert bob_view["invitations"] is None and bob_view["hand_queue"] is None
    assert bob_view["me"]["actions"] == ["accept_invite", "decline_invite"]
    assert [m["actions"] for m in bob_view["stage"]] == [[], []]
    others = [m["actions"] for m in bob_view["listeners"] if m["id"] != bob.id]
    assert others == [[]]
    offered = {m["id"]: m["actions"] for m in bob_view["listeners"]}[bob.id]
    assert offered == bob_view["me"]["actions"]
