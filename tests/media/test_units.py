"""The media plane's pure parts: jitter buffer, mixing arithmetic, clock, level reports."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from tests.support.clock import ManualClock
from townhall.bus.events import Event
from townhall.media.audio import FRAME_SAMPLES, OpusEncoder, Pcm, level, silence
from townhall.media.jitter import JitterBuffer, TimestampUnwrapper
from townhall.media.levels import LevelReporter, changed_meaningfully
from townhall.media.mixer import FrameClock, mix

N = FRAME_SAMPLES


def frame(value: int) -> np.ndarray:
    return np.full(N, value, dtype=np.int16)


def played(jb: JitterBuffer) -> Pcm:
    """The next frame `jb` plays, which the test expects to be there."""
    out = jb.pop()
    assert out is not None, "the jitter buffer played nothing"
    return out


def test_jitter_prefetches_then_plays_in_order() -> None:
    jb = JitterBuffer(prefetch=2 * N, max_delay=6 * N)
    jb.push(frame(1), 0)
    assert jb.pop() is None  # still prefetching
    jb.push(frame(2), N)
    assert played(jb)[0] == 1 and played(jb)[0] == 2


def test_jitter_drops_late_frames_and_fills_gaps() -> None:
    jb = JitterBuffer(prefetch=N, max_delay=6 * N)
    jb.push(frame(1), 0)
    jb.push(frame(3), 2 * N)  # frame at N was lost
    assert played(jb)[0] == 1
    assert not played(jb).any()  # the hole is silence
    assert played(jb)[0] == 3
    jb.push(frame(9), N)  # arrives after its time was played: late
    assert jb.stats.late == 1
    assert jb.depth == 0


def test_jitter_delay_never_grows_beyond_its_bound() -> None:
    jb = JitterBuffer(prefetch=2 * N, max_delay=4 * N)
    for i in range(50):  # a sender running far ahead of the mixer
        jb.push(frame(i % 100), i * N)
        assert jb.depth <= 4 * N
    assert played(jb)[0] == 46  # oldest kept frame: 50 - 4
    assert jb.stats.overflow_samples == 46 * N


def test_jitter_conceals_by_fading_repeat_then_silence_then_goes_idle() -> None:
    jb = JitterBuffer(prefetch=N, max_delay=6 * N, idle_after_frames=3)
    jb.push(frame(1000), 0)
    assert played(jb)[0] == 1000
    repeat = played(jb)
    assert 0 < abs(int(repeat[0])) <= 500 and repeat[-1] == 0
    assert not played(jb).any() and not played(jb).any()
    assert jb.pop() is None  # idle: the next frame re-anchors
    jb.push(frame(7), 123_456 * N)
    assert played(jb)[0] == 7


def test_jitter_resyncs_on_a_timestamp_jump() -> None:
    jb = JitterBuffer(prefetch=N, max_delay=6 * N)
    jb.push(frame(1), 0)
    jb.push(frame(2), 10 * 48_000)
    assert jb.stats.resets == 1 and played(jb)[0] == 2


def test_mix_saturates_and_subtracts_self() -> None:
    loud = frame(30_000)
    result = mix({1: loud, 2: loud, 3: frame(-100)})
    assert result.full[0] == 32767  # clipped, never wrapped
    assert result.minus(1)[0] == 30_000 - 100
    assert result.minus(99)[0] == 32767  # not a contributor: the full mix
    assert mix({1: frame(-30_000), 2: frame(-30_000)}).full[0] == -32768


def test_level_is_zero_for_silence_and_grows_with_loudness() -> None:
    assert level(silence()) == 0.0
    quiet, loud = level(frame(100)), level(frame(10_000))
    assert 0 < quiet < loud <= 1


def test_opus_encoder_makes_one_packet_per_frame() -> None:
    encoder = OpusEncoder()
    sizes = [len(encoder.encode(frame(1000))) for _ in range(5)]
    assert all(s > 0 for s in sizes)


async def test_clock_skips_instead_of_bursting_when_the_loop_is_blocked() -> None:
    clock = ManualClock()
    ticks: list[tuple[int, int, float]] = []
    done = asyncio.Event()

    def tick(index: int, skipped: int) -> None:
        ticks.append((index, skipped, clock.now))
        if index == 10:
            clock.advance(0.2)  # this tick blocks the loop for 10 periods
        if len(ticks) == 20:
            done.set()

    frames = FrameClock(tick, clock=clock)
    frames.start()
    async with asyncio.timeout(5):
        await done.wait()
    await frames.stop()
    assert not frames.running
    indexes = [i for i, _, _ in ticks]
    # Ticks 0..10 on time; the 10 blocked periods are skipped, not replayed in a burst:
    # the next tick is the one now due (index 20), reporting how many were skipped.
    assert indexes == list(range(11)) + list(range(20, 29))
    assert [s for _, s, _ in ticks] == [0] * 11 + [9] + [0] * 8  # ticks 11..19
    assert frames.skipped == 9
    # Each tick ran at its deadline on the clock: index * 20 ms after the start.
    start = ticks[0][2]
    for index, _, at in ticks:
        assert at - start == pytest.approx(index * 0.02)


class Collector:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def publish(self, event: Event) -> Event:
        self.events.append(event)
        return event


async def test_steady_levels_are_resent_while_audible_and_never_for_silence() -> None:
    bus = Collector()
    reporter = LevelReporter("space-r", bus, window=5, refresh=20)
    reporter.start()
    for _ in range(5 * 20 * 3):  # three refresh periods of a steady speaker
        reporter.add({1: 0.5})
        await asyncio.sleep(0)
    for _ in range(5 * 20 * 3):  # then three periods of silence
        reporter.add({1: 0.0})
        await asyncio.sleep(0)
    await asyncio.sleep(0.01)
    await reporter.stop()
    reports = [e.data["levels"]["1"] for e in bus.events]
    # The first report, then one refresh per period; silence once, never refreshed.
    assert reports == [0.5, 0.5, 0.5, 0.0]


def test_level_changes_threshold() -> None:
    assert not changed_meaningfully({1: 0.5}, {1: 0.53})
    assert changed_meaningfully({1: 0.5}, {1: 0.56})
    assert changed_meaningfully({1: 0.0}, {1: 0.01})  # crossing silence
    assert changed_meaningfully({}, {1: 0.2})
    assert not changed_meaningfully({1: 0.0}, {})


async def test_levels_are_published_at_most_ten_times_a_second_and_only_on_change() -> None:
    bus = Collector()
    reporter = LevelReporter("space-l", bus)
    reporter.start()
    for tick in range(50):  # one second of ticks: loud and changing every tick
        reporter.add({1: 0.2 + 0.7 * (tick % 2), 2: 0.0})
        await asyncio.sleep(0)
    for _ in range(50):  # another second, steady
        reporter.add({1: 0.9, 2: 0.0})
        await asyncio.sleep(0)
    reporter.add({})  # speaker 1 left the stage
    for _ in range(4):
        reporter.add({})
    await asyncio.sleep(0.01)
    await reporter.stop()
    assert 1 <= len(bus.events) <= 11
    first = bus.events[0]
    assert first.type == "levels" and first.space_id == "space-l"
    assert first.data == {"levels": {"1": 0.9, "2": 0.0}}
    assert bus.events[-1].data == {"levels": {"1": 0.0, "2": 0.0}}


def test_jitter_fills_a_reordered_packet_into_its_place() -> None:
    jb = JitterBuffer(prefetch=N)
    jb.push(frame(1), 0)
    jb.push(frame(3), 2 * N)  # frame 2 is late, not lost...
    jb.push(frame(2), N)  # ...and arrives before its time is played
    assert [played(jb)[0] for _ in range(3)] == [1, 2, 3]
    assert jb.stats.filled == 1 and jb.stats.late == 0
    jb.push(frame(2), N)  # a duplicate of a played frame is late
    assert jb.stats.late == 1


def test_jitter_drains_a_standing_backlog_left_by_a_burst() -> None:
    jb = JitterBuffer(prefetch=N, drain_after_frames=10)
    jb.push(frame(0), 0)
    jb.push(frame(1), N)  # a burst: two frames arrive before one tick
    pts = 2 * N
    for _ in range(9):  # then one frame per tick: one frame (20 ms) too many stays queued
        assert jb.pop() is not None
        assert jb.depth == N
        jb.push(frame(9), pts)
        pts += N
    assert jb.pop() is not None
    assert jb.depth == 0 and jb.stats.drained_samples == N  # the backlog is gone
    for _ in range(20):  # steady arrivals afterwards: nothing else dropped
        jb.push(frame(9), pts)
        pts += N
        assert played(jb)[0] == 9
    assert jb.stats.drained_samples == N


def test_jitter_keeps_a_two_frame_prefetch_without_draining_it() -> None:
    jb = JitterBuffer(prefetch=2 * N, drain_after_frames=5)
    jb.push(frame(0), 0)
    jb.push(frame(1), N)
    for i in range(2, 30):
        assert jb.pop() is not None
        jb.push(frame(i), i * N)
    assert jb.depth == 2 * N and jb.stats.drained_samples == 0


def test_jitter_without_prefetch_plays_at_once() -> None:
    jb = JitterBuffer(prefetch=0)
    jb.push(frame(5), 0)
    assert played(jb)[0] == 5


def test_timestamps_unwrap_across_the_32_bit_boundary_and_reordering() -> None:
    unwrap = TimestampUnwrapper().unwrap
    start = 0xFFFF_FFFF - N + 1
    assert unwrap(start) == start
    assert unwrap(N) == start + 2 * N  # past the wrap (one packet lost)
    assert unwrap(0) == start + N  # reordered, before the wrap point
    assert unwrap(2 * N) == start + 3 * N
