"""Views of spaces, users and one member's place in a room (`api/schemas/spaces.py`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from townhall.api.schemas.spaces import (
    CaptionsBrief,
    MemberOut,
    Place,
    RecordingOut,
    SpaceOut,
    UserBrief,
)
from townhall.bus.events import UserRef
from townhall.domain.spaces import SpaceState
from townhall.domain.stage import Room
from townhall.store import accounts as accounts_store
from townhall.store import captions as captions_store
from townhall.store import recordings as recordings_store
from townhall.store import spaces as store
from townhall.store.models import CaptionSettings, Recording, Space, User


def user_brief(user: User) -> UserBrief:
    return UserBrief(id=user.id, handle=user.handle, display_name=user.display_name)


def user_ref(user: User) -> UserRef:
    """The user as events name them."""
    return UserRef(id=user.id, handle=user.handle, display_name=user.display_name)


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def space_views(session: AsyncSession, spaces: Sequence[Space]) -> list[SpaceOut]:
    ids = [s.id for s in spaces]
    topics = await store.topics_of(session, ids)
    counts = await store.counts_of(session, ids)
    stage = await store.stage_user_ids(session, [s.id for s in spaces if s.state == "live"])
    people = {s.host_id for s in spaces} | {uid for uids in stage.values() for uid in uids}
    hosts = await accounts_store.users_by_ids(session, list(people))
    recordings = await recordings_store.of_spaces(session, ids)
    captions = await captions_store.settings_of_spaces(session, ids)
    out = []
    for s in spaces:
        view = SpaceOut(
            id=s.id,
            title=s.title,
            topics=topics.get(s.id, []),
            visibility=s.visibility,
            speaker_policy=s.speaker_policy,
            followers_may_join=s.followers_may_join,
            state=s.state,
            host=user_brief(hosts[s.host_id]) if s.host_id in hosts else None,
            scheduled_for=s.scheduled_for,
            created_at=s.created_at,
            started_at=s.started_at,
            ended_at=s.ended_at,
            listener_count=counts[s.id].listeners,
            stage_count=counts[s.id].stage,
            speakers=[user_brief(hosts[u]) for u in stage.get(s.id, []) if u in hosts],
            recording=recording_view(s, recordings.get(s.id)),
            captions=captions_brief(captions.get(s.id)),
        )
        if s.state == SpaceState.ENDED:
            view.end_reason = s.end_reason
            view.peak_listeners = s.peak_listeners
        out.append(view)
    return out


async def space_view(session: AsyncSession, space: Space) -> SpaceOut:
    return (await space_views(session, [space]))[0]


def captions_brief(row: CaptionSettings | None) -> CaptionsBrief:
    """Whether the space is captioned, in which language, and whether clips are allowed."""
    if row is None:
        return CaptionsBrief(on=False, language="en", clips=True)
    return CaptionsBrief(on=row.on, language=row.language, clips=row.clips)


def recording_view(space: Space, row: Recording | None) -> bool | RecordingOut | None:
    """Before the end: is the space recording now. Once ended: the finished recording
    (`{duration_seconds, size_bytes, url}`), or None."""
    if space.state != SpaceState.ENDED:
        return bool(row is not None and row.active)
    if row is None or row.duration_seconds is None or row.size_bytes is None:
        return None
    return RecordingOut(
        duration_seconds=round(row.duration_seconds, 3),
        size_bytes=row.size_bytes,
        url=f"/api/v1/spaces/{space.id}/recording",
    )


def my_place(room: Room, user_id: int) -> Place:
    """The user's role, mute, raised hand and pending invitation in the room."""
    m = room.member(user_id)
    return Place(
        role=m.role.value if m else None,
        muted=m.muted if m else True,
        hand_raised=bool(m and m.hand_raised_at is not None),
        invited_as=m.invited_as.value if m and m.invited_as else None,
    )


def member_view(room: Room, user_id: int) -> MemberOut:
    """What a stage action returns: the affected member's place, with their id."""
    return MemberOut(user_id=user_id, **my_place(room, user_id).model_dump())


def share_url(public_base: str, space_id: str) -> str:
    """The link that opens a space in the web client."""
    return f"{public_base}/#/space/{space_id}"
