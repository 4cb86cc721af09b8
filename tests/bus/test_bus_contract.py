"""The Bus contract, checked on every implementation with real components."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from tests.support.clock import ManualClock
from townhall.bus import Bus, Event, EventFormatError, SubscriptionLagged
from townhall.bus.base import Subscription, UserPush

BusFactory = Callable[..., Awaitable[Bus]]


async def drain(sub: Subscription[Event], count: int, timeout: float = 3.0) -> list[Event]:
    return [await sub.get(timeout) for _ in range(count)]


def test_event_json_round_trip() -> None:
    event = Event("hand.raised", "abcDEF123456", {"user_id": 7, "nested": [1, {}]}, 3, 1.5)
    assert Event.from_json(event.to_json()) == event


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"type": 1, "space_id": "x"}',
        '{"type":"a"}',
        '{"type":"a","space_id":"b","data":[]}',
    ],
)
def test_event_from_bad_json_raises(text: str) -> None:
    with pytest.raises(EventFormatError):
        Event.from_json(text)


async def test_publish_assigns_increasing_seq_per_space(bus: Bus) -> None:
    a1 = await bus.publish(Event("hand.raised", "space-a", {"user_id": 1}))
    a2 = await bus.publish(Event("hand.lowered", "space-a", {"user_id": 1}))
    b1 = await bus.publish(Event("reaction", "space-b", {"user_id": 2, "emoji": "👏"}))
    assert (a1.seq, a2.seq, b1.seq) == (1, 2, 1)
    assert a1.at > 0 and a2.at >= a1.at
    assert await bus.last_seq("space-a") == 2
    assert await bus.last_seq("never-used") == 0


async def test_subscribers_get_only_their_space_in_order(bus: Bus) -> None:
    sub_a1 = await bus.subscribe("space-a")
    sub_a2 = await bus.subscribe("space-a")
    sub_b = await bus.subscribe("space-b")
    try:
        for i in range(5):
            await bus.publish(Event("reaction", "space-a", {"user_id": i, "emoji": "x"}))
        await bus.publish(Event("hand.raised", "space-b", {"user_id": 9}))
        for sub in (sub_a1, sub_a2):
            got = await drain(sub, 5)
            assert [e.seq for e in got] == [1, 2, 3, 4, 5]
            assert [e.data["user_id"] for e in got] == [0, 1, 2, 3, 4]
        only_b = await sub_b.get(3.0)
        assert (only_b.type, only_b.data, only_b.seq) == ("hand.raised", {"user_id": 9}, 1)
    finally:
        for sub in (sub_a1, sub_a2, sub_b):
            await sub.close()


async def test_closed_subscription_stops_iterating_and_gets_nothing_more(bus: Bus) -> None:
    sub = await bus.subscribe("space-a")
    await sub.close()
    await bus.publish(Event("hand.raised", "space-a", {"user_id": 1}))
    got = [event async for event in sub]
    assert got == []


async def test_replay_returns_exactly_the_missed_events(bus: Bus) -> None:
    for i in range(6):
        await bus.publish(Event("reaction", "space-a", {"user_id": i, "emoji": "x"}))
    missed = await bus.replay("space-a", 3)
    assert missed is not None
    assert [e.seq for e in missed] == [4, 5, 6]
    assert [e.data["user_id"] for e in missed] == [3, 4, 5]
    assert await bus.replay("space-a", 6) == []
    full = await bus.replay("space-a", 0)
    assert full is not None and [e.seq for e in full] == [1, 2, 3, 4, 5, 6]


async def test_replay_is_none_when_too_old_or_ahead(bus_factory: BusFactory) -> None:
    small = await bus_factory(replay_size=3)
    for i in range(5):
        await small.publish(Event("reaction", "space-a", {"user_id": i, "emoji": "x"}))
    assert await small.replay("space-a", 1) is None  # seq 2 fell out of the buffer
    kept = await small.replay("space-a", 2)
    assert kept is not None and [e.seq for e in kept] == [3, 4, 5]
    assert await small.replay("space-a", 9) is None  # ahead: the bus restarted
    assert await small.replay("space-a", -1) is None
    assert await small.replay("unknown", 4) is None
    assert await small.replay("unknown", 0) == []


async def test_user_channels_deliver_to_that_user_only(bus: Bus) -> None:
    alice_tab1 = await bus.subscribe_user(1)
    alice_tab2 = await bus.subscribe_user(1)
    bob = await bus.subscribe_user(2)
    try:
        await bus.publish_user(1, {"kind": "space.started", "n": 1})
        await bus.publish_user(2, {"kind": "invite", "n": 2})
        assert await alice_tab1.get(3.0) == {"kind": "space.started", "n": 1}
        assert await alice_tab2.get(3.0) == {"kind": "space.started", "n": 1}
        assert await bob.get(3.0) == {"kind": "invite", "n": 2}
        with pytest.raises(TimeoutError):
            await alice_tab1.get(0.2)
    finally:
        for sub in (alice_tab1, alice_tab2, bob):
            await sub.close()


async def test_presence_touch_leave_and_expiry(bus_factory: BusFactory, bus_kind: str) -> None:
    clock = ManualClock()
    short = await bus_factory(presence_ttl=0.6, clock=clock)
    await short.touch("space-a", 1, "tab1")
    await short.touch("space-a", 1, "tab2")
    await short.touch("space-a", 2, "c", ttl=30)
    await short.touch("space-b", 3, "c")
    assert await short.present("space-a") == {1, 2}
    await short.leave("space-a", 1, "tab1")
    assert await short.is_present("space-a", 1)  # tab2 still there
    await short.leave("space-a", 1, "tab2")
    assert not await short.is_present("space-a", 1)
    await short.touch("space-a", 1, "tab1")
    if bus_kind == "memory":
        clock.advance(0.59)
        assert await short.present("space-a") == {1, 2}  # not yet
        clock.advance(0.02)
    else:
        await asyncio.sleep(1.0)  # Redis expires keys on its own clock
    # user 1 and 3 vanished without goodbye: their entries expired; 2 had a long ttl
    assert await short.present("space-a") == {2}
    assert await short.present("space-b") == set()
    await short.touch("space-b", 3, "c")
    assert await short.present("space-b") == {3}


async def test_slow_subscriber_is_told_it_lagged(bus: Bus) -> None:
    from townhall.bus import base

    sub = await bus.subscribe("space-a")
    try:
        count = base.SUBSCRIPTION_QUEUE_SIZE + 5
        for i in range(count):
            await bus.publish(Event("levels", "space-a", {"levels": {"1": i / count}}))
        received = 0
        with pytest.raises(SubscriptionLagged):
            for _ in range(count + 1):
                await sub.get(5.0)
                received += 1
        assert received == base.SUBSCRIPTION_QUEUE_SIZE
    finally:
        await sub.close()


async def test_memory_bus_forgets_spaces_that_ended_long_ago() -> None:
    from townhall.bus import MemoryBus

    clock = ManualClock()
    bus = MemoryBus(ended_retention=0.2, clock=clock)
    for _ in range(3):
        await bus.publish(Event("reaction", "old", {"user_id": 1, "emoji": "x"}))
    await bus.publish(Event("space.ended", "old", {"reason": "host_ended"}))
    await bus.publish(Event("hand.raised", "live", {"user_id": 2}))
    replay = await bus.replay("old", 2)
    assert replay is not None and [e.type for e in replay] == ["reaction", "space.ended"]
    clock.advance(0.3)
    await bus.publish(Event("hand.lowered", "live", {"user_id": 2}))
    assert await bus.last_seq("old") == 0
    assert await bus.replay("old", 4) is None  # a late client gets a fresh snapshot
    assert await bus.last_seq("live") == 2  # live spaces keep their numbering
    await bus.close()


async def test_levels_are_volatile_live_only_without_a_seq_of_their_own(
    bus_factory: BusFactory,
) -> None:
    small = await bus_factory(replay_size=5)
    sub = await small.subscribe("space-a")
    try:
        first = await small.publish(Event("hand.raised", "space-a", {"user_id": 1}))
        levels = [
            await small.publish(Event("levels", "space-a", {"levels": {"1": i / 20}}))
            for i in range(20)
        ]
        last = await small.publish(Event("hand.lowered", "space-a", {"user_id": 1}))
        # Subscribers get every one live, in publish order...
        got = await drain(sub, 22)
        assert [e.type for e in got] == ["hand.raised", *["levels"] * 20, "hand.lowered"]
        assert [e.data for e in got[1:21]] == [e.data for e in levels]
        # ...each carrying the seq of the latest kept event, not a new one.
        assert all(e.seq == first.seq == 1 for e in [*levels, *got[1:21]])
        assert all(e.volatile for e in got[1:21]) and not got[0].volatile
        assert (last.seq, got[-1].seq) == (2, 2)
        assert await small.last_seq("space-a") == 2
        # They are not kept: the replay buffer of 5 still reaches back to the first event.
        replay = await small.replay("space-a", 0)
        assert replay is not None and [e.type for e in replay] == ["hand.raised", "hand.lowered"]
        # In a space with no kept event yet they carry seq 0 and create nothing.
        quiet = await small.publish(Event("levels", "space-q", {"levels": {}}))
        assert quiet.seq == 0 and await small.last_seq("space-q") == 0
        assert await small.replay("space-q", 0) == []
    finally:
        await sub.close()


async def test_ping_answers_true_while_the_bus_is_up(bus: Bus) -> None:
    assert await bus.ping() is True


@pytest.mark.redis
async def test_redis_ping_is_false_when_redis_is_unreachable() -> None:
    from tests.support.server import free_port
    from townhall.bus.redis import RedisBus

    down = RedisBus(f"redis://127.0.0.1:{free_port()}/0", prefix="townhall-test-down:")
    try:
        assert await asyncio.wait_for(down.ping(), 5.0) is False
    finally:
        await down.close()


async def test_relayed_events_keep_their_seq_and_go_out_once(bus: Bus) -> None:
    """The outbox relays events numbered by the database: the bus keeps their seq, and a
    retry (or a second node) relaying a seq the space already has delivers nothing."""
    sub = await bus.subscribe("space-r")
    try:
        first = [Event("hand.raised", "space-r", {"user_id": i}, seq=i, at=1.0) for i in (1, 2)]
        assert await bus.relay(first) == [True, True]
        again = [*first, Event("hand.lowered", "space-r", {"user_id": 1}, seq=3, at=2.0)]
        assert await bus.relay(again) == [False, False, True]
        # A seq below the space's current one is never delivered, even a new event.
        late = Event("reaction", "space-r", {"user_id": 9, "emoji": "x"}, seq=2, at=3.0)
        assert await bus.relay([late]) == [False]
        got = [await sub.get(2.0) for _ in range(3)]
        assert [(e.seq, e.type, e.at) for e in got] == [
            (1, "hand.raised", 1.0),
            (2, "hand.raised", 1.0),
            (3, "hand.lowered", 2.0),
        ]
        with pytest.raises(TimeoutError):
            await sub.get(0.2)
        assert await bus.last_seq("space-r") == 3
        replayed = await bus.replay("space-r", 0)
        assert replayed is not None and [e.seq for e in replayed] == [1, 2, 3]
        # A space first seen at seq 41 (e.g. the bus lost its state) starts there.
        assert await bus.relay([Event("hand.raised", "space-s", {}, seq=41, at=1.0)]) == [True]
        assert await bus.replay("space-s", 40) is not None
        assert await bus.replay("space-s", 39) is None  # 40 is not kept: a snapshot
    finally:
        await sub.close()


async def test_relayed_pushes_go_out_once_per_key(bus: Bus) -> None:
    channel = await bus.subscribe_user(7)
    try:
        one = UserPush(7, {"type": "notification", "data": {"id": 1}}, "1:100")
        two = UserPush(7, {"type": "notification", "data": {"id": 2}}, "2:100")
        assert await bus.relay([one]) == [True]
        assert await bus.relay([one, two]) == [False, True]
        assert [await channel.get(2.0) for _ in range(2)] == [one.payload, two.payload]
        with pytest.raises(TimeoutError):
            await channel.get(0.2)
    finally:
        await channel.close()
