"""Spaces: lifecycle, joining, the stage, moderation, reactions, discovery and history.

The use cases, one module by concern (`lifecycle`, `reading`, `stage`, `extras`), on
shared helpers: `views` (the JSON of spaces and users) and `loading` (locking, access,
loading and saving a room, commit with events). Every change to a space runs in one
transaction that starts by locking the space row, reads the room fresh, asks the
domain, writes what changed, adds its events to the outbox and commits; the outbox
relay then publishes them on the bus (so a snapshot taken after an event was seen
always contains it, and a committed change is always announced).

Callers import everything from this package: `from townhall.api.services import spaces`.
"""

from townhall.api.services.spaces.extras import REPORT_REASON_MAX, react, report, set_reminder
from townhall.api.services.spaces.lifecycle import (
    add_guests,
    cancel_space,
    close_for_deleted_account,
    create_space,
    edit_space,
    end_by_host,
    end_space,
    start_space,
)
from townhall.api.services.spaces.loading import limits_of
from townhall.api.services.spaces.reading import (
    DISCOVERY_LIMIT,
    LISTENERS_SHOWN,
    Membership,
    can_view,
    discover,
    event_seq,
    get_space,
    history,
    live_members,
    live_space_hosts,
    membership,
    seq_and_snapshot,
    snapshot,
    watch_refusal,
)
from townhall.api.services.spaces.stage import (
    answer_hand,
    answer_invitation,
    drop_lost_access,
    invite,
    join,
    leave,
    leave_absent,
    lock_stage,
    lower_hand,
    mute_all,
    raise_hand,
    remove,
    set_mute,
    set_role,
    step_down,
    transfer_host,
)
from townhall.api.services.spaces.views import space_view, user_brief

__all__ = [
    "DISCOVERY_LIMIT",
    "LISTENERS_SHOWN",
    "REPORT_REASON_MAX",
    "Membership",
    "add_guests",
    "answer_hand",
    "answer_invitation",
    "can_view",
    "cancel_space",
    "close_for_deleted_account",
    "create_space",
    "discover",
    "drop_lost_access",
    "edit_space",
    "end_by_host",
    "end_space",
    "event_seq",
    "get_space",
    "history",
    "invite",
    "join",
    "leave",
    "leave_absent",
    "limits_of",
    "live_members",
    "live_space_hosts",
    "lock_stage",
    "lower_hand",
    "membership",
    "mute_all",
    "raise_hand",
    "react",
    "remove",
    "report",
    "seq_and_snapshot",
    "set_mute",
    "set_reminder",
    "set_role",
    "snapshot",
    "space_view",
    "start_space",
    "step_down",
    "transfer_host",
    "user_brief",
    "watch_refusal",
]
