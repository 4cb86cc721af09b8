"""Property test: no sequence of actions breaks the limits or the moderation rules."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from townhall.domain.actions import Action, actions_for, allowed_actions, operations
from townhall.domain.errors import DomainError
from townhall.domain.roles import Role, is_moderator, is_on_stage, rank
from townhall.domain.spaces import SpaceState, SpeakerPolicy
from townhall.domain.stage import Limits, Room

USERS = st.integers(min_value=1, max_value=6)
HOST = 1


class RoomMachine(RuleBasedStateMachine):
    room: Room

    @initialize(
        stage_limit=st.integers(1, 5),
        cohost_limit=st.integers(0, 3),
        policy=st.sampled_from(list(SpeakerPolicy)),
        present=st.integers(1, 6),
    )
    def setup(
        self, stage_limit: int, cohost_limit: int, policy: SpeakerPolicy, present: int
    ) -> None:
        self.room = Room(HOST, speaker_policy=policy, limits=Limits(stage_limit, cohost_limit))
        for uid in range(1, present + 1):
            self.room = self.room.join(uid)
        self.clock = 0.0

    def attempt(self, op: Callable[[Room], Room]) -> Room | None:
        """Run one action; on success keep the new room. Rejections change nothing."""
        before = self.room
        snapshot = dict(before.members), before.removed, before.host_id, before.state
        try:
            after = op(before)
        except DomainError:
            return None
        finally:
            assert (dict(before.members), before.removed, before.host_id, before.state) == (
                snapshot
            )
        self.room = after
        return after

    def role(self, uid: int) -> Role | None:
        return self.room.role_of(uid)

    def pick(self, data: st.DataObject, who: str) -> int:
        """Mostly someone present (moderators for actors), sometimes anyone."""
        present = sorted(self.room.members)
        members = self.room.members
        preferred = {
            "actor": [u for u in present if is_moderator(members[u].role)],
            "hand": [u for u in present if members[u].hand_raised_at is not None],
            "invited": [u for u in present if members[u].invited_as is not None],
            "stage": [u for u in present if is_on_stage(members[u].role)],
        }.get(who, [])
        if len(preferred) > 0 and data.draw(st.booleans()):
            present = preferred
        if present and data.draw(st.integers(0, 4)) > 0:
            return data.draw(st.sampled_from(present))
        return data.draw(USERS)

    # -- rules ---------------------------------------------------------------

    @rule(data=st.data())
    def join(self, data: st.DataObject) -> None:
        user = self.pick(data, "user")
        was_removed = user in self.room.removed
        if self.attempt(lambda r: r.join(user)):
            assert not was_removed or user == self.room.host_id
            assert self.room.state is SpaceState.LIVE

    @rule(data=st.data())
    def leave(self, data: st.DataObject) -> None:
        user = self.pick(data, "user")
        self.attempt(lambda r: r.leave(user))

    @rule(data=st.data(), followed=st.booleans())
    def raise_hand(self, data: st.DataObject, followed: bool) -> None:
        user = self.pick(data, "user")
        self.clock += 1
        policy, role = self.room.speaker_policy, self.role(user)
        if self.attempt(lambda r: r.raise_hand(user, self.clock, followed)):
            assert role is Role.LISTENER
            assert policy is SpeakerPolicy.EVERYONE or (
                policy is SpeakerPolicy.FOLLOWED and followed
            )

    @rule(data=st.data())
    def lower_hand(self, data: st.DataObject) -> None:
        user = self.pick(data, "user")
        self.attempt(lambda r: r.lower_hand(user))

    @rule(data=st.data(), approve=st.booleans())
    def answer_hand(self, data: st.DataObject, approve: bool) -> None:
        actor = self.pick(data, "actor")
        user = self.pick(data, "hand")
        actor_role = self.role(actor)
        had_hand = (m := self.room.member(user)) is not None and m.hand_raised_at is not None
        if approve:
            done = self.attempt(lambda r: r.approve_hand(actor, user))
        else:
            done = self.attempt(lambda r: r.decline_hand(actor, user))
        if done:
            assert actor_role is not None and is_moderator(actor_role) and had_hand

    @rule(data=st.data(), role=st.sampled_from([Role.SPEAKER, Role.COHOST, Role.HOST]))
    def invite(self, data: st.DataObject, role: Role) -> None:
        actor = self.pick(data, "actor")
        user = self.pick(data, "user")
        actor_role = self.role(actor)
        if self.attempt(lambda r: r.invite(actor, user, role)):
            assert actor_role is not None and is_moderator(actor_role)
            assert role is not Role.HOST
            assert role is Role.SPEAKER or actor_role is Role.HOST

    @rule(data=st.data(), accept=st.booleans())
    def answer_invite(self, data: st.DataObject, accept: bool) -> None:
        user = self.pick(data, "invited")
        m = self.room.member(user)
        pending = m is not None and m.invited_as is not None
        op = (lambda r: r.accept_invite(user)) if accept else (lambda r: r.decline_invite(user))
        if self.attempt(op):
            assert pending

    @rule(data=st.data())
    def step_down(self, data: st.DataObject) -> None:
        user = self.pick(data, "user")
        role = self.role(user)
        if self.attempt(lambda r: r.step_down(user)):
            assert role in (Role.SPEAKER, Role.COHOST)

    @rule(data=st.data(), role=st.sampled_from(list(Role)))
    def demote(self, data: st.DataObject, role: Role) -> None:
        actor = self.pick(data, "actor")
        user = self.pick(data, "stage")
        actor_role, target_role = self.role(actor), self.role(user)
        if self.attempt(lambda r: r.demote(actor, user, role)):
            assert actor_role is not None and is_moderator(actor_role)
            assert target_role is not None and rank(role) < rank(target_role)
            assert target_role is not Role.HOST
            assert target_role is not Role.COHOST or actor_role is Role.HOST

    @rule(data=st.data(), muted=st.booleans())
    def mute(self, data: st.DataObject, muted: bool) -> None:
        actor = self.pick(data, "actor")
        user = self.pick(data, "stage")
        actor_role, target_role = self.role(actor), self.role(user)
        if self.attempt(lambda r: r.set_mute(actor, user, muted)) and actor != user:
            assert muted, "nobody unmutes someone else"
            assert actor_role is not None and is_moderator(actor_role)
            assert target_role is not Role.HOST or actor_role is Role.HOST

    @rule(data=st.data(), ban=st.booleans())
    def remove(self, data: st.DataObject, ban: bool) -> None:
        actor = self.pick(data, "actor")
        user = self.pick(data, "user")
        actor_role, host_id = self.role(actor), self.room.host_id
        target_role = self.role(user)
        op = (lambda r: r.ban(actor, user)) if ban else (lambda r: r.remove(actor, user))
        if self.attempt(op):
            assert actor_role is not None and is_moderator(actor_role)
            assert user != host_id and user != actor
            # The same rule as for demotion: only the host pushes a co-host out.
            assert target_role is not Role.COHOST or actor_role is Role.HOST
            assert user in self.room.removed and user not in self.room.members

    @rule(data=st.data())
    def transfer_host(self, data: st.DataObject) -> None:
        actor = self.pick(data, "actor")
        user = self.pick(data, "stage")
        actor_role, target_role = self.role(actor), self.role(user)
        if self.attempt(lambda r: r.transfer_host(actor, user)):
            assert actor_role is Role.HOST and target_role is Role.COHOST
            assert self.room.host_id == user

    @rule(data=st.data(), action=st.sampled_from(list(Action)))
    def offered_action(self, data: st.DataObject, action: Action) -> None:
        """What `allowed_actions` offers succeeds (and changes the room); the rest is
        refused or changes nothing. Actions are offered on present members only."""
        actor = self.pick(data, "actor")
        target = actor if data.draw(st.integers(0, 3)) == 0 else self.pick(data, "user")
        offered = action in allowed_actions(self.room, actor, target)
        op = operations(actor, target).get(action)
        if op is None or target not in self.room.members:
            assert not offered
            return
        before = self.room
        after = self.attempt(op)
        assert offered == (after is not None and after != before), (action, actor, target)

    @rule(data=st.data())
    def actions_for_many(self, data: st.DataObject) -> None:
        """The snapshot's shortcut gives each target what `allowed_actions` gives."""
        actor = self.pick(data, "actor")
        targets = [*self.room.members, 99]
        many = actions_for(self.room, actor, targets)
        assert many == {t: allowed_actions(self.room, actor, t) for t in targets}

    @rule()
    def end(self) -> None:
        if self.room.state is SpaceState.LIVE and self.clock > 30:
            self.room = self.room.end()

    # -- invariants ----------------------------------------------------------

    @invariant()
    def limits_hold(self) -> None:
        r = self.room
        assert r.stage_count <= r.limits.stage_limit
        assert r.cohost_count <= r.limits.cohost_limit

    @invariant()
    def one_host(self) -> None:
        hosts = [m.user_id for m in self.room.members.values() if m.role is Role.HOST]
        assert hosts in ([], [self.room.host_id])
        assert self.room.host_id not in self.room.removed

    @invariant()
    def members_are_consistent(self) -> None:
        r = self.room
        assert not (set(r.members) & r.removed)
        for m in r.members.values():
            if not is_on_stage(m.role):
                assert m.muted, "listeners have no open microphone"
            else:
                assert m.hand_raised_at is None
            assert m.invited_as is None or rank(m.invited_as) > rank(m.role)
        if r.state is SpaceState.ENDED:
            assert not r.members


TestRoomMachine = RoomMachine.TestCase
TestRoomMachine.settings = settings(
    max_examples=300,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
