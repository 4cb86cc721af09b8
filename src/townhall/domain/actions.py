"""What one person may do to another (or to themselves) in a room, now.

`allowed_actions` asks the rules of `domain/stage.py` themselves: an action is allowed
when its operation on the room succeeds and changes something (muting someone already
muted is not offered). No rule is written here a second time, so what the server offers
is exactly what it accepts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import StrEnum

from townhall.domain.errors import DomainError
from townhall.domain.roles import Role
from townhall.domain.stage import Room


class Action(StrEnum):
    """The name of an action on a member, as the client's menus know it."""

    # on someone else (moderators)
    INVITE_SPEAKER = "invite_speaker"
    INVITE_COHOST = "invite_cohost"
    APPROVE_HAND = "approve_hand"
    DECLINE_HAND = "decline_hand"
    MUTE = "mute"
    MAKE_SPEAKER = "make_speaker"
    MAKE_LISTENER = "make_listener"
    TRANSFER_HOST = "transfer_host"
    REMOVE = "remove"
    BLOCK = "block"
    # on oneself
    UNMUTE = "unmute"
    STEP_DOWN = "step_down"
    LOWER_HAND = "lower_hand"
    ACCEPT_INVITE = "accept_invite"
    DECLINE_INVITE = "decline_invite"


Operation = Callable[[Room], Room]


def operations(actor: int, target: int) -> dict[Action, Operation]:
    """The room operation behind each action that applies to this pair (actions on
    oneself only when actor == target, actions on others only when not)."""
    a, t = actor, target
    mute: Operation = lambda r: r.set_mute(a, t, True)  # noqa: E731
    if actor == target:
        return {
            Action.MUTE: mute,
            Action.UNMUTE: lambda r: r.set_mute(a, a, False),
            Action.STEP_DOWN: lambda r: r.step_down(a),
            Action.LOWER_HAND: lambda r: r.lower_hand(a),
            Action.ACCEPT_INVITE: lambda r: r.accept_invite(a),
            Action.DECLINE_INVITE: lambda r: r.decline_invite(a),
        }
    return {
        Action.INVITE_SPEAKER: lambda r: r.invite(a, t, Role.SPEAKER),
        Action.INVITE_COHOST: lambda r: r.invite(a, t, Role.COHOST),
        Action.APPROVE_HAND: lambda r: r.approve_hand(a, t),
        Action.DECLINE_HAND: lambda r: r.decline_hand(a, t),
        Action.MUTE: mute,
        Action.MAKE_SPEAKER: lambda r: r.demote(a, t, Role.SPEAKER),
        Action.MAKE_LISTENER: lambda r: r.demote(a, t, Role.LISTENER),
        Action.TRANSFER_HOST: lambda r: r.transfer_host(a, t),
        Action.REMOVE: lambda r: r.remove(a, t),
        Action.BLOCK: lambda r: r.ban(a, t),
    }


def allowed_actions(room: Room, actor: int, target: int) -> list[Action]:
    """What `actor` may do to `target` in `room` (to themselves when they are the same)."""
    if actor not in room.members or target not in room.members:
        return []
    allowed = []
    for action, op in operations(actor, target).items():
        try:
            after = op(room)
        except DomainError:
            continue
        if after != room:
            allowed.append(action)
    return allowed


def actions_for(room: Room, actor: int, targets: Iterable[int]) -> dict[int, list[Action]]:
    """`allowed_actions` for many targets at once (a snapshot's members).

    The rules look at a target's role, mute, raised hand and invitation and at whether it
    is the host, never at who else it is: targets alike in those share one answer, so a
    big audience of plain listeners costs one evaluation (the stage machine checks that
    this equals `allowed_actions` for every target)."""
    out: dict[int, list[Action]] = {}
    alike: dict[tuple[object, ...], list[Action]] = {}
    for target in targets:
        m = room.member(target)
        if m is None or target == actor:
            out[target] = allowed_actions(room, actor, target)
            continue
        key = (m.role, m.muted, m.hand_raised_at is not None, m.invited_as, target == room.host_id)
        if key not in alike:
            alike[key] = allowed_actions(room, actor, target)
        out[target] = alike[key]
    return out
