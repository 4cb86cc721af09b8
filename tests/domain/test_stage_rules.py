"""Roles, limits, hands, invitations, mutes and removal in a live room."""

from collections.abc import Callable
from dataclasses import replace

import pytest

from townhall.domain.errors import Conflict, Forbidden, NotFound
from townhall.domain.roles import Role
from townhall.domain.spaces import SpaceState, SpeakerPolicy
from townhall.domain.stage import Limits, Member, Room, changed_members

HOST, CO, SPK, L1, L2, L3 = 1, 2, 3, 4, 5, 6


SMALL = Limits(stage_limit=4, cohost_limit=1)


def room(
    limits: Limits = SMALL,
    speaker_policy: SpeakerPolicy = SpeakerPolicy.EVERYONE,
) -> Room:
    r = Room(host_id=HOST, limits=limits)
    for uid in (HOST, CO, SPK, L1, L2, L3):
        r = r.join(uid)
    r = r.invite(HOST, CO, Role.COHOST).accept_invite(CO)
    r = r.raise_hand(SPK, 1.0, False).approve_hand(HOST, SPK)
    return replace(r, speaker_policy=speaker_policy)


def code(exc: pytest.ExceptionInfo[Exception]) -> str:
    return getattr(exc.value, "code", "")


def member(r: Room, user_id: int) -> Member:
    """`user_id`'s membership of `r`, which the test expects to exist."""
    m = r.member(user_id)
    assert m is not None, f"{user_id} is not in the room"
    return m


def test_setup_roles_and_counts() -> None:
    r = room()
    assert [r.role_of(u) for u in (HOST, CO, SPK, L1)] == [
        Role.HOST,
        Role.COHOST,
        Role.SPEAKER,
        Role.LISTENER,
    ]
    assert (r.stage_count, r.cohost_count, r.listener_count) == (3, 1, 3)


def test_join_rules() -> None:
    r = room()
    assert r.join(L1) is r  # idempotent
    with pytest.raises(Conflict) as e:
        Room(host_id=HOST, state=SpaceState.ENDED).join(L1)
    assert code(e) == "space_ended"
    with pytest.raises(Conflict) as e:
        Room(host_id=HOST, state=SpaceState.SCHEDULED).join(L1)
    assert code(e) == "space_not_live"
    full = Room(host_id=HOST, limits=Limits(listener_limit=1)).join(L1)
    with pytest.raises(Conflict):
        full.join(L2)
    assert full.join(HOST).role_of(HOST) is Role.HOST


def test_hand_queue_in_order_and_stage_limit() -> None:
    r = room().raise_hand(L2, 5.0, False).raise_hand(L1, 7.0, False).raise_hand(L3, 6.0, False)
    assert [m.user_id for m in r.hand_queue()] == [L2, L3, L1]
    r = r.approve_hand(CO, L2)  # stage now 4 of 4
    assert r.role_of(L2) is Role.SPEAKER and member(r, L2).muted
    with pytest.raises(Conflict) as e:
        r.approve_hand(HOST, L3)
    assert code(e) == "stage_full"
    r = r.decline_hand(HOST, L3)
    assert [m.user_id for m in r.hand_queue()] == [L1]
    with pytest.raises(Conflict) as e:
        r.decline_hand(HOST, L3)
    assert code(e) == "hand_not_raised"


def test_hands_need_moderators_and_policy() -> None:
    r = room().raise_hand(L1, 1.0, False)
    with pytest.raises(Forbidden) as e:
        r.approve_hand(SPK, L1)
    assert code(e) == "moderators_only"
    with pytest.raises(Conflict):
        r.raise_hand(L1, 2.0, False)
    with pytest.raises(Conflict) as conflict:
        r.raise_hand(SPK, 2.0, False)
    assert code(conflict) == "already_on_stage"
    followed = room(speaker_policy=SpeakerPolicy.FOLLOWED)
    with pytest.raises(Forbidden) as e:
        followed.raise_hand(L1, 1.0, False)
    assert code(e) == "speaker_policy_followed"
    assert member(followed.raise_hand(L1, 1.0, True), L1).hand_raised_at == 1.0
    invited = room(speaker_policy=SpeakerPolicy.INVITED)
    with pytest.raises(Forbidden) as e:
        invited.raise_hand(L1, 1.0, True)
    assert code(e) == "speaker_policy_invited"
    assert invited.invite(CO, L1, Role.SPEAKER).accept_invite(L1).role_of(L1) is Role.SPEAKER
    assert r.lower_hand(L1).hand_queue() == []


def test_invitations() -> None:
    r = room()
    with pytest.raises(Conflict) as conflict:
        r.accept_invite(L1)
    assert code(conflict) == "no_invitation"
    with pytest.raises(Forbidden) as forbidden:
        r.invite(CO, L1, Role.COHOST)
    assert code(forbidden) == "host_only"
    with pytest.raises(Conflict) as e:
        r.invite(HOST, SPK, Role.COHOST)  # co-host limit 1
    assert code(e) == "cohost_limit"
    with pytest.raises(Conflict) as e:
        r.invite(HOST, SPK, Role.SPEAKER)
    assert code(e) == "already_in_role"
    with pytest.raises(NotFound):
        r.invite(HOST, 99, Role.SPEAKER)
    r2 = r.invite(HOST, L1, Role.SPEAKER).invite(CO, L2, Role.SPEAKER)
    with pytest.raises(Conflict):
        r2.invite(HOST, L1, Role.SPEAKER)
    r3 = r2.accept_invite(L1)  # stage 4 of 4
    with pytest.raises(Conflict) as e:
        r3.accept_invite(L2)
    assert code(e) == "stage_full"
    assert member(r3.decline_invite(L2), L2).invited_as is None


def test_step_down_and_demote() -> None:
    r = room()
    assert r.step_down(SPK).role_of(SPK) is Role.LISTENER
    with pytest.raises(Forbidden) as e:
        r.step_down(HOST)
    assert code(e) == "host_cannot_step_down"
    with pytest.raises(Conflict):
        r.step_down(L1)
    assert r.demote(CO, SPK, Role.LISTENER).role_of(SPK) is Role.LISTENER
    with pytest.raises(Forbidden) as e:
        r.demote(CO, HOST, Role.LISTENER)
    assert code(e) == "cannot_act_on_host"
    with pytest.raises(Forbidden):
        r.demote(HOST, HOST, Role.LISTENER)
    with pytest.raises(Forbidden) as e:
        r.demote(HOST, L1, Role.SPEAKER)
    assert code(e) == "promotion_needs_invitation"
    assert r.demote(HOST, CO, Role.SPEAKER).role_of(CO) is Role.SPEAKER
    with pytest.raises(Forbidden):
        r.demote(SPK, SPK, Role.LISTENER)


def test_mute_rules() -> None:
    r = room().set_mute(SPK, SPK, False).set_mute(HOST, HOST, False)
    assert not member(r, SPK).muted
    r2 = r.set_mute(CO, SPK, True)
    assert member(r2, SPK).muted
    with pytest.raises(Forbidden) as e:
        r2.set_mute(HOST, SPK, False)
    assert code(e) == "cannot_unmute_others"
    with pytest.raises(Forbidden) as e:
        r.set_mute(CO, HOST, True)
    assert code(e) == "cannot_act_on_host"
    with pytest.raises(Forbidden):
        r.set_mute(SPK, HOST, True)
    with pytest.raises(Conflict):
        r.set_mute(L1, L1, False)
    assert member(r.set_mute(HOST, CO, True), CO).muted


def test_remove_and_ban() -> None:
    r = room()
    r2 = r.remove(CO, SPK)
    assert SPK not in r2.members and SPK in r2.removed
    with pytest.raises(Forbidden) as e:
        r2.join(SPK)
    assert code(e) == "removed_from_space"
    with pytest.raises(Forbidden):
        r.remove(CO, HOST)
    with pytest.raises(Forbidden):
        r.remove(L1, L2)
    with pytest.raises(NotFound):
        r.remove(HOST, 99)
    assert 99 in r.ban(HOST, 99).removed
    with pytest.raises(Forbidden):
        r.ban(CO, HOST)
    changed, gone = changed_members(r, r2)
    assert changed == [] and gone == [SPK]


def test_transfer_host() -> None:
    r = room()
    with pytest.raises(Conflict) as e:
        r.transfer_host(HOST, SPK)
    assert code(e) == "not_a_cohost"
    with pytest.raises(Forbidden):
        r.transfer_host(CO, CO)
    r2 = r.transfer_host(HOST, CO)
    assert r2.host_id == CO and r2.role_of(CO) is Role.HOST and r2.role_of(HOST) is Role.COHOST
    assert r2.stage_count == r.stage_count
    assert r2.remove(CO, HOST).removed == {HOST}


def test_end_empties_room() -> None:
    r = room().end()
    assert r.state is SpaceState.ENDED and not r.members
    with pytest.raises(Conflict):
        r.raise_hand(L1, 1.0, True)


def test_a_partial_room_counts_the_listeners_it_did_not_load() -> None:
    from townhall.domain.stage import Member

    host = Member(1, Role.HOST)
    room = Room(host_id=1, members={1: host}, other_listeners=1998)
    joined = room.join(7)
    assert (room.listener_count, joined.listener_count) == (1998, 1999)
    assert joined.join(7) is joined  # idempotent for a loaded member
    assert joined.leave(7).listener_count == 1998
    full = Room(
        host_id=1, members={1: host}, limits=Limits(listener_limit=1998), other_listeners=1998
    )
    with pytest.raises(Conflict):
        full.join(8)  # the unloaded listeners count toward the limit


def test_a_cohost_cannot_remove_ban_or_demote_another_cohost_the_host_can() -> None:
    two = Limits(stage_limit=4, cohost_limit=2)
    r = room(limits=two).invite(HOST, SPK, Role.COHOST).accept_invite(SPK)
    assert (r.role_of(CO), r.role_of(SPK)) == (Role.COHOST, Role.COHOST)
    acts: tuple[Callable[[Room], Room], ...] = (
        lambda x: x.remove(CO, SPK),
        lambda x: x.ban(CO, SPK),
        lambda x: x.demote(CO, SPK, Role.SPEAKER),
        lambda x: x.demote(CO, SPK, Role.LISTENER),
    )
    for act in acts:
        with pytest.raises(Forbidden) as e:
            act(r)
        assert code(e) == "host_only"
    assert member(r.set_mute(CO, SPK, True), SPK).muted  # muting stays open to moderators
    assert r.demote(HOST, SPK, Role.SPEAKER).role_of(SPK) is Role.SPEAKER
    assert SPK in r.remove(HOST, SPK).removed
    assert SPK in r.ban(HOST, SPK).removed
    # A co-host still removes and demotes speakers and listeners.
    plain = room()
    assert SPK in plain.remove(CO, SPK).removed
    assert plain.demote(CO, SPK, Role.LISTENER).role_of(SPK) is Role.LISTENER
