"""Spaces: lifecycle, joining, the stage, moderation, reactions, discovery and history.

Every change to a space runs in one transaction that starts by locking the space row
(`store.lock_space`), reads the room fresh, asks the domain, writes what changed,
commits, and only then publishes its events on the bus (so a snapshot taken after an
event was seen always contains it).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from townhall.api.services import notifications
from townhall.bus import Bus
from townhall.bus.events import Event
from townhall.config import Settings
from townhall.domain import spaces as rules
from townhall.domain.errors import Conflict, Invalid, NotFound, RateLimited
from townhall.domain.presence import may_be_swept
from townhall.domain.reactions import REACTIONS, ReactionWindow, take_reaction, validate_reaction
from townhall.domain.roles import Role, is_moderator
from townhall.domain.spaces import (
    Access,
    EndReason,
    SpaceState,
    SpeakerPolicy,
    Visibility,
)
from townhall.domain.stage import Limits, Room
from townhall.store import accounts as accounts_store
from townhall.store import spaces as store
from townhall.store.db import utcnow
from townhall.store.models import Space, SpaceMember, User

DISCOVERY_LIMIT = 50
LISTENERS_SHOWN = 100
REPORT_REASON_MAX = 500

# -- views -------------------------------------------------------------------


def user_brief(user: User) -> dict[str, Any]:
    return {"id": user.id, "handle": user.handle, "display_name": user.display_name}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def _space_views(
    session: AsyncSession, spaces: Sequence[Space], viewer_id: int | None = None
) -> list[dict[str, Any]]:
    ids = [s.id for s in spaces]
    topics = await store.topics_of(session, ids)
    counts = await store.counts_of(session, ids)
    stage = await store.stage_user_ids(session, [s.id for s in spaces if s.state == "live"])
    people = {s.host_id for s in spaces} | {uid for uids in stage.values() for uid in uids}
    hosts = await accounts_store.users_by_ids(session, list(people))
    out = []
    for s in spaces:
        view: dict[str, Any] = {
            "id": s.id,
            "title": s.title,
            "topics": topics.get(s.id, []),
            "visibility": s.visibility,
            "speaker_policy": s.speaker_policy,
            "followers_may_join": s.followers_may_join,
            "state": s.state,
            "host": user_brief(hosts[s.host_id]) if s.host_id in hosts else None,
            "scheduled_for": _iso(s.scheduled_for),
            "created_at": _iso(s.created_at),
            "started_at": _iso(s.started_at),
            "ended_at": _iso(s.ended_at),
            "listener_count": counts[s.id].listeners,
            "stage_count": counts[s.id].stage,
            "speakers": [user_brief(hosts[u]) for u in stage.get(s.id, []) if u in hosts],
        }
        if s.state == SpaceState.ENDED:
            view["end_reason"] = s.end_reason
            view["peak_listeners"] = s.peak_listeners
        out.append(view)
    return out


async def space_view(session: AsyncSession, space: Space) -> dict[str, Any]:
    return (await _space_views(session, [space]))[0]


# -- loading -----------------------------------------------------------------


def limits_of(settings: Settings | None) -> Limits:
    if settings is None:
        return Limits()
    return Limits(stage_limit=settings.stage_limit, cohost_limit=settings.cohost_limit)


async def _room(
    session: AsyncSession, space: Space, settings: Settings | None, removed: Sequence[int] = ()
) -> Room:
    rows = await store.present_members(session, space.id)
    banned = [uid for uid in removed if await store.is_removed(session, space.id, uid)]
    return Room(
        host_id=space.host_id,
        state=SpaceState(space.state),
        speaker_policy=SpeakerPolicy(space.speaker_policy),
        limits=limits_of(settings),
        members={r.user_id: store.member_of(r) for r in rows},
        removed=frozenset(banned),
    )


async def _locked(session: AsyncSession, space_id: str) -> Space:
    space = await store.lock_space(session, space_id)
    if space is None:
        raise NotFound("space_not_found", "no such space")
    return space


async def _access(session: AsyncSession, space: Space, viewer_id: int) -> Access:
    host = space.host_id
    return Access(
        viewer_id=viewer_id,
        host_id=host,
        visibility=Visibility(space.visibility),
        followers_may_join=space.followers_may_join,
        is_guest=await store.is_guest(session, space.id, viewer_id),
        follows_host=await accounts_store.is_following(session, viewer_id, host),
        blocked_by_host=await accounts_store.is_blocked(session, host, viewer_id),
        removed=await store.is_removed(session, space.id, viewer_id),
    )


async def _viewable(session: AsyncSession, space_id: str, viewer_id: int) -> Space:
    space = await store.get_space(session, space_id)
    if space is None:
        raise NotFound("space_not_found", "no such space")
    rules.check_may_view(await _access(session, space, viewer_id))
    return space


async def _save(session: AsyncSession, space: Space, before: Room, after: Room) -> None:
    await store.save_room(session, space.id, before, after, utcnow())
    space.peak_listeners = max(space.peak_listeners, after.listener_count)
    space.host_id = after.host_id
    await session.flush()


async def _commit_and_publish(
    session: AsyncSession, bus: Bus, space_id: str, events: Sequence[tuple[str, dict[str, Any]]]
) -> None:
    await session.commit()
    for type_, data in events:
        await bus.publish(Event(type=type_, space_id=space_id, data=data))


def _listeners_event(room: Room) -> tuple[str, dict[str, Any]]:
    return ("listeners.count", {"count": room.listener_count})


async def _user_exists(session: AsyncSession, user_id: int, field: str = "user_id") -> User:
    user = await accounts_store.user_by_id(session, user_id)
    if user is None:
        raise NotFound("user_not_found", "no such user", field)
    return user


# -- the events engineer's and media engineers' entry points -----------------


async def can_view(session: AsyncSession, space_id: str, viewer_id: int) -> bool:
    """Whether the viewer may see the space (and subscribe to its events)."""
    space = await store.get_space(session, space_id)
    if space is None:
        return False
    return rules.may_view(await _access(session, space, viewer_id))


async def watch_refusal(session: AsyncSession, space_id: str, viewer_id: int) -> str | None:
    """None when the viewer may subscribe to the space's events, else an error code
    (`not_found`: no such space or not visible; `removed_from_space`)."""
    space = await store.get_space(session, space_id)
    if space is None:
        return "not_found"
    return rules.watch_refusal(await _access(session, space, viewer_id))


@dataclass(frozen=True)
class Membership:
    role: str
    muted: bool


async def membership(session: AsyncSession, space_id: str, user_id: int) -> Membership | None:
    """The user's role and mute state in a live space, or None when not present in it."""
    space = await store.get_space(session, space_id)
    if space is None or space.state != SpaceState.LIVE:
        return None
    row = await store.member_row(session, space_id, user_id)
    if row is None or not row.present:
        return None
    return Membership(role=row.role, muted=row.muted)


async def live_space_hosts(session: AsyncSession) -> list[tuple[str, int]]:
    """(space id, host id) of every live space (for the host-grace watcher)."""
    return await store.live_space_hosts(session)


async def live_members(session: AsyncSession) -> list[tuple[str, int, int]]:
    """(space id, user id, host id) of every member of every live space (for the
    absent-member sweeper)."""
    return await store.live_members(session)


async def snapshot(session: AsyncSession, space_id: str, viewer_id: int) -> dict[str, Any]:
    """The whole picture for one viewer: space, stage, hand queue (moderators only),
    listeners, counts and the viewer's own place."""
    space = await _viewable(session, space_id, viewer_id)
    rows = await store.present_members(session, space.id)
    users = await accounts_store.users_by_ids(session, [r.user_id for r in rows])
    room = Room(
        host_id=space.host_id,
        state=SpaceState(space.state),
        members={r.user_id: store.member_of(r) for r in rows},
    )

    def brief(row: SpaceMember) -> dict[str, Any]:
        return {
            "user": user_brief(users[row.user_id]),
            "role": row.role,
            "muted": row.muted,
        }

    order = {Role.HOST: 0, Role.COHOST: 1, Role.SPEAKER: 2}
    stage = [r for r in rows if Role(r.role) in order]
    stage.sort(key=lambda r: order[Role(r.role)])
    listeners = [r for r in rows if r.role == Role.LISTENER]
    me = room.member(viewer_id)
    queue = None
    if me is not None and is_moderator(me.role):
        by_id = {r.user_id: r for r in rows}
        queue = [
            {"user": user_brief(users[m.user_id]), "raised_at": m.hand_raised_at}
            for m in room.hand_queue()
            if m.user_id in by_id
        ]
    return {
        "space": await space_view(session, space),
        "stage": [brief(r) for r in stage],
        "listeners": [user_brief(users[r.user_id]) for r in listeners[:LISTENERS_SHOWN]],
        "listener_count": len(listeners),
        "hand_queue": queue,
        "hand_count": len(room.hand_queue()),
        "reactions": list(REACTIONS),
        "me": {
            "role": me.role.value if me else None,
            "muted": me.muted if me else True,
            "hand_raised": bool(me and me.hand_raised_at is not None),
            "invited_as": me.invited_as.value if me and me.invited_as else None,
        },
    }


async def end_space(
    session: AsyncSession, bus: Bus, space_id: str, reason: str, actor_id: int | None = None
) -> dict[str, Any]:
    """End a live space (by its host, or by the system when actor_id is None)."""
    space = await _locked(session, space_id)
    space.state = rules.end(SpaceState(space.state), actor_id, space.host_id).value
    space.ended_at = utcnow()
    space.end_reason = str(reason)
    await store.mark_left(session, space.id, None, space.ended_at)
    await session.flush()
    view = await space_view(session, space)
    await _commit_and_publish(session, bus, space.id, [("space.ended", {"reason": str(reason)})])
    return view


# -- lifecycle ---------------------------------------------------------------


async def create_space(
    session: AsyncSession,
    bus: Bus,
    settings: Settings,
    host: User,
    *,
    title: str,
    visibility: str,
    speaker_policy: str = SpeakerPolicy.EVERYONE.value,
    topics: Sequence[str] = (),
    scheduled_for: datetime | None = None,
    followers_may_join: bool = False,
    guest_ids: Sequence[int] = (),
) -> dict[str, Any]:
    """Start a space now, or schedule it; the host joins a live space at once."""
    clean_title = rules.validate_title(title)
    clean_topics = rules.validate_topics(topics)
    vis = _enum(Visibility, visibility, "visibility")
    policy = _enum(SpeakerPolicy, speaker_policy, "speaker_policy")
    now = utcnow()
    if scheduled_for is not None:
        rules.validate_schedule(scheduled_for, now)
    guests = await _checked_guests(session, host, guest_ids)
    space = Space(
        id=store.new_space_id(),
        host_id=host.id,
        title=clean_title,
        visibility=vis.value,
        speaker_policy=policy.value,
        followers_may_join=followers_may_join,
        state=(SpaceState.SCHEDULED if scheduled_for else SpaceState.LIVE).value,
        scheduled_for=scheduled_for,
        created_at=now,
        started_at=None if scheduled_for else now,
        peak_listeners=0,
        version=0,
    )
    await store.add_space(session, space, clean_topics)
    await store.add_guests(session, space.id, guests)
    if scheduled_for is None:
        return await _go_live(session, bus, settings, space, host)
    view = await space_view(session, space)
    if guests:
        await _tell_guests(session, bus, space, host, guests)
    await session.commit()
    return view


async def _checked_guests(session: AsyncSession, host: User, ids: Sequence[int]) -> list[int]:
    unique = list(dict.fromkeys(i for i in ids if i != host.id))
    if len(unique) > 500:
        raise Invalid("too_many_guests", "at most 500 guests at once", "guest_ids")
    found = await accounts_store.users_by_ids(session, unique)
    missing = [i for i in unique if i not in found]
    if missing:
        raise Invalid("unknown_user", f"no user with id {missing[0]}", "guest_ids")
    return unique


async def _tell_guests(
    session: AsyncSession, bus: Bus, space: Space, host: User, guests: Sequence[int]
) -> None:
    data = {"space_id": space.id, "title": space.title, "by": user_brief(host), "role": "guest"}
    await notifications.notify(session, bus, guests, "invite", data)


async def _go_live(
    session: AsyncSession, bus: Bus, settings: Settings, space: Space, host: User
) -> dict[str, Any]:
    before = await _room(session, space, settings)
    after = before.join(host.id)
    await _save(session, space, before, after)
    view = await space_view(session, space)
    await _announce_start(session, bus, space, host)
    await _commit_and_publish(
        session,
        bus,
        space.id,
        [
            ("space.started", {"space": view}),
            ("member.joined", {"user": user_brief(host), "role": Role.HOST.value}),
        ],
    )
    return view


async def _announce_start(session: AsyncSession, bus: Bus, space: Space, host: User) -> None:
    """Followers (public spaces, or private ones open to followers) or guests hear
    `space.started`; reminder holders not told so already hear `space.reminder`."""
    data = {"space_id": space.id, "title": space.title, "by": user_brief(host)}
    told: set[int] = {host.id}
    if space.visibility == Visibility.PUBLIC or space.followers_may_join:
        await notifications.notify_followers(session, bus, host.id, "space.started", data)
        told |= set(await accounts_store.follower_ids(session, host.id))
    if space.visibility == Visibility.PRIVATE:
        guests = set(await store.guest_ids(session, space.id)) - told
        if guests:
            await notifications.notify(session, bus, sorted(guests), "space.started", data)
        told |= guests
    blocked = set(await accounts_store.blocked_ids(session, host.id))
    waiting = set(await store.reminder_user_ids(session, space.id)) - told - blocked
    if waiting:
        await notifications.notify(session, bus, sorted(waiting), "space.reminder", data)


async def start_space(
    session: AsyncSession, bus: Bus, settings: Settings, actor: User, space_id: str
) -> dict[str, Any]:
    space = await _locked(session, space_id)
    space.state = rules.start(SpaceState(space.state), actor.id, space.host_id).value
    space.started_at = utcnow()
    return await _go_live(session, bus, settings, space, actor)


async def cancel_space(
    session: AsyncSession, bus: Bus, actor: User, space_id: str
) -> dict[str, Any]:
    space = await _locked(session, space_id)
    space.state = rules.cancel(SpaceState(space.state), actor.id, space.host_id).value
    space.ended_at = utcnow()
    space.end_reason = "cancelled"
    await session.flush()
    view = await space_view(session, space)
    await _commit_and_publish(session, bus, space.id, [("space.ended", {"reason": "cancelled"})])
    return view


async def end_by_host(
    session: AsyncSession, bus: Bus, actor: User, space_id: str
) -> dict[str, Any]:
    return await end_space(session, bus, space_id, EndReason.HOST_ENDED.value, actor.id)


async def edit_space(
    session: AsyncSession,
    bus: Bus,
    actor: User,
    space_id: str,
    *,
    title: str | None = None,
    topics: Sequence[str] | None = None,
    speaker_policy: str | None = None,
) -> dict[str, Any]:
    """The host edits title, topics and speaker policy of a scheduled or live space."""
    space = await _locked(session, space_id)
    rules.check_editable(SpaceState(space.state), actor.id, space.host_id)
    if title is not None:
        space.title = rules.validate_title(title)
    if speaker_policy is not None:
        space.speaker_policy = _enum(SpeakerPolicy, speaker_policy, "speaker_policy").value
    if topics is not None:
        await store.set_topics(session, space.id, rules.validate_topics(topics))
    await session.flush()
    view = await space_view(session, space)
    await _commit_and_publish(session, bus, space.id, [("space.updated", {"space": view})])
    return view


async def add_guests(
    session: AsyncSession, bus: Bus, actor: User, space_id: str, user_ids: Sequence[int]
) -> dict[str, Any]:
    """The host lets more people into a private space."""
    space = await _locked(session, space_id)
    rules.require_host(actor.id, space.host_id, "invite guests")
    if space.visibility != Visibility.PRIVATE:
        raise Conflict("space_is_public", "anyone may join a public space; no guest list needed")
    if space.state in (SpaceState.ENDED, SpaceState.CANCELLED):
        raise Conflict("space_ended", f"the space is {space.state}")
    added = await store.add_guests(
        session, space.id, await _checked_guests(session, actor, user_ids)
    )
    if added:
        await _tell_guests(session, bus, space, actor, added)
    await session.commit()
    return {"added": added}


def _enum(kind: Any, value: str, field: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(v.value for v in kind)
        raise Invalid(f"invalid_{field}", f"{field} is one of: {allowed}", field) from None


# -- reading ---------------------------------------------------------------------


async def get_space(session: AsyncSession, viewer: User, space_id: str) -> dict[str, Any]:
    space = await _viewable(session, space_id, viewer.id)
    view = await space_view(session, space)
    member = await store.member_row(session, space.id, viewer.id)
    view["my_role"] = member.role if member and member.present else None
    view["reminder_set"] = await store.has_reminder(session, space.id, viewer.id)
    if space.state == SpaceState.ENDED:
        view["history"] = await _history_summary(session, space)
    return view


async def discover(
    session: AsyncSession, viewer: User, state: str, query: str | None
) -> dict[str, Any]:
    if state not in (SpaceState.LIVE, SpaceState.SCHEDULED):
        raise Invalid("invalid_state", "state is live or scheduled", "state")
    followees = await accounts_store.followee_ids(session, viewer.id)
    q = " ".join(query.split()) if query else None
    spaces = await store.discover(session, viewer.id, state, q, followees, DISCOVERY_LIMIT)
    views = await _space_views(session, spaces)
    if state == SpaceState.SCHEDULED:
        for view in views:  # the "remind me" button's state
            view["reminder_set"] = await store.has_reminder(session, view["id"], viewer.id)
    return {"spaces": views}


async def _history_summary(session: AsyncSession, space: Space) -> dict[str, Any]:
    duration = None
    if space.started_at and space.ended_at:
        duration = (space.ended_at - space.started_at).total_seconds()
    return {
        "started_at": _iso(space.started_at),
        "ended_at": _iso(space.ended_at),
        "duration_seconds": duration,
        "peak_listeners": space.peak_listeners,
        "total_listeners": await store.distinct_attendees(session, space.id, space.host_id),
    }


async def history(session: AsyncSession, viewer: User, space_id: str) -> dict[str, Any]:
    """Who joined and left when, peak and total listeners, duration: for ended spaces."""
    space = await _viewable(session, space_id, viewer.id)
    if space.state != SpaceState.ENDED:
        raise Conflict("space_not_ended", "history is shown once the space has ended")
    stays = await store.attendance(session, space.id)
    return {
        "space": await space_view(session, space),
        **await _history_summary(session, space),
        "attendance": [
            {"user": user_brief(u), "joined_at": _iso(a.joined_at), "left_at": _iso(a.left_at)}
            for a, u in stays
        ],
    }


# -- joining -----------------------------------------------------------------------


async def join(
    session: AsyncSession, bus: Bus, settings: Settings, user: User, space_id: str
) -> dict[str, Any]:
    space = await _locked(session, space_id)
    rules.check_may_join(await _access(session, space, user.id))
    before = await _room(session, space, settings, removed=[user.id])
    after = before.join(user.id)
    if after is not before:
        await _save(session, space, before, after)
        role = after.role_of(user.id)
        assert role is not None
        await _commit_and_publish(
            session,
            bus,
            space.id,
            [
                ("member.joined", {"user": user_brief(user), "role": role.value}),
                _listeners_event(after),
            ],
        )
    return await snapshot(session, space.id, user.id)


async def leave(
    session: AsyncSession, bus: Bus, settings: Settings, user: User, space_id: str
) -> dict[str, Any]:
    """Leave the space. A host who leaves keeps the seat until the grace time runs out."""
    space = await _locked(session, space_id)
    before = await _room(session, space, settings)
    rules.require_live(before.state)
    after = before.leave(user.id)
    await _save(session, space, before, after)
    await _commit_and_publish(
        session, bus, space.id, [("member.left", {"user_id": user.id}), _listeners_event(after)]
    )
    return {"space_id": space.id, "left": True}


async def leave_absent(
    session: AsyncSession, bus: Bus, settings: Settings, space_id: str, user_id: int
) -> bool:
    """Make a member who vanished (no connection for too long) leave, as a normal leave
    would: `member.left {user_id, reason: "absent"}` and `listeners.count`.

    Checked again under the space's lock: False (nothing done) when the space is no
    longer live, they already left, they are the host, or they are connected again."""
    space = await _locked(session, space_id)
    before = await _room(session, space, settings)
    if (
        before.state is not SpaceState.LIVE
        or user_id not in before.members
        or not may_be_swept(user_id, before.host_id)
        or await bus.is_present(space_id, user_id)
    ):
        await session.rollback()
        return False
    after = before.leave(user_id)
    await _save(session, space, before, after)
    await _commit_and_publish(
        session,
        bus,
        space.id,
        [("member.left", {"user_id": user_id, "reason": "absent"}), _listeners_event(after)],
    )
    return True


# -- the stage -----------------------------------------------------------------------


async def _stage_change(
    session: AsyncSession,
    bus: Bus,
    settings: Settings,
    space_id: str,
    change: Any,
    events: Any,
    removed: Sequence[int] = (),
) -> tuple[Space, Room, Room]:
    """Lock, load, apply `change(room) -> room`, save, commit, publish `events(before, after)`."""
    space = await _locked(session, space_id)
    before = await _room(session, space, settings, removed)
    after = change(before)
    await _save(session, space, before, after)
    await _commit_and_publish(session, bus, space.id, events(before, after))
    return space, before, after


def _me(room: Room, user_id: int) -> dict[str, Any]:
    m = room.member(user_id)
    return {
        "user_id": user_id,
        "role": m.role.value if m else None,
        "muted": m.muted if m else True,
        "hand_raised": bool(m and m.hand_raised_at is not None),
        "invited_as": m.invited_as.value if m and m.invited_as else None,
    }


async def raise_hand(
    session: AsyncSession, bus: Bus, settings: Settings, user: User, space_id: str
) -> dict[str, Any]:
    space = await _locked(session, space_id)
    follows = await accounts_store.is_following(session, space.host_id, user.id)
    before = await _room(session, space, settings)
    after = before.raise_hand(user.id, time.time(), follows)
    await _save(session, space, before, after)
    await _commit_and_publish(session, bus, space.id, [("hand.raised", {"user_id": user.id})])
    return _me(after, user.id)


async def lower_hand(
    session: AsyncSession, bus: Bus, settings: Settings, user: User, space_id: str
) -> dict[str, Any]:
    _, _, after = await _stage_change(
        session,
        bus,
        settings,
        space_id,
        lambda r: r.lower_hand(user.id),
        lambda b, a: [("hand.lowered", {"user_id": user.id})],
    )
    return _me(after, user.id)


async def answer_hand(
    session: AsyncSession,
    bus: Bus,
    settings: Settings,
    actor: User,
    space_id: str,
    user_id: int,
    approve: bool,
) -> dict[str, Any]:
    """A host or co-host approves (to speaker) or declines a raised hand."""

    def events(before: Room, after: Room) -> list[tuple[str, dict[str, Any]]]:
        out: list[tuple[str, dict[str, Any]]] = [
            ("hand.lowered", {"user_id": user_id, "by": actor.id, "declined": not approve})
        ]
        if approve:
            out.append(("role.changed", {"user_id": user_id, "role": "speaker", "by": actor.id}))
            out.append(_listeners_event(after))
        return out

    _, _, after = await _stage_change(
        session,
        bus,
        settings,
        space_id,
        (lambda r: r.approve_hand(actor.id, user_id))
        if approve
        else (lambda r: r.decline_hand(actor.id, user_id)),
        events,
    )
    return _me(after, user_id)


async def invite(
    session: AsyncSession,
    bus: Bus,
    settings: Settings,
    actor: User,
    space_id: str,
    user_id: int,
    role: str,
) -> dict[str, Any]:
    """Invite a listener to speak, or (host only) someone to co-host; they accept or decline."""
    wanted = _enum(Role, role, "role")
    space, _, after = await _stage_change(
        session,
        bus,
        settings,
        space_id,
        lambda r: r.invite(actor.id, user_id, wanted),
        lambda b, a: [("invite.sent", {"user_id": user_id, "role": wanted.value, "by": actor.id})],
    )
    data = {
        "space_id": space.id,
        "title": space.title,
        "by": user_brief(actor),
        "role": wanted.value,
    }
    await notifications.notify(session, bus, [user_id], "invite", data)
    await session.commit()
    return _me(after, user_id)


async def answer_invitation(
    session: AsyncSession, bus: Bus, settings: Settings, user: User, space_id: str, accept: bool
) -> dict[str, Any]:
    space = await _locked(session, space_id)
    before = await _room(session, space, settings)
    pending = before.member(user.id)
    after = before.accept_invite(user.id) if accept else before.decline_invite(user.id)
    await _save(session, space, before, after)
    invited_as = pending.invited_as if pending else None
    role = after.role_of(user.id)
    events: list[tuple[str, dict[str, Any]]]
    if accept:
        assert role is not None
        events = [("role.changed", {"user_id": user.id, "role": role.value, "by": user.id})]
        events.append(_listeners_event(after))
        if role is Role.COHOST and space.visibility == Visibility.PUBLIC:
            data = {
                "space_id": space.id,
                "title": space.title,
                "by": user_brief(user),
                "user": user_brief(user),
            }
            await notifications.notify_followers(session, bus, user.id, "cohost.added", data)
    else:
        role_name = invited_as.value if invited_as else None
        events = [("invite.declined", {"user_id": user.id, "role": role_name})]
    await _commit_and_publish(session, bus, space.id, events)
    return _me(after, user.id)


async def step_down(
    session: AsyncSession, bus: Bus, settings: Settings, user: User, space_id: str
) -> dict[str, Any]:
    _, _, after = await _stage_change(
        session,
        bus,
        settings,
        space_id,
        lambda r: r.step_down(user.id),
        lambda b, a: [
            ("role.changed", {"user_id": user.id, "role": "listener", "by": user.id}),
            _listeners_event(a),
        ],
    )
    return _me(after, user.id)


async def set_role(
    session: AsyncSession,
    bus: Bus,
    settings: Settings,
    actor: User,
    space_id: str,
    user_id: int,
    role: str,
) -> dict[str, Any]:
    """Move someone down: speaker → listener (host, co-hosts), co-host → speaker or
    listener (host only). Promotions go through hands and invitations."""
    wanted = _enum(Role, role, "role")
    _, _, after = await _stage_change(
        session,
        bus,
        settings,
        space_id,
        lambda r: r.demote(actor.id, user_id, wanted),
        lambda b, a: [
            ("role.changed", {"user_id": user_id, "role": wanted.value, "by": actor.id}),
            _listeners_event(a),
        ],
    )
    return _me(after, user_id)


async def transfer_host(
    session: AsyncSession, bus: Bus, settings: Settings, actor: User, space_id: str, user_id: int
) -> dict[str, Any]:
    """The host hands the host role to a co-host and stays on as a co-host."""
    space = await _locked(session, space_id)
    before = await _room(session, space, settings)
    after = before.transfer_host(actor.id, user_id)
    await _save(session, space, before, after)
    view = await space_view(session, space)
    await _commit_and_publish(
        session,
        bus,
        space.id,
        [
            ("role.changed", {"user_id": user_id, "role": "host", "by": actor.id}),
            ("role.changed", {"user_id": actor.id, "role": "cohost", "by": actor.id}),
            ("space.updated", {"space": view}),
        ],
    )
    return view


async def set_mute(
    session: AsyncSession,
    bus: Bus,
    settings: Settings,
    actor: User,
    space_id: str,
    user_id: int | None,
    muted: bool,
) -> dict[str, Any]:
    """Mute or unmute yourself (user_id None or yours); moderators may mute others."""
    target = actor.id if user_id is None else user_id
    _, _, after = await _stage_change(
        session,
        bus,
        settings,
        space_id,
        lambda r: r.set_mute(actor.id, target, muted),
        lambda b, a: [("mute.changed", {"user_id": target, "muted": muted, "by": actor.id})],
    )
    return _me(after, target)


async def remove(
    session: AsyncSession,
    bus: Bus,
    settings: Settings,
    actor: User,
    space_id: str,
    user_id: int,
    block: bool = False,
) -> dict[str, Any]:
    """Remove a participant (they cannot rejoin); with block, also block them account-wide."""
    space = await _locked(session, space_id)
    before = await _room(session, space, settings, removed=[user_id])
    if block:
        await _user_exists(session, user_id)
        after = before.ban(actor.id, user_id)
    else:
        after = before.remove(actor.id, user_id)
    await _save(session, space, before, after)
    await store.add_removal(session, space.id, user_id, actor.id)
    if block:
        await accounts_store.block(session, actor.id, user_id)
    events: list[tuple[str, dict[str, Any]]] = []
    if user_id in before.members:
        events = [("member.removed", {"user_id": user_id, "by": actor.id})]
        events.append(_listeners_event(after))
    await _commit_and_publish(session, bus, space.id, events)
    return {"user_id": user_id, "removed": True, "blocked": block}


# -- reactions, reports, reminders ---------------------------------------------------


async def react(
    session: AsyncSession, bus: Bus, user: User, space_id: str, emoji: str
) -> dict[str, Any]:
    """Send a reaction to everyone in the space (rate-limited per user)."""
    validate_reaction(emoji)
    space = await store.get_space(session, space_id)
    if space is None:
        raise NotFound("space_not_found", "no such space")
    rules.require_live(SpaceState(space.state))
    row = await store.member_row(session, space.id, user.id)
    if row is None or not row.present:
        raise Conflict("not_in_space", "you are not in this space; join it first")
    old = (row.reaction_window_start, row.reaction_count)
    window = None if old[0] is None else ReactionWindow(old[0], old[1])
    new = take_reaction(window, time.time())
    if not await store.take_reaction_slot(session, row, old, (new.started_at, new.count)):
        raise RateLimited("reaction_rate_limited", "too many reactions at once; slow down")
    await _commit_and_publish(
        session, bus, space.id, [("reaction", {"user_id": user.id, "emoji": emoji})]
    )
    return {"emoji": emoji}


async def report(
    session: AsyncSession, reporter: User, space_id: str, user_id: int | None, reason: str
) -> dict[str, Any]:
    """Report a space, or a participant in it, with a reason."""
    space = await _viewable(session, space_id, reporter.id)
    cleaned = " ".join(reason.split())
    if not cleaned:
        raise Invalid("reason_required", "say why you report this", "reason")
    if len(cleaned) > REPORT_REASON_MAX:
        raise Invalid(
            "reason_too_long", f"a reason has at most {REPORT_REASON_MAX} characters", "reason"
        )
    if user_id is not None:
        await _user_exists(session, user_id)
        attended = [a.user_id for a, _ in await store.attendance(session, space.id)]
        if user_id not in attended and user_id != space.host_id:
            raise NotFound("not_a_participant", "that person was not in this space", "user_id")
    row = await store.add_report(session, space.id, reporter.id, user_id, cleaned)
    await session.commit()
    return {
        "id": row.id,
        "space_id": space.id,
        "user_id": user_id,
        "reason": cleaned,
        "created_at": _iso(row.created_at),
    }


async def set_reminder(
    session: AsyncSession, user: User, space_id: str, on: bool
) -> dict[str, Any]:
    """Ask to be told (or stop being told) when a scheduled space starts."""
    space = await _viewable(session, space_id, user.id)
    if on and space.state != SpaceState.SCHEDULED:
        raise Conflict("not_scheduled", "reminders are for scheduled spaces")
    if on and space.host_id == user.id:
        raise Conflict("own_space", "you host this space")
    await store.set_reminder(session, space.id, user.id, on)
    await session.commit()
    return {"space_id": space.id, "reminder_set": on}
