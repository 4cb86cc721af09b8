"""Spaces: create, discover, join and leave, the stage, moderation, reactions, history.

Each handler parses its input and calls one function of `townhall.api.services.spaces`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, status
from sqlalchemy.ext.asyncio import AsyncSession

from townhall.api.deps import BusDep, CurrentUser, DbSession, OptionalUser, PublicBase, SettingsDep
from townhall.api.schemas.spaces import (
    CreateSpaceIn,
    EditSpaceIn,
    GuestsAdded,
    GuestsIn,
    HistoryOut,
    InviteIn,
    JoinedOut,
    LeftOut,
    MemberOut,
    MutedAll,
    MuteIn,
    Reaction,
    ReactionIn,
    Reminder,
    Removed,
    ReportIn,
    ReportOut,
    RoleIn,
    Snapshot,
    SpaceList,
    SpaceOut,
    StageLock,
    StageLockIn,
    UserIn,
)
from townhall.api.services import recordings, spaces
from townhall.api.services.context import Context
from townhall.api.services.staff.evidence import EvidenceWindow
from townhall.config import Settings
from townhall.store.models import User

router = APIRouter(prefix="/api/v1/spaces", tags=["spaces"])

SpaceId = Annotated[str, Path(max_length=64, description="the space's 12-character id")]
UserId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@dataclass(frozen=True)
class SpaceCall:
    """A request about one space: who asks, and what the services need to answer."""

    space_id: str
    user: User
    session: AsyncSession
    bus: Any
    settings: Settings

    @property
    def ctx(self) -> Context:
        """What a use case runs with, the user acting."""
        return Context(self.session, self.bus, self.settings, self.user)


async def _space_call(
    space_id: SpaceId, user: CurrentUser, session: DbSession, bus: BusDep, settings: SettingsDep
) -> SpaceCall:
    return SpaceCall(space_id, user, session, bus, settings)


@dataclass(frozen=True)
class SpaceMemberCall(SpaceCall):
    """A request about one member of a space (`.../{user_id}/...` paths)."""

    user_id: int


async def _member_call(
    space_id: SpaceId,
    user_id: UserId,
    user: CurrentUser,
    session: DbSession,
    bus: BusDep,
    settings: SettingsDep,
) -> SpaceMemberCall:
    return SpaceMemberCall(space_id, user, session, bus, settings, user_id)


# Handlers take one of these as `c`. `_member_call` names both path parameters itself so
# that the OpenAPI lists them in path order (space_id, then user_id).
Call = Annotated[SpaceCall, Depends(_space_call)]
MemberCall = Annotated[SpaceMemberCall, Depends(_member_call)]


# -- lifecycle ---------------------------------------------------------------------


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_space(
    body: CreateSpaceIn,
    user: CurrentUser,
    session: DbSession,
    bus: BusDep,
    settings: SettingsDep,
    public_base: PublicBase,
) -> SpaceOut:
    """Start a space now (state live), or schedule it (state scheduled)."""
    return await spaces.create_space(
        Context(session, bus, settings, user),
        title=body.title,
        visibility=body.visibility,
        speaker_policy=body.speaker_policy,
        topics=body.topics,
        scheduled_for=body.scheduled_for,
        followers_may_join=body.followers_may_join,
        guest_ids=body.guest_ids,
        public_base=public_base,
        record=body.record,
    )


@router.get("")
async def list_spaces(
    user: OptionalUser,
    session: DbSession,
    state: Annotated[Literal["live", "scheduled"], Query()] = "live",
    q: Annotated[str | None, Query(max_length=100, description="title or topic")] = None,
    host: Annotated[str | None, Query(max_length=15, description="only this host's")] = None,
) -> SpaceList:
    """Live spaces (people I follow first, then by listeners) or upcoming ones; signed
    out, the public ones (the home page of a visitor)."""
    return await spaces.discover(session, user, state, q, host)


@router.get("/{space_id}")
async def get_space(c: Call, public_base: PublicBase) -> SpaceOut:
    """One space with its counts, its share link (and its history summary and its
    recording once ended)."""
    await recordings.finish(c.session, c.settings.data_dir, c.space_id)
    return await spaces.get_space(c.session, c.user, c.space_id, public_base)


@router.get("/{space_id}/snapshot")
async def get_snapshot(c: Call) -> Snapshot:
    """The room as I see it: stage with roles and mutes, listeners, my place, and the
    raised hands in order (hosts and co-hosts only; others get null)."""
    return await spaces.snapshot(c.session, c.space_id, c.user.id)


@router.patch("/{space_id}")
async def edit_space(c: Call, body: EditSpaceIn) -> SpaceOut:
    """The host edits title, topics or speaker policy."""
    return await spaces.edit_space(
        c.ctx,
        c.space_id,
        title=body.title,
        topics=body.topics,
        speaker_policy=body.speaker_policy,
    )


@router.post("/{space_id}/start")
async def start_space(c: Call) -> SpaceOut:
    return await spaces.start_space(c.ctx, c.space_id)


@router.post("/{space_id}/cancel")
async def cancel_space(c: Call) -> SpaceOut:
    return await spaces.cancel_space(c.ctx, c.space_id)


@router.post("/{space_id}/end")
async def end_space(c: Call) -> SpaceOut:
    return await spaces.end_by_host(c.ctx, c.space_id)


@router.post("/{space_id}/guests")
async def add_guests(c: Call, body: GuestsIn) -> GuestsAdded:
    """The host lets more people into a private space."""
    return await spaces.add_guests(c.ctx, c.space_id, body.user_ids)


@router.get("/{space_id}/history")
async def space_history(c: Call) -> HistoryOut:
    """Who joined and left when, peak and total listeners, duration (ended spaces)."""
    return await spaces.history(c.session, c.user, c.space_id)


# -- joining ---------------------------------------------------------------------


@router.post("/{space_id}/join")
async def join_space(c: Call) -> JoinedOut:
    """Join as a listener (the host as host); returns the space's snapshot."""
    return await spaces.join(c.ctx, c.space_id)


@router.post("/{space_id}/leave")
async def leave_space(c: Call) -> LeftOut:
    return await spaces.leave(c.ctx, c.space_id)


# -- hands and invitations ------------------------------------------------------------


@router.post("/{space_id}/hand")
async def raise_hand(c: Call) -> MemberOut:
    return await spaces.raise_hand(c.ctx, c.space_id)


@router.post("/{space_id}/hand/lower")
async def lower_hand(c: Call) -> MemberOut:
    return await spaces.lower_hand(c.ctx, c.space_id)


@router.post("/{space_id}/hands/{user_id}/approve")
async def approve_hand(c: MemberCall) -> MemberOut:
    """A host or co-host brings a raised hand on stage as a speaker."""
    return await spaces.answer_hand(c.ctx, c.space_id, c.user_id, True)


@router.post("/{space_id}/hands/{user_id}/decline")
async def decline_hand(c: MemberCall) -> MemberOut:
    return await spaces.answer_hand(c.ctx, c.space_id, c.user_id, False)


@router.post("/{space_id}/invite")
async def invite(c: Call, body: InviteIn) -> MemberOut:
    """Invite someone to speak, or (host only) to co-host."""
    return await spaces.invite(c.ctx, c.space_id, body.user_id, body.role)


@router.post("/{space_id}/invitation/accept")
async def accept_invitation(c: Call) -> MemberOut:
    return await spaces.answer_invitation(c.ctx, c.space_id, True)


@router.post("/{space_id}/invitation/decline")
async def decline_invitation(c: Call) -> MemberOut:
    return await spaces.answer_invitation(c.ctx, c.space_id, False)


# -- roles and moderation -------------------------------------------------------------


@router.post("/{space_id}/step-down")
async def step_down(c: Call) -> MemberOut:
    """A speaker or co-host goes back to the audience."""
    return await spaces.step_down(c.ctx, c.space_id)


@router.post("/{space_id}/members/{user_id}/role")
async def set_role(c: MemberCall, body: RoleIn) -> MemberOut:
    """Move someone down: speaker to listener; co-host to speaker or listener (host)."""
    return await spaces.set_role(c.ctx, c.space_id, c.user_id, body.role)


@router.post("/{space_id}/host")
async def transfer_host(c: Call, body: UserIn) -> SpaceOut:
    """The host hands the host role to a co-host."""
    return await spaces.transfer_host(c.ctx, c.space_id, body.user_id)


@router.post("/{space_id}/mute")
async def mute(c: Call, body: MuteIn | None = None) -> MemberOut:
    """Mute myself, or (host, co-hosts) a speaker."""
    target = body.user_id if body else None
    return await spaces.set_mute(c.ctx, c.space_id, target, True)


@router.post("/{space_id}/mute-all")
async def mute_all(c: Call) -> MutedAll:
    """Host, co-hosts: mute everyone else on stage at once."""
    return await spaces.mute_all(c.ctx, c.space_id)


@router.post("/{space_id}/stage/lock")
async def lock_stage(c: Call, body: StageLockIn) -> StageLock:
    """Host, co-hosts: lock the stage (no new raised hands), or open it again."""
    return await spaces.lock_stage(c.ctx, c.space_id, body.locked)


@router.post("/{space_id}/unmute")
async def unmute(c: Call, body: MuteIn | None = None) -> MemberOut:
    """Unmute myself (nobody can unmute someone else)."""
    target = body.user_id if body else None
    return await spaces.set_mute(c.ctx, c.space_id, target, False)


@router.post("/{space_id}/remove")
async def remove(c: Call, body: UserIn) -> Removed:
    """Remove a participant; they cannot rejoin this space."""
    return await spaces.remove(c.ctx, c.space_id, body.user_id)


@router.post("/{space_id}/block")
async def block(c: Call, body: UserIn) -> Removed:
    """Remove a participant from the space and block them."""
    return await spaces.remove(c.ctx, c.space_id, body.user_id, block=True)


# -- reactions, reports, reminders ------------------------------------------------------


@router.post("/{space_id}/react")
async def react(c: Call, body: ReactionIn) -> Reaction:
    """Send one of the fixed reactions to everyone in the space."""
    return await spaces.react(c.ctx, c.space_id, body.emoji)


@router.post("/{space_id}/report", status_code=status.HTTP_201_CREATED)
async def report(c: Call, body: ReportIn) -> ReportOut:
    """Report the space, or one participant in it."""
    window = EvidenceWindow.of(c.settings)
    return await spaces.report(c.session, c.user, c.space_id, body.user_id, body.reason, window)


@router.post("/{space_id}/reminder")
async def set_reminder(c: Call) -> Reminder:
    """Be told when this scheduled space starts."""
    return await spaces.set_reminder(c.session, c.user, c.space_id, True)


@router.delete("/{space_id}/reminder")
async def clear_reminder(c: Call) -> Reminder:
    return await spaces.set_reminder(c.session, c.user, c.space_id, False)
