"""The people in a live space: roles, stage and co-host limits, hands, invitations, mutes.

A `Room` is an immutable picture of the present participants. Every operation checks the
rules, raises a `DomainError` naming the rule that forbids it, or returns the new `Room`.
The store persists the members that changed (`changed_members`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from townhall.domain.errors import Conflict, Forbidden, Invalid, NotFound
from townhall.domain.roles import Role, is_moderator, is_on_stage, rank
from townhall.domain.spaces import SpaceState, SpeakerPolicy, require_live


@dataclass(frozen=True)
class Limits:
    stage_limit: int = 13  # host + co-hosts + speakers
    cohost_limit: int = 2
    listener_limit: int | None = None


@dataclass(frozen=True)
class Member:
    """One present participant."""

    user_id: int
    role: Role
    muted: bool = True
    hand_raised_at: float | None = None  # set while the hand is up; orders the queue
    invited_as: Role | None = None  # a pending invitation to speak or co-host


@dataclass(frozen=True)
class Room:
    host_id: int
    state: SpaceState = SpaceState.LIVE
    speaker_policy: SpeakerPolicy = SpeakerPolicy.EVERYONE
    limits: Limits = Limits()
    members: Mapping[int, Member] = field(default_factory=lambda: MappingProxyType({}))
    removed: frozenset[int] = frozenset()
    # Present listeners left out of `members`: a room loaded for one person's join or leave
    # holds the stage, raised hands, pending invitations and that person, and counts the
    # other listeners (thousands in a big space) instead of loading them.
    other_listeners: int = 0
    stage_locked: bool = False  # no new raised hands (a room safety tool)

    # -- views --------------------------------------------------------------

    def member(self, user_id: int) -> Member | None:
        return self.members.get(user_id)

    def role_of(self, user_id: int) -> Role | None:
        m = self.members.get(user_id)
        return m.role if m else None

    @property
    def stage_count(self) -> int:
        """Stage seats taken. The host's seat is always counted, present or not."""
        others = sum(1 for m in self.members.values() if m.role in (Role.COHOST, Role.SPEAKER))
        return 1 + others

    @property
    def cohost_count(self) -> int:
        return sum(1 for m in self.members.values() if m.role is Role.COHOST)

    @property
    def listener_count(self) -> int:
        loaded = sum(1 for m in self.members.values() if m.role is Role.LISTENER)
        return loaded + self.other_listeners

    def hand_queue(self) -> list[Member]:
        """Raised hands, oldest first."""
        raised = [m for m in self.members.values() if m.hand_raised_at is not None]
        return sorted(raised, key=lambda m: (m.hand_raised_at, m.user_id))

    # -- building blocks ----------------------------------------------------

    def _with(self, *members: Member, drop: tuple[int, ...] = (), **changes: object) -> Room:
        new = dict(self.members)
        for uid in drop:
            new.pop(uid, None)
        for m in members:
            new[m.user_id] = m
        return replace(self, members=MappingProxyType(new), **changes)  # type: ignore[arg-type]

    def _present(self, user_id: int) -> Member:
        m = self.members.get(user_id)
        if m is None:
            raise Conflict("not_in_space", "you are not in this space; join it first")
        return m

    def _target(self, user_id: int) -> Member:
        m = self.members.get(user_id)
        if m is None:
            raise NotFound("member_not_found", "that person is not in this space", "user_id")
        return m

    def _moderator(self, actor_id: int, action: str) -> Member:
        actor = self._present(actor_id)
        if not is_moderator(actor.role):
            raise Forbidden("moderators_only", f"only the host and co-hosts may {action}")
        return actor

    def _not_on_host(self, actor: Member, target: Member) -> None:
        if target.role is Role.HOST and actor.user_id != target.user_id:
            raise Forbidden("cannot_act_on_host", "nobody can do that to the host")

    def _cohosts_by_host_only(self, actor: Member, target: Member) -> None:
        """Removing, banning and demoting a co-host is the host's alone: co-hosts are
        peers and cannot push each other out (muting, which the co-host can undo, is
        open to every moderator)."""
        if target.role is Role.COHOST and actor.role is not Role.HOST:
            raise Forbidden("host_only", "only the host may remove or demote co-hosts")

    def _check_stage_room(self, joining: int = 1) -> None:
        if self.stage_count + joining > self.limits.stage_limit:
            raise Conflict(
                "stage_full", f"the stage is full ({self.limits.stage_limit} people at most)"
            )

    def _check_cohost_room(self) -> None:
        if self.cohost_count >= self.limits.cohost_limit:
            raise Conflict(
                "cohost_limit", f"a space has at most {self.limits.cohost_limit} co-hosts"
            )

    # -- joining and leaving -------------------------------------------------

    def join(self, user_id: int) -> Room:
        """Enter the space: the host as host, everyone else as a listener. Idempotent."""
        require_live(self.state)
        if user_id in self.members:
            return self
        if user_id in self.removed:
            raise Forbidden("removed_from_space", "you were removed from this space")
        if user_id == self.host_id:
            return self._with(Member(user_id, Role.HOST))
        limit = self.limits.listener_limit
        if limit is not None and self.listener_count >= limit:
            raise Conflict("space_full", f"the space is full ({limit} listeners at most)")
        return self._with(Member(user_id, Role.LISTENER))

    def leave(self, user_id: int) -> Room:
        """Leave; the host's seat stays theirs (the space ends only after the grace time)."""
        self._present(user_id)
        return self._with(drop=(user_id,))

    # -- hands ---------------------------------------------------------------

    def raise_hand(self, user_id: int, now: float, host_follows_user: bool) -> Room:
        require_live(self.state)
        m = self._present(user_id)
        if is_on_stage(m.role):
            raise Conflict("already_on_stage", "you are already on stage")
        if m.hand_raised_at is not None:
            raise Conflict("hand_already_raised", "your hand is already raised")
        if self.stage_locked:
            raise Conflict("stage_locked", "the hosts have locked the stage: no new raised hands")
        if self.speaker_policy is SpeakerPolicy.INVITED:
            raise Forbidden(
                "speaker_policy_invited", "only people the host invites may speak in this space"
            )
        if self.speaker_policy is SpeakerPolicy.FOLLOWED and not host_follows_user:
            raise Forbidden(
                "speaker_policy_followed",
                "only people the host follows may ask to speak in this space",
            )
        return self._with(replace(m, hand_raised_at=now))

    def lower_hand(self, user_id: int) -> Room:
        require_live(self.state)
        m = self._present(user_id)
        if m.hand_raised_at is None:
            raise Conflict("hand_not_raised", "your hand is not raised")
        return self._with(replace(m, hand_raised_at=None))

    def approve_hand(self, actor_id: int, user_id: int) -> Room:
        """A moderator brings a listener with a raised hand on stage as a speaker."""
        require_live(self.state)
        self._moderator(actor_id, "approve raised hands")
        m = self._target(user_id)
        if m.hand_raised_at is None:
            raise Conflict("hand_not_raised", "that person has not raised a hand")
        self._check_stage_room()
        return self._with(
            replace(m, role=Role.SPEAKER, muted=True, hand_raised_at=None, invited_as=None)
        )

    def decline_hand(self, actor_id: int, user_id: int) -> Room:
        require_live(self.state)
        self._moderator(actor_id, "decline raised hands")
        m = self._target(user_id)
        if m.hand_raised_at is None:
            raise Conflict("hand_not_raised", "that person has not raised a hand")
        return self._with(replace(m, hand_raised_at=None))

    # -- invitations ---------------------------------------------------------

    def invite(self, actor_id: int, user_id: int, role: Role) -> Room:
        """Invite a listener to speak, or (host only) a listener or speaker to co-host."""
        require_live(self.state)
        actor = self._moderator(actor_id, "invite people on stage")
        if role not in (Role.SPEAKER, Role.COHOST):
            raise Invalid("invalid_invite_role", "invite people as speaker or cohost", "role")
        if role is Role.COHOST and actor.role is not Role.HOST:
            raise Forbidden("host_only", "only the host may add co-hosts")
        m = self._target(user_id)
        if rank(m.role) >= rank(role):
            raise Conflict("already_in_role", f"that person is already {m.role.value}")
        if m.invited_as is not None:
            raise Conflict("already_invited", "that person already has a pending invitation")
        if role is Role.COHOST:
            self._check_cohost_room()
        if not is_on_stage(m.role):
            self._check_stage_room()
        return self._with(replace(m, invited_as=role))

    def accept_invite(self, user_id: int) -> Room:
        require_live(self.state)
        m = self._present(user_id)
        if m.invited_as is None:
            raise Conflict("no_invitation", "you have no pending invitation")
        if rank(m.role) >= rank(m.invited_as):
            return self._with(replace(m, invited_as=None))
        if m.invited_as is Role.COHOST:
            self._check_cohost_room()
        if not is_on_stage(m.role):
            self._check_stage_room()
        return self._with(
            replace(m, role=m.invited_as, invited_as=None, hand_raised_at=None, muted=m.muted)
        )

    def decline_invite(self, user_id: int) -> Room:
        require_live(self.state)
        m = self._present(user_id)
        if m.invited_as is None:
            raise Conflict("no_invitation", "you have no pending invitation")
        return self._with(replace(m, invited_as=None))

    # -- role changes --------------------------------------------------------

    def step_down(self, user_id: int) -> Room:
        """A speaker or co-host returns to the audience."""
        require_live(self.state)
        m = self._present(user_id)
        if m.role is Role.HOST:
            raise Forbidden(
                "host_cannot_step_down", "the host cannot step down; hand the host role over"
            )
        if m.role is Role.LISTENER:
            raise Conflict("not_on_stage", "you are not on stage")
        return self._with(replace(m, role=Role.LISTENER, muted=True, invited_as=None))

    def demote(self, actor_id: int, user_id: int, role: Role) -> Room:
        """Move someone down: a speaker to listener (moderators), a co-host down (host only).

        Promotions are never direct: they go through a raised hand or an invitation.
        """
        require_live(self.state)
        actor = self._moderator(actor_id, "change roles")
        m = self._target(user_id)
        if m.role is Role.HOST:
            raise Forbidden("cannot_act_on_host", "the host's role can only be handed over")
        if rank(role) > rank(m.role):
            raise Forbidden(
                "promotion_needs_invitation",
                "people come on stage only by accepting an invitation or an approved hand",
            )
        if role is m.role:
            raise Conflict("already_in_role", f"that person is already {role.value}")
        self._cohosts_by_host_only(actor, m)
        muted = True if role is Role.LISTENER else m.muted
        return self._with(replace(m, role=role, muted=muted, invited_as=None))

    def transfer_host(self, actor_id: int, user_id: int) -> Room:
        """The host hands the host role to a present co-host and becomes a co-host."""
        require_live(self.state)
        actor = self._present(actor_id)
        if actor.role is not Role.HOST:
            raise Forbidden("host_only", "only the host may hand over the host role")
        m = self._target(user_id)
        if m.role is not Role.COHOST:
            raise Conflict("not_a_cohost", "the host role can only go to a co-host")
        return self._with(
            replace(m, role=Role.HOST, invited_as=None),
            replace(actor, role=Role.COHOST),
            host_id=user_id,
        )

    # -- mutes ---------------------------------------------------------------

    def set_mute(self, actor_id: int, user_id: int, muted: bool) -> Room:
        """Anyone on stage mutes or unmutes themselves; moderators may only mute others."""
        require_live(self.state)
        actor = self._present(actor_id)
        if actor_id == user_id:
            if not is_on_stage(actor.role):
                raise Conflict("not_on_stage", "listeners have no microphone")
            return self._with(replace(actor, muted=muted))
        if not muted:
            raise Forbidden("cannot_unmute_others", "nobody can unmute someone else")
        if not is_moderator(actor.role):
            raise Forbidden("moderators_only", "only the host and co-hosts may mute others")
        m = self._target(user_id)
        self._not_on_host(actor, m)
        if not is_on_stage(m.role):
            raise Conflict("not_on_stage", "that person is not on stage")
        return self._with(replace(m, muted=True))

    def mute_all(self, actor_id: int) -> Room:
        """A moderator mutes everyone else on stage at once (a co-host never the host)."""
        require_live(self.state)
        actor = self._moderator(actor_id, "mute everyone")
        muted = [
            replace(m, muted=True)
            for m in self.members.values()
            if is_on_stage(m.role)
            and not m.muted
            and m.user_id != actor_id
            and not (m.role is Role.HOST and actor.role is not Role.HOST)
        ]
        return self._with(*muted)

    def lock_stage(self, actor_id: int, locked: bool) -> Room:
        """A moderator stops (or allows again) new raised hands; hands already up stay."""
        require_live(self.state)
        self._moderator(actor_id, "lock the stage")
        return self._with(stage_locked=locked)

    # -- removal -------------------------------------------------------------

    def remove(self, actor_id: int, user_id: int) -> Room:
        """A moderator removes a participant, who cannot rejoin this space."""
        require_live(self.state)
        actor = self._moderator(actor_id, "remove people")
        if actor_id == user_id:
            raise Conflict("cannot_remove_self", "you cannot remove yourself; leave instead")
        m = self._target(user_id)
        self._not_on_host(actor, m)
        self._cohosts_by_host_only(actor, m)
        return self._with(drop=(user_id,), removed=self.removed | {user_id})

    def ban(self, actor_id: int, user_id: int) -> Room:
        """Keep someone out of the space whether or not they are in it now (used by block)."""
        require_live(self.state)
        actor = self._moderator(actor_id, "block people")
        if actor_id == user_id:
            raise Conflict("cannot_remove_self", "you cannot block yourself")
        if user_id == self.host_id:
            raise Forbidden("cannot_act_on_host", "nobody can do that to the host")
        m = self.members.get(user_id)
        if m is not None:
            self._not_on_host(actor, m)
            self._cohosts_by_host_only(actor, m)
        return self._with(drop=(user_id,), removed=self.removed | {user_id})

    # -- ending ----------------------------------------------------------------

    def end(self) -> Room:
        """Everyone leaves when the space ends (the lifecycle check is `spaces.end`)."""
        return replace(self, state=SpaceState.ENDED, members=MappingProxyType({}))


def changed_members(before: Room, after: Room) -> tuple[list[Member], list[int]]:
    """Members added or changed, and user ids no longer present."""
    changed = [m for uid, m in after.members.items() if before.members.get(uid) != m]
    gone = [uid for uid in before.members if uid not in after.members]
    return changed, gone
