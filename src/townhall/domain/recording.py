"""Recording and replay: who may record a space, pause it, replay it and delete it.

A host may ask for a recording when creating a space and switch it on or off while the
space is scheduled or live (the media plane skips the paused stretches). Once the space
has ended, whoever may see the space may replay its recording; only the host deletes it.
"""

from __future__ import annotations

from townhall.domain.errors import Conflict, Forbidden, NotFound
from townhall.domain.spaces import SpaceState


def check_toggle(actor_id: int, host_id: int, state: SpaceState) -> None:
    """Only the host switches recording, and only before the space ends."""
    if actor_id != host_id:
        raise Forbidden("host_only", "only the host may start or stop recording")
    if state not in (SpaceState.SCHEDULED, SpaceState.LIVE):
        raise Conflict("space_not_live", f"the space is {state.value}; it can no longer record")


def check_replay(state: SpaceState, available: bool) -> None:
    """A recording is replayed once its space has ended and its file is finished.

    Who may see the space is checked first (`spaces.check_may_view`)."""
    if state is not SpaceState.ENDED:
        raise Conflict("space_not_ended", "a recording can be replayed once the space has ended")
    if not available:
        raise NotFound("recording_not_found", "this space has no recording")


def check_delete(actor_id: int, host_id: int, state: SpaceState, available: bool) -> None:
    """Only the host deletes a recording, once the space has ended."""
    if actor_id != host_id:
        raise Forbidden("host_only", "only the host may delete the recording")
    if state is not SpaceState.ENDED:
        raise Conflict("space_not_ended", "a recording can be deleted once the space has ended")
    if not available:
        raise NotFound("recording_not_found", "this space has no recording")
