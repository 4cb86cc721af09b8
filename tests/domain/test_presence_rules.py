"""The ghost-member rule: who is swept out of a live space, given who is connected when."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from townhall.domain.presence import AbsenceTracker, absent_too_long, may_be_swept

HOST = 1


def test_absent_longer_than_the_limit_only() -> None:
    assert not absent_too_long(last_seen=10.0, now=70.0, absent_seconds=60.0)
    assert absent_too_long(last_seen=10.0, now=70.5, absent_seconds=60.0)
    assert may_be_swept(2, HOST) and not may_be_swept(HOST, HOST)


def test_a_member_is_a_ghost_once_gone_longer_than_the_limit_since_last_seen() -> None:
    tracker = AbsenceTracker(absent_seconds=60.0)
    members = [("s", HOST, HOST), ("s", 2, HOST), ("s", 3, HOST)]
    # First sight: nobody connected, but everyone gets the full limit from now.
    assert tracker.observe(0.0, members, {}) == []
    assert tracker.observe(30.0, members, {"s": {2}}) == []
    assert tracker.observe(61.0, members, {}) == [("s", 3)]  # 2 was seen at 30
    assert tracker.observe(90.0, members, {}) == [("s", 3)]  # 2: 90 - 30 is not over 60
    assert tracker.observe(90.5, members, {}) == [("s", 2), ("s", 3)]
    # The host, never connected, is never a ghost; someone who reconnects is not either.
    assert tracker.observe(500.0, members, {"s": {3}}) == [("s", 2)]
    # Members no longer listed (left or swept) are forgotten: back later, a fresh limit.
    assert tracker.observe(501.0, [("s", HOST, HOST)], {}) == []
    assert set(tracker.last_seen) == {("s", HOST)}
    assert tracker.observe(502.0, members, {}) == []


def test_spaces_are_independent() -> None:
    tracker = AbsenceTracker(absent_seconds=5.0)
    members = [("a", 7, HOST), ("b", 7, HOST)]
    tracker.observe(0.0, members, {})
    assert tracker.observe(10.0, members, {"a": {7}}) == [("b", 7)]


@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0.0, max_value=50.0),  # time step
            st.sets(st.integers(min_value=1, max_value=5)),  # who is connected
        ),
        max_size=30,
    )
)
def test_ghosts_are_exactly_the_non_hosts_unseen_for_longer_than_the_limit(
    steps: list[tuple[float, set[int]]],
) -> None:
    limit = 20.0
    tracker = AbsenceTracker(absent_seconds=limit)
    members = [("s", u, HOST) for u in range(1, 6)]
    seen: dict[int, float] = {}
    now = 0.0
    for step, connected in steps:
        now += step
        for u in range(1, 6):
            if u in connected or u not in seen:
                seen[u] = now
        ghosts = tracker.observe(now, members, {"s": connected})
        expected = [("s", u) for u in range(2, 6) if now - seen[u] > limit]
        assert ghosts == expected
        assert all(u not in connected and u != HOST for _, u in ghosts)
