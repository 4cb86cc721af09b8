"""The stage: joining and leaving, hands, invitations, roles, host transfer, mutes,
removals, and the leave of members who vanished."""

from __future__ import annotations

import time

from sqlalchemy.ext.asyncio import AsyncSession

from townhall.api.schemas.notifications import CohostAddedNotice, InviteNotice
from townhall.api.schemas.spaces import (
    JoinedOut,
    LeftOut,
    MemberOut,
    MutedAll,
    Removed,
    SpaceOut,
    StageLock,
)
from townhall.api.schemas.staff import AuditDetail
from townhall.api.services import notifications
from townhall.api.services.access import space_access as announce_space_access
from townhall.api.services.context import Context
from townhall.api.services.spaces.loading import (
    Events,
    access,
    listeners_event,
    parse_enum,
    stage_change,
    staged,
    user_exists,
)
from townhall.api.services.spaces.reading import joined_snapshot
from townhall.api.services.spaces.views import member_view, space_view, user_brief, user_ref
from townhall.api.services.staff import audit
from townhall.bus import Bus
from townhall.bus.events import (
    HandLowered,
    HandRaised,
    InviteDeclined,
    InviteSent,
    MemberJoined,
    MemberLeft,
    MemberRemoved,
    MuteChanged,
    RoleChanged,
    SpaceUpdated,
    StageLocked,
)
from townhall.config import Settings
from townhall.domain import spaces as rules
from townhall.domain import staff as staff_rules
from townhall.domain.presence import may_be_swept
from townhall.domain.roles import Role
from townhall.domain.spaces import SpaceState, Visibility
from townhall.domain.stage import Room
from townhall.store import accounts as accounts_store
from townhall.store import spaces as store
from townhall.store.db import utcnow

# -- joining and leaving -------------------------------------------------------------


async def join(ctx: Context, space_id: str) -> JoinedOut:
    async with staged(ctx.session, ctx.settings, space_id, focus=[ctx.actor.id]) as stage:
        # (a removal from the space is part of the access)
        rules.check_may_join(await access(ctx.session, stage.space, ctx.actor.id))
        after = await stage.apply(stage.before.join(ctx.actor.id))
        if after is not stage.before:
            role = after.role_of(ctx.actor.id)
            assert role is not None
            stage.publish(
                MemberJoined(user=user_ref(ctx.actor), role=role.value), listeners_event(after)
            )
    # Read with the snapshot, in one consistent read: a client that subscribes with
    # last_seq=seq gets exactly the events after it, not a second snapshot. The
    # database's seq (the outbox numbers events at commit): a join never waits for Redis.
    return await joined_snapshot(ctx.session, stage.space.id, ctx.actor.id)


async def leave(ctx: Context, space_id: str) -> LeftOut:
    """Leave the space. A host who leaves keeps the seat until the grace time runs out."""

    def change(room: Room) -> Room:
        rules.require_live(room.state)
        return room.leave(ctx.actor.id)

    space, _, _ = await stage_change(
        ctx.session,
        ctx.settings,
        space_id,
        change,
        lambda b, a: [MemberLeft(user_id=ctx.actor.id), listeners_event(a)],
        focus=[ctx.actor.id],
    )
    return LeftOut(space_id=space.id, left=True)


async def leave_absent(
    session: AsyncSession, bus: Bus, settings: Settings, space_id: str, user_id: int
) -> bool:
    """Make a member who vanished (no connection for too long) leave, as a normal leave
    would: `member.left {user_id, reason: "absent"}` and `listeners.count`.

    Checked again under the space's lock: False (nothing done) when the space is no
    longer live, they already left, they are the host, or they are connected again."""
    async with staged(session, settings, space_id, focus=[user_id]) as stage:
        before = stage.before
        if (
            before.state is not SpaceState.LIVE
            or user_id not in before.members
            or not may_be_swept(user_id, before.host_id)
            or await bus.is_present(space_id, user_id)
        ):
            return False  # nothing changed: the lock is let go
        after = await stage.apply(before.leave(user_id))
        stage.publish(MemberLeft(user_id=user_id, reason="absent"), listeners_event(after))
    return True


async def drop_lost_access(
    session: AsyncSession, settings: Settings, user_id: int, host_id: int
) -> list[str]:
    """After a block or an unfollow between `user_id` and `host_id`: the user leaves every
    live space of that host they may no longer see (`member.left {user_id, reason:
    "no_access"}` and `listeners.count`, which also ends their audio on every node).

    Returns the ids of the host's live spaces the user may no longer see (joined or not),
    for the caller to announce (`services.access.space_access`) once committed."""
    lost: list[str] = []
    for space_id, state, hosts in await store.open_spaces_of(session, host_id):
        if not hosts or state != SpaceState.LIVE:
            continue
        async with staged(session, settings, space_id, focus=[user_id]) as stage:
            space = stage.space
            if space.host_id != host_id or rules.may_view(await access(session, space, user_id)):
                continue
            lost.append(space.id)
            before = stage.before
            if before.state is not SpaceState.LIVE or user_id not in before.members:
                continue
            after = await stage.apply(before.leave(user_id))
            stage.publish(MemberLeft(user_id=user_id, reason="no_access"), listeners_event(after))
    return lost


# -- hands and invitations -----------------------------------------------------------


async def raise_hand(ctx: Context, space_id: str) -> MemberOut:
    staff_rules.check_account_age(
        ctx.actor.created_at, utcnow(), ctx.settings.min_account_age_to_speak
    )
    async with staged(ctx.session, ctx.settings, space_id) as stage:
        space = stage.space
        rules.check_may_view(await access(ctx.session, space, ctx.actor.id))  # lost access?
        follows = await accounts_store.is_following(ctx.session, space.host_id, ctx.actor.id)
        after = await stage.apply(stage.before.raise_hand(ctx.actor.id, time.time(), follows))
        stage.publish(HandRaised(user_id=ctx.actor.id))
    return member_view(after, ctx.actor.id)


async def lower_hand(ctx: Context, space_id: str) -> MemberOut:
    _, _, after = await stage_change(
        ctx.session,
        ctx.settings,
        space_id,
        lambda r: r.lower_hand(ctx.actor.id),
        lambda b, a: [HandLowered(user_id=ctx.actor.id)],
    )
    return member_view(after, ctx.actor.id)


async def answer_hand(ctx: Context, space_id: str, user_id: int, approve: bool) -> MemberOut:
    """A host or co-host approves (to speaker) or declines a raised hand."""

    def change(room: Room) -> Room:
        if approve:
            return room.approve_hand(ctx.actor.id, user_id)
        return room.decline_hand(ctx.actor.id, user_id)

    def events(before: Room, after: Room) -> Events:
        out: Events = [HandLowered(user_id=user_id, by=ctx.actor.id, declined=not approve)]
        if approve:
            out.append(RoleChanged(user_id=user_id, role="speaker", by=ctx.actor.id))
            out.append(listeners_event(after))
        return out

    _, _, after = await stage_change(ctx.session, ctx.settings, space_id, change, events)
    return member_view(after, user_id)


async def invite(ctx: Context, space_id: str, user_id: int, role: str) -> MemberOut:
    """Invite a listener to speak, or (host only) someone to co-host; they accept or decline."""
    wanted = parse_enum(Role, role, "role")
    async with staged(ctx.session, ctx.settings, space_id) as stage:
        after = await stage.apply(stage.before.invite(ctx.actor.id, user_id, wanted))
        stage.publish(InviteSent(user_id=user_id, role=wanted.value, by=ctx.actor.id))
        notice = InviteNotice(
            space_id=stage.space.id,
            title=stage.space.title,
            by=user_brief(ctx.actor),
            role="cohost" if wanted is Role.COHOST else "speaker",
        )
        await notifications.notify(ctx.session, [user_id], notice)  # commits with the invitation
    return member_view(after, user_id)


async def answer_invitation(ctx: Context, space_id: str, accept: bool) -> MemberOut:
    async with staged(ctx.session, ctx.settings, space_id) as stage:
        space, before = stage.space, stage.before
        if accept:
            rules.check_may_view(await access(ctx.session, space, ctx.actor.id))  # lost access?
        pending = before.member(ctx.actor.id)
        after = await stage.apply(
            before.accept_invite(ctx.actor.id) if accept else before.decline_invite(ctx.actor.id)
        )
        if not accept:
            invited_as = pending.invited_as if pending else None
            role_name = invited_as.value if invited_as else None
            stage.publish(InviteDeclined(user_id=ctx.actor.id, role=role_name))
            return member_view(after, ctx.actor.id)
        role = after.role_of(ctx.actor.id)
        assert role is not None
        stage.publish(
            RoleChanged(user_id=ctx.actor.id, role=role.value, by=ctx.actor.id),
            listeners_event(after),
        )
        if role is Role.COHOST and space.visibility == Visibility.PUBLIC:
            brief = user_brief(ctx.actor)
            notice = CohostAddedNotice(space_id=space.id, title=space.title, by=brief, user=brief)
            await notifications.notify_followers(ctx.session, ctx.actor.id, notice)
    return member_view(after, ctx.actor.id)


# -- roles, mutes, removals ----------------------------------------------------------


async def step_down(ctx: Context, space_id: str) -> MemberOut:
    _, _, after = await stage_change(
        ctx.session,
        ctx.settings,
        space_id,
        lambda r: r.step_down(ctx.actor.id),
        lambda b, a: [
            RoleChanged(user_id=ctx.actor.id, role="listener", by=ctx.actor.id),
            listeners_event(a),
        ],
    )
    return member_view(after, ctx.actor.id)


async def set_role(ctx: Context, space_id: str, user_id: int, role: str) -> MemberOut:
    """Move someone down: speaker → listener (host, co-hosts), co-host → speaker or
    listener (host only). Promotions go through hands and invitations."""
    wanted = parse_enum(Role, role, "role")
    _, _, after = await stage_change(
        ctx.session,
        ctx.settings,
        space_id,
        lambda r: r.demote(ctx.actor.id, user_id, wanted),
        lambda b, a: [
            RoleChanged(user_id=user_id, role=wanted.value, by=ctx.actor.id),
            listeners_event(a),
        ],
    )
    return member_view(after, user_id)


async def transfer_host(ctx: Context, space_id: str, user_id: int) -> SpaceOut:
    """The host hands the host role to a co-host and stays on as a co-host."""
    async with staged(ctx.session, ctx.settings, space_id) as stage:
        await stage.apply(stage.before.transfer_host(ctx.actor.id, user_id))
        view = await space_view(ctx.session, stage.space)  # the space as saved: its new host
        stage.publish(
            RoleChanged(user_id=user_id, role="host", by=ctx.actor.id),
            RoleChanged(user_id=ctx.actor.id, role="cohost", by=ctx.actor.id),
            SpaceUpdated(space=view.model_dump(mode="json")),
        )
    return view


async def set_mute(ctx: Context, space_id: str, user_id: int | None, muted: bool) -> MemberOut:
    """Mute or unmute yourself (user_id None or yours); moderators may mute others."""
    target = ctx.actor.id if user_id is None else user_id
    if target != ctx.actor.id:
        await audit.record(
            ctx.session,
            ctx.actor,
            "space.mute",
            target=await accounts_store.user_by_id(ctx.session, target),
            space_id=space_id,
        )
    _, _, after = await stage_change(
        ctx.session,
        ctx.settings,
        space_id,
        lambda r: r.set_mute(ctx.actor.id, target, muted),
        lambda b, a: [MuteChanged(user_id=target, muted=muted, by=ctx.actor.id)],
    )
    return member_view(after, target)


async def mute_all(ctx: Context, space_id: str) -> MutedAll:
    """A moderator mutes everyone else on stage at once; one `mute.changed` each."""
    await audit.record(ctx.session, ctx.actor, "space.mute_all", space_id=space_id)
    _, before, after = await stage_change(
        ctx.session,
        ctx.settings,
        space_id,
        lambda r: r.mute_all(ctx.actor.id),
        lambda b, a: [
            MuteChanged(user_id=m.user_id, muted=True, by=ctx.actor.id)
            for m in a.members.values()
            if m.muted and not b.members[m.user_id].muted
        ],
    )
    muted = [m for m in after.members.values() if m.muted and not before.members[m.user_id].muted]
    return MutedAll(muted=sorted(m.user_id for m in muted))


async def lock_stage(ctx: Context, space_id: str, locked: bool) -> StageLock:
    """A moderator locks the stage (no new raised hands) or opens it again."""
    await audit.record(
        ctx.session,
        ctx.actor,
        "space.stage_lock",
        space_id=space_id,
        detail=AuditDetail(locked=locked),
    )
    await stage_change(
        ctx.session,
        ctx.settings,
        space_id,
        lambda r: r.lock_stage(ctx.actor.id, locked),
        lambda b, a: (
            [StageLocked(locked=locked, by=ctx.actor.id)]
            if b.stage_locked != a.stage_locked
            else []
        ),
    )
    return StageLock(stage_locked=locked)


async def remove(ctx: Context, space_id: str, user_id: int, block: bool = False) -> Removed:
    """Remove a participant (they cannot rejoin this space).

    `block` bans them from the space whether or not they are in it now. The ban belongs
    to the space: when the host blocks, the host's account blocks them too (every space
    of the host, as a profile block does); a co-host's block is the space ban only, never
    an account block of the co-host's own."""
    async with staged(ctx.session, ctx.settings, space_id, removed=[user_id]) as stage:
        space, before = stage.space, stage.before
        if block:
            await user_exists(ctx.session, user_id)
            after = await stage.apply(before.ban(ctx.actor.id, user_id))
        else:
            after = await stage.apply(before.remove(ctx.actor.id, user_id))
        await audit.record(
            ctx.session,
            ctx.actor,
            "space.ban" if block else "space.remove",
            target=await accounts_store.user_by_id(ctx.session, user_id),
            space_id=space.id,
        )
        await store.add_removal(ctx.session, space.id, user_id, ctx.actor.id)
        if block and ctx.actor.id == space.host_id:
            await accounts_store.block(ctx.session, ctx.actor.id, user_id)
        if user_id in before.members:
            stage.publish(MemberRemoved(user_id=user_id, by=ctx.actor.id), listeners_event(after))
        # Also for someone watching without being a member: their sockets stop the space.
        await announce_space_access(ctx.session, user_id, [space.id])
    if block and ctx.actor.id == space.host_id:
        # The host's account block reaches the host's other live spaces too, at once.
        others = await drop_lost_access(ctx.session, ctx.settings, user_id, space.host_id)
        await announce_space_access(ctx.session, user_id, others)
        await ctx.session.commit()
    return Removed(user_id=user_id, removed=True, blocked=block)
