"""What keeps join, snapshot and react cheap, and what must not change with it: a snapshot
makes the same few statements however big the room; a rejoin's upserted member row keeps
its reaction window and stage history; response models without optional fields serialize
the same without the unset-field filter. On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState

from tests.api.test_spaces_support import Spaces, error
from tests.conftest import MakeUser
from townhall.api.schemas.spaces import (
    CaptionsBrief,
    JoinedOut,
    ListenerOut,
    MyPlace,
    SpaceOut,
    UserBrief,
)
from townhall.api.services import spaces
from townhall.api.services.spaces.reading import LISTENERS_SHOWN

SNAPSHOT_STATEMENTS = 6
"""BEGIN; the space with the viewer's access; the stage, hands and viewer; the first
listeners; topics; counts, recording and captions (the token lookup comes before)."""


async def _statements(app: Any, space_id: str, viewer_id: int) -> tuple[int, dict[str, Any]]:
    seen: list[str] = []

    def count(state: ORMExecuteState) -> None:
        seen.append(str(state.statement))

    async with app.state.db.session() as session:
        event.listen(session.sync_session, "do_orm_execute", count)
        snap = await spaces.snapshot(session, space_id, viewer_id)
    return len(seen), snap.model_dump(mode="json")


async def test_a_snapshot_makes_the_same_few_statements_however_big_the_room(
    app: Any, client: Any, make_user: MakeUser
) -> None:
    sp = Spaces(client)
    host = await make_user("costhost")
    sid = (await sp.create(host, title="Cost"))["id"]
    crowd = [await make_user(f"cost{i}") for i in range(3)]
    for user in crowd:
        await sp.ok(user, sid, "join")
    small, snap = await _statements(app, sid, crowd[0].id)
    assert snap["listener_count"] == 3 and len(snap["listeners"]) == 3
    assert small <= SNAPSHOT_STATEMENTS
    for i in range(LISTENERS_SHOWN):
        await sp.ok(await make_user(f"costbig{i}"), sid, "join")
    await sp.ok(crowd[1], sid, "hand")
    big, snap = await _statements(app, sid, host.id)
    assert snap["listener_count"] == 3 + LISTENERS_SHOWN
    assert len(snap["listeners"]) == LISTENERS_SHOWN
    assert [h["user"]["id"] for h in snap["hand_queue"]] == [crowd[1].id]
    assert big == small
    # The host away (grace time): the view still names the host, one statement more.
    await sp.ok(host, sid, "leave")
    away, snap = await _statements(app, sid, crowd[0].id)
    assert snap["space"]["host"]["id"] == host.id and snap["stage"] == []
    assert away == small + 1


async def test_a_rejoin_keeps_the_reaction_window_and_the_stage_history(
    app: Any, client: Any, make_user: MakeUser
) -> None:
    sp = Spaces(client)
    host = await make_user("rjhost")
    ann = await make_user("rjann")
    sid = (await sp.create(host, title="Rejoin"))["id"]
    await sp.ok(ann, sid, "join")
    for _ in range(5):
        await sp.ok(ann, sid, "react", {"emoji": "👏"})
    await sp.ok(ann, sid, "hand")
    assert (await sp.ok(host, sid, f"hands/{ann.id}/approve"))["role"] == "speaker"
    await sp.ok(ann, sid, "leave")
    joined = await sp.ok(ann, sid, "join")  # the row from the first stay, upserted
    assert joined["me"] == {
        "role": "listener",
        "muted": True,
        "hand_raised": False,
        "invited_as": None,
        "actions": joined["me"]["actions"],
    }
    assert ann.id in [u["id"] for u in joined["listeners"]]
    error(await sp.post(ann, sid, "react", {"emoji": "🔥"}), 429, "reaction_rate_limited")
    await sp.ok(host, sid, "end")
    history = (await sp.get(host, sid, "history")).json()
    assert ann.id in [u["id"] for u in history["speakers"]]
    assert [a["user"]["id"] for a in history["attendance"]].count(ann.id) == 2


def test_models_without_optional_fields_serialize_as_before() -> None:
    brief = UserBrief(id=1, handle="a", display_name="A")
    space = SpaceOut(
        id="s",
        title="T",
        topics=[],
        visibility="public",
        speaker_policy="everyone",
        followers_may_join=False,
        state="live",
        host=brief,
        scheduled_for=None,
        created_at=None,
        started_at=None,
        ended_at=None,
        listener_count=1,
        stage_count=1,
        speakers=[brief],
        recording=False,
        captions=CaptionsBrief(on=False, language="en", clips=True),
    )
    space.my_role = None  # set, though None: sent
    joined = JoinedOut(
        space=space,
        recording=False,
        stage=[],
        listeners=[ListenerOut(id=2, handle="b", display_name="B", actions=["remove"])],
        listener_count=1,
        hand_queue=None,
        hand_count=0,
        invitations=None,
        stage_locked=False,
        reactions=["👏"],
        me=MyPlace(role=None, muted=True, hand_raised=False, invited_as=None, actions=[]),
        seq=3,
    )
    data = joined.model_dump(mode="json")
    assert "end_reason" not in data["space"] and "share_url" not in data["space"]
    assert data["space"]["my_role"] is None
    listener = {"id": 2, "handle": "b", "display_name": "B", "actions": ["remove"]}
    assert data["listeners"] == [listener]
    assert data["seq"] == 3 and data["hand_queue"] is None
    assert (
        joined.model_dump_json()
        == JoinedOut.model_validate_json(joined.model_dump_json()).model_dump_json()
    )
