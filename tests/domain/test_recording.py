"""Who may record, pause, replay and delete a space's recording."""

from __future__ import annotations

import pytest

from townhall.domain import recording as rules
from townhall.domain.errors import Conflict, Forbidden, NotFound
from townhall.domain.spaces import SpaceState

HOST, OTHER = 1, 2


@pytest.mark.parametrize("state", [SpaceState.SCHEDULED, SpaceState.LIVE])
def test_only_the_host_switches_recording_before_the_end(state: SpaceState) -> None:
    rules.check_toggle(HOST, HOST, state)
    with pytest.raises(Forbidden) as exc:
        rules.check_toggle(OTHER, HOST, state)
    assert exc.value.code == "host_only"


@pytest.mark.parametrize("state", [SpaceState.ENDED, SpaceState.CANCELLED])
def test_an_ended_space_no_longer_records(state: SpaceState) -> None:
    with pytest.raises(Conflict) as exc:
        rules.check_toggle(HOST, HOST, state)
    assert exc.value.code == "space_not_live"
    with pytest.raises(Forbidden):  # the role is checked first
        rules.check_toggle(OTHER, HOST, state)


def test_replay_once_ended_and_finished() -> None:
    rules.check_replay(SpaceState.ENDED, available=True)
    with pytest.raises(Conflict):
        rules.check_replay(SpaceState.LIVE, available=False)
    with pytest.raises(NotFound):
        rules.check_replay(SpaceState.ENDED, available=False)


def test_only_the_host_deletes_an_ended_spaces_recording() -> None:
    rules.check_delete(HOST, HOST, SpaceState.ENDED, available=True)
    with pytest.raises(Forbidden):
        rules.check_delete(OTHER, HOST, SpaceState.ENDED, available=True)
    with pytest.raises(Conflict):
        rules.check_delete(HOST, HOST, SpaceState.LIVE, available=False)
    with pytest.raises(NotFound):
        rules.check_delete(HOST, HOST, SpaceState.ENDED, available=False)
