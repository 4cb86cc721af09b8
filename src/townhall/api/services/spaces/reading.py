"""Reading spaces: one space, discovery, history, the snapshot, who may watch, membership."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from townhall.api.schemas.spaces import (
    Attendance,
    HistoryOut,
    HistorySummary,
    Invitation,
    JoinedOut,
    ListenerOut,
    RaisedHand,
    Snapshot,
    SpaceList,
    SpaceOut,
    StageMember,
    UserBrief,
)
from townhall.api.services import outbox
from townhall.api.services.spaces.loading import access_of, viewable
from townhall.api.services.spaces.views import (
    my_place,
    room_view,
    share_url,
    space_view,
    space_views,
    user_brief,
)
from townhall.domain import spaces as rules
from townhall.domain.actions import actions_for
from townhall.domain.errors import Conflict, Invalid, NotFound
from townhall.domain.reactions import REACTIONS
from townhall.domain.roles import Role, is_moderator
from townhall.domain.spaces import SpaceState
from townhall.domain.stage import Room
from townhall.store import accounts as accounts_store
from townhall.store import snapshots as snapshots_store
from townhall.store import spaces as store
from townhall.store.db import begin_consistent_read
from townhall.store.models import Space, User

DISCOVERY_LIMIT = 50
NOBODY = 0  # the viewer id of a signed-out visitor: no account has it (ids start at 1)
LISTENERS_SHOWN = 100

# -- the events engineer's and media engineers' entry points -----------------


async def can_view(session: AsyncSession, space_id: str, viewer_id: int) -> bool:
    """Whether the viewer may see the space (and subscribe to its events)."""
    found = await store.space_and_access(session, space_id, viewer_id)
    if found is None:
        return False
    space, facts = found
    return rules.may_view(access_of(space, viewer_id, facts))


async def watch_refusal(session: AsyncSession, space_id: str, viewer_id: int) -> str | None:
    """None when the viewer may subscribe to the space's events, else an error code
    (`not_found`: no such space or not visible; `removed_from_space`)."""
    found = await store.space_and_access(session, space_id, viewer_id)
    if found is None:
        return "not_found"
    space, facts = found
    return rules.watch_refusal(access_of(space, viewer_id, facts))


@dataclass(frozen=True)
class Membership:
    role: str
    muted: bool


async def membership(session: AsyncSession, space_id: str, user_id: int) -> Membership | None:
    """The user's role and mute state in a live space, or None when not present in it (or
    no longer allowed to see it: blocked by the host, no longer following the host of a
    followers-only space, removed)."""
    found = await store.space_and_access(session, space_id, user_id)
    if found is None or found[0].state != SpaceState.LIVE:
        return None
    row = await store.member_row(session, space_id, user_id)
    if row is None or not row.present:
        return None
    if rules.watch_refusal(access_of(found[0], user_id, found[1])) is not None:
        return None
    return Membership(role=row.role, muted=row.muted)


async def live_space_hosts(session: AsyncSession) -> list[tuple[str, int]]:
    """(space id, host id) of every live space (for the host-grace watcher)."""
    return await store.live_space_hosts(session)


async def live_members(session: AsyncSession) -> list[tuple[str, int, int]]:
    """(space id, user id, host id) of every member of every live space (for the
    absent-member sweeper)."""
    return await store.live_members(session)


async def event_seq(session: AsyncSession, space_id: str) -> int:
    """The seq of the space's latest committed event (0 before any): a snapshot read
    after it reflects every event up to it."""
    return await outbox.event_seq(session, space_id)


async def snapshot(session: AsyncSession, space_id: str, viewer_id: int) -> Snapshot:
    """The whole picture for one viewer: space, stage, hand queue (moderators only),
    the first listeners, counts and the viewer's own place.

    Reads the stage, raised hands, invitations, the viewer and the first LISTENERS_SHOWN
    listeners with their names, and counts the rest: a few dozen rows however big the
    audience, in a handful of statements, all in one consistent read (one snapshot of the
    database)."""
    await begin_consistent_read(session)
    return await _snapshot(session, space_id, viewer_id, Snapshot)


async def seq_and_snapshot(
    session: AsyncSession, space_id: str, viewer_id: int
) -> tuple[int, Snapshot]:
    """The seq of the space's latest committed event and the snapshot, in one consistent
    read: the snapshot contains exactly the events up to that seq."""
    await begin_consistent_read(session)
    seq = await event_seq(session, space_id)
    return seq, await _snapshot(session, space_id, viewer_id, Snapshot)


async def joined_snapshot(session: AsyncSession, space_id: str, viewer_id: int) -> JoinedOut:
    """`seq_and_snapshot` as a join answers it: the snapshot with its `seq`."""
    await begin_consistent_read(session)
    seq = await event_seq(session, space_id)
    return await _snapshot(session, space_id, viewer_id, partial(JoinedOut, seq=seq))


S = TypeVar("S", bound=Snapshot)
ORDER = {Role.HOST: 0, Role.COHOST: 1, Role.SPEAKER: 2}


async def _snapshot(
    session: AsyncSession, space_id: str, viewer_id: int, kind: Callable[..., S]
) -> S:
    space = await viewable(session, space_id, viewer_id)
    notable = await snapshots_store.notable_people(session, space.id, [viewer_id])
    first = await snapshots_store.first_listener_people(session, space.id, LISTENERS_SHOWN)
    people = {p.member.user_id: p for p in [*notable, *first]}
    room = Room(
        host_id=space.host_id,
        state=SpaceState(space.state),
        members={uid: p.member for uid, p in people.items()},
    )
    offered = actions_for(room, viewer_id, people.keys() | {viewer_id})

    def actions(user_id: int) -> list[str]:
        """What the viewer may do to that member (docs/SPACES.md, "Actions")."""
        return [a.value for a in offered.get(user_id, ())]

    stage = [p.member for p in notable if p.member.role in ORDER]
    stage.sort(key=lambda m: ORDER[m.role])
    briefs: dict[int, UserBrief] = {}
    for p in notable:
        _brief(p, briefs)
    me = room.member(viewer_id)
    hands = room.hand_queue()
    queue = invitations = None
    if me is not None and is_moderator(me.role):
        queue = [
            RaisedHand(
                user=_brief(people[m.user_id], briefs),
                raised_at=m.hand_raised_at,
                actions=actions(m.user_id),
            )
            for m in hands
        ]
        invitations = [
            Invitation(user=_brief(people[m.user_id], briefs), role=m.invited_as.value)
            for m in room.members.values()
            if m.invited_as is not None
        ]
    view = await room_view(session, space, briefs, [m.user_id for m in stage])
    return kind(
        space=view,
        recording=view.recording,
        stage=[
            StageMember(
                user=briefs[m.user_id], role=m.role.value, muted=m.muted, actions=actions(m.user_id)
            )
            for m in stage
        ],
        listeners=[
            ListenerOut(
                id=p.member.user_id,
                handle=p.handle,
                display_name=p.display_name,
                actions=actions(p.member.user_id),
            )
            for p in first
        ],
        listener_count=view.listener_count,  # counted with the view, in this read
        hand_queue=queue,
        hand_count=len(hands),
        invitations=invitations,
        stage_locked=space.stage_locked,
        reactions=list(REACTIONS),
        me=my_place(room, viewer_id, actions(viewer_id)),
    )


def _brief(person: snapshots_store.Person, known: dict[int, UserBrief]) -> UserBrief:
    uid = person.member.user_id
    if uid not in known:
        known[uid] = UserBrief(id=uid, handle=person.handle, display_name=person.display_name)
    return known[uid]


# -- one space, discovery, history -------------------------------------------


async def get_space(
    session: AsyncSession, viewer: User, space_id: str, public_base: str
) -> SpaceOut:
    space = await viewable(session, space_id, viewer.id)
    view = await space_view(session, space)
    view.share_url = share_url(public_base, space.id)
    member = await store.member_row(session, space.id, viewer.id)
    view.my_role = member.role if member and member.present else None
    view.reminder_set = await store.has_reminder(session, space.id, viewer.id)
    if space.state == SpaceState.ENDED:
        view.history = await _history_summary(session, space)
    return view


async def discover(
    session: AsyncSession,
    viewer: User | None,
    state: str,
    query: str | None,
    host_handle: str | None = None,
) -> SpaceList:
    """What the viewer may see in `state`, optionally only one host's spaces; without a
    viewer (signed out), the public ones."""
    if state not in (SpaceState.LIVE, SpaceState.SCHEDULED):
        raise Invalid("invalid_state", "state is live or scheduled", "state")
    host_id = None
    if host_handle is not None:
        host = await accounts_store.user_by_handle(session, host_handle)
        if host is None:
            raise NotFound("user_not_found", f"no user @{host_handle}", "host")
        host_id = host.id
    viewer_id = viewer.id if viewer else NOBODY
    followees = await accounts_store.followee_ids(session, viewer_id) if viewer else []
    q = " ".join(query.split()) if query else None
    spaces = await store.discover(
        session, viewer_id, state, q, followees, DISCOVERY_LIMIT, host_id=host_id
    )
    views = await space_views(session, spaces)
    if state == SpaceState.SCHEDULED:
        for view in views:  # the "remind me" button's state
            view.reminder_set = viewer is not None and await store.has_reminder(
                session, view.id, viewer_id
            )
    return SpaceList(spaces=views)


async def _history_summary(session: AsyncSession, space: Space) -> HistorySummary:
    duration = None
    if space.started_at and space.ended_at:
        duration = (space.ended_at - space.started_at).total_seconds()
    return HistorySummary(
        started_at=space.started_at,
        ended_at=space.ended_at,
        duration_seconds=duration,
        peak_listeners=space.peak_listeners,
        total_listeners=await store.distinct_attendees(session, space.id, space.host_id),
        speakers=[
            user_brief(u) for u in await store.stage_people(session, space.id, space.host_id)
        ],
    )


async def history(session: AsyncSession, viewer: User, space_id: str) -> HistoryOut:
    """Who joined and left when, peak and total listeners, duration: for ended spaces."""
    space = await viewable(session, space_id, viewer.id)
    if space.state != SpaceState.ENDED:
        raise Conflict("space_not_ended", "history is shown once the space has ended")
    stays = await store.attendance(session, space.id)
    return HistoryOut(
        space=await space_view(session, space),
        **(await _history_summary(session, space)).model_dump(),
        attendance=[
            Attendance(user=user_brief(u), joined_at=a.joined_at, left_at=a.left_at)
            for a, u in stays
        ],
    )
