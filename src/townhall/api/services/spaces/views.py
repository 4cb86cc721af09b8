"""Views of spaces, users and one member's place in a room (`api/schemas/spaces.py`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from townhall.api.schemas.spaces import (
    CaptionsBrief,
    MemberOut,
    MyPlace,
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
from townhall.store import snapshots as snapshots_store
from townhall.store import spaces as store
from townhall.store.models import CaptionSettings, Recording, Space, User
from townhall.store.snapshots import CaptionState, RecordingState
from townhall.store.spaces import Counts

SPEAKERS_SHOWN = 4
"""Stage members a space's view names (host first), as on its card in a list."""


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
    found = await accounts_store.users_by_ids(session, list(people))
    users = {uid: user_brief(u) for uid, u in found.items()}
    recordings = await recordings_store.of_spaces(session, ids)
    captions = await captions_store.settings_of_spaces(session, ids)
    return [
        _view(
            s,
            topics.get(s.id, []),
            counts[s.id],
            users.get(s.host_id),
            [users[u] for u in stage.get(s.id, []) if u in users],
            _recording_state(recordings.get(s.id)),
            _caption_state(captions.get(s.id)),
        )
        for s in spaces
    ]


async def space_view(session: AsyncSession, space: Space) -> SpaceOut:
    return (await space_views(session, [space]))[0]


async def room_view(
    session: AsyncSession, space: Space, people: Mapping[int, UserBrief], stage: Sequence[int]
) -> SpaceOut:
    """`space_view` for a snapshot, which has already read the present stage (`stage`:
    their ids, host first, then co-hosts, then speakers, each in the order they joined)
    and the names of the people it lists: two statements (topics; counts, recording and
    captions), a third only when the host is not present."""
    topics = await store.topics_of(session, [space.id])
    facts = await snapshots_store.view_facts(session, space.id)
    host = people.get(space.host_id)
    if host is None:
        user = await accounts_store.user_by_id(session, space.host_id)
        host = user_brief(user) if user is not None else None
    live = space.state == SpaceState.LIVE
    speakers = [people[u] for u in stage if u in people][:SPEAKERS_SHOWN] if live else []
    return _view(
        space, topics[space.id], facts.counts, host, speakers, facts.recording, facts.captions
    )


def _view(
    s: Space,
    topics: list[str],
    counts: Counts,
    host: UserBrief | None,
    speakers: list[UserBrief],
    recording: RecordingState | None,
    captions: CaptionState | None,
) -> SpaceOut:
    view = SpaceOut(
        id=s.id,
        title=s.title,
        topics=topics,
        visibility=s.visibility,
        speaker_policy=s.speaker_policy,
        followers_may_join=s.followers_may_join,
        state=s.state,
        host=host,
        scheduled_for=s.scheduled_for,
        created_at=s.created_at,
        started_at=s.started_at,
        ended_at=s.ended_at,
        listener_count=counts.listeners,
        stage_count=counts.stage,
        speakers=speakers,
        recording=recording_view(s, recording),
        captions=captions_brief(captions),
    )
    if s.state == SpaceState.ENDED:
        view.end_reason = s.end_reason
        view.peak_listeners = s.peak_listeners
    return view


def _recording_state(row: Recording | None) -> RecordingState | None:
    if row is None:
        return None
    return RecordingState(row.active, row.duration_seconds, row.size_bytes)


def _caption_state(row: CaptionSettings | None) -> CaptionState | None:
    return None if row is None else CaptionState(row.on, row.language, row.clips)


def captions_brief(row: CaptionState | None) -> CaptionsBrief:
    """Whether the space is captioned, in which language, and whether clips are allowed."""
    if row is None:
        return CaptionsBrief(on=False, language="en", clips=True)
    return CaptionsBrief(on=row.on, language=row.language, clips=row.clips)


def recording_view(space: Space, row: RecordingState | None) -> bool | RecordingOut | None:
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


def my_place(room: Room, user_id: int, actions: list[str]) -> MyPlace:
    """The user's role, mute, raised hand and pending invitation in the room, and what
    they may do to themselves (`actions`)."""
    m = room.member(user_id)
    return MyPlace(
        role=m.role.value if m else None,
        muted=m.muted if m else True,
        hand_raised=bool(m and m.hand_raised_at is not None),
        invited_as=m.invited_as.value if m and m.invited_as else None,
        actions=actions,
    )


def member_view(room: Room, user_id: int) -> MemberOut:
    """What a stage action returns: the affected member's place, with their id."""
    m = room.member(user_id)
    return MemberOut(
        user_id=user_id,
        role=m.role.value if m else None,
        muted=m.muted if m else True,
        hand_raised=bool(m and m.hand_raised_at is not None),
        invited_as=m.invited_as.value if m and m.invited_as else None,
    )


def share_url(public_base: str, space_id: str) -> str:
    """The link that opens a space in the web client."""
    return f"{public_base}/#/space/{space_id}"
