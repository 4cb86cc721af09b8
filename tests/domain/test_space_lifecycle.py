"""Space lifecycle, validation, access and the host-grace rule."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from townhall.domain import spaces as sp
from townhall.domain.errors import Conflict, Forbidden, Invalid, NotFound
from townhall.domain.spaces import Access, SpaceState, Visibility

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_title_is_trimmed_and_bounded() -> None:
    assert sp.validate_title("  Hello   world ") == "Hello world"
    assert sp.validate_title("x" * 70) == "x" * 70
    with pytest.raises(Invalid) as e:
        sp.validate_title("x" * 71)
    assert (e.value.code, e.value.field) == ("title_too_long", "title")
    with pytest.raises(Invalid) as e:
        sp.validate_title("   ")
    assert e.value.code == "title_required"


def test_topics_dedupe_and_limit() -> None:
    assert sp.validate_topics(["Music", "music ", "Jazz"]) == ("Music", "Jazz")
    assert sp.validate_topics([]) == ()
    with pytest.raises(Invalid) as e:
        sp.validate_topics(["a", "b", "c", "d"])
    assert e.value.code == "too_many_topics"
    with pytest.raises(Invalid):
        sp.validate_topics([""])
    with pytest.raises(Invalid):
        sp.validate_topics(["x" * 31])


def test_schedule_window() -> None:
    soon = NOW + timedelta(hours=1)
    assert sp.validate_schedule(soon, NOW) == soon
    assert sp.validate_schedule(NOW + timedelta(days=30), NOW)
    for bad, code in [
        (NOW - timedelta(seconds=1), "schedule_in_past"),
        (NOW, "schedule_in_past"),
        (NOW + timedelta(days=30, seconds=1), "schedule_too_far"),
        (datetime(2026, 1, 2), "schedule_needs_timezone"),
    ]:
        with pytest.raises(Invalid) as e:
            sp.validate_schedule(bad, NOW)
        assert e.value.code == code


def test_state_machine_transitions() -> None:
    assert sp.start(SpaceState.SCHEDULED, 1, 1) is SpaceState.LIVE
    assert sp.cancel(SpaceState.SCHEDULED, 1, 1) is SpaceState.CANCELLED
    assert sp.end(SpaceState.LIVE, 1, 1) is SpaceState.ENDED
    assert sp.end(SpaceState.LIVE, None, 1) is SpaceState.ENDED
    for state in (SpaceState.LIVE, SpaceState.ENDED, SpaceState.CANCELLED):
        with pytest.raises(Conflict):
            sp.start(state, 1, 1)
        with pytest.raises(Conflict):
            sp.cancel(state, 1, 1)
    for state in (SpaceState.SCHEDULED, SpaceState.ENDED, SpaceState.CANCELLED):
        with pytest.raises(Conflict):
            sp.end(state, 1, 1)


def test_only_the_host_drives_the_lifecycle() -> None:
    for fn, state in [
        (sp.start, SpaceState.SCHEDULED),
        (sp.cancel, SpaceState.SCHEDULED),
        (sp.end, SpaceState.LIVE),
    ]:
        with pytest.raises(Forbidden) as e:
            fn(state, 2, 1)
        assert e.value.code == "host_only"
    with pytest.raises(Forbidden):
        sp.check_editable(SpaceState.LIVE, 2, 1)
    with pytest.raises(Conflict):
        sp.check_editable(SpaceState.ENDED, 1, 1)
    sp.check_editable(SpaceState.LIVE, 1, 1)


def test_host_grace() -> None:
    assert not sp.host_grace_expired(True, None, 1000.0, 300)
    assert not sp.host_grace_expired(False, 800.0, 1000.0, 300)
    assert not sp.host_grace_expired(False, 700.0, 1000.0, 300)
    assert sp.host_grace_expired(False, 699.0, 1000.0, 300)
    assert sp.host_grace_expired(False, None, 1000.0, 300)


def _access(**kw: Any) -> Access:
    return replace(Access(viewer_id=2, host_id=1, visibility=Visibility.PUBLIC), **kw)


def test_public_space_is_open_unless_blocked_or_removed() -> None:
    sp.check_may_join(_access())
    with pytest.raises(Forbidden) as e:
        sp.check_may_join(_access(blocked_by_host=True))
    assert e.value.code == "blocked_by_host"
    assert not sp.may_view(_access(blocked_by_host=True))
    with pytest.raises(Forbidden) as e:
        sp.check_may_join(_access(removed=True))
    assert e.value.code == "removed_from_space"
    assert sp.may_view(_access(removed=True))


def test_private_space_admits_guests_and_followers_when_allowed() -> None:
    private = {"visibility": Visibility.PRIVATE}
    with pytest.raises(NotFound) as missing:  # the same answer as for an unknown id
        sp.check_may_join(_access(**private))
    assert missing.value.code == "space_not_found"
    assert not sp.may_view(_access(**private, follows_host=True))
    sp.check_may_join(_access(**private, is_guest=True))
    sp.check_may_join(_access(**private, follows_host=True, followers_may_join=True))
    with pytest.raises(NotFound):
        sp.check_may_join(_access(**private, followers_may_join=True))
    with pytest.raises(Forbidden) as e:  # blocked people are told (they know the host)
        sp.check_may_join(_access(**private, is_guest=True, blocked_by_host=True))
    assert e.value.code == "blocked_by_host"
    with pytest.raises(Forbidden) as e:  # removed members know the space exists
        sp.check_may_join(_access(**private, removed=True))
    assert e.value.code == "removed_from_space"
    sp.check_may_join(_access(**private, viewer_id=1))
