"""The jitter buffer's adaptive playout delay, with time simulated by the order of calls.

A stream of 20 ms packets whose arrival times carry jitter is played against a mixer that
pops every 20 ms: arrivals and pops are sorted by their (simulated) time and replayed as
push and pop calls. No clock, no sleeps.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from townhall.media.audio import FRAME_SAMPLES, Pcm
from townhall.media.jitter import JitterBuffer

N = FRAME_SAMPLES
PERIOD_MS = 20.0


def frame(value: int) -> np.ndarray:
    return np.full(N, value, dtype=np.int16)


def played(jb: JitterBuffer) -> Pcm:
    """The next frame `jb` plays, which the test expects to be there."""
    out = jb.pop()
    assert out is not None, "the jitter buffer played nothing"
    return out


@dataclass
class Run:
    """What a simulated run saw, sampled at every pop."""

    times: list[float] = field(default_factory=list)
    late: list[int] = field(default_factory=list)
    concealed: list[int] = field(default_factory=list)
    targets: list[int] = field(default_factory=list)
    depths: list[int] = field(default_factory=list)
    played: list[int] = field(default_factory=list)  # value of each frame of data popped

    def since(self, t_ms: float) -> int:
        return next(i for i, t in enumerate(self.times) if t >= t_ms)


def simulate(
    jb: JitterBuffer, arrivals_ms: list[float], *, phase_ms: float = 10.0, tail_ms: float = 0.0
) -> Run:
    """Push packet k (value k + 1, pts k * N) at arrivals_ms[k]; pop every 20 ms."""
    events: list[tuple[float, int, int]] = [(t, 0, k) for k, t in enumerate(arrivals_ms)]
    end = max(arrivals_ms) + tail_ms
    pops = int((end - phase_ms) // PERIOD_MS) + 1
    events += [(phase_ms + n * PERIOD_MS, 1, n) for n in range(pops)]
    run = Run()
    for t, kind, k in sorted(events):
        if kind == 0:
            jb.push(frame(k + 1), k * N)
            continue
        concealed = jb.stats.concealed
        out = jb.pop()
        if out is not None and jb.stats.concealed == concealed:
            run.played.append(int(out[0]))
        run.times.append(t)
        run.late.append(jb.stats.late)
        run.concealed.append(jb.stats.concealed)
        run.targets.append(jb.target)
        run.depths.append(jb.depth)
    return run


def jittered(seconds: float, spread_ms: float, seed: int = 7, start_ms: float = 0.0) -> list[float]:
    """Arrival times of a packet every 20 ms, each off by up to ±spread_ms (the first on time)."""
    rng = np.random.default_rng(seed)
    count = int(seconds * 1000 / PERIOD_MS)
    offsets = rng.uniform(-spread_ms, spread_ms, count)
    offsets[0] = 0.0
    return [start_ms + k * PERIOD_MS + float(offsets[k]) for k in range(count)]


def test_steady_jitter_raises_the_target_to_two_frames_then_nothing_is_late() -> None:
    jb = JitterBuffer(prefetch=N)
    run = simulate(jb, jittered(60, 15.0))
    after = run.since(10_000)  # adapted within the first seconds...
    assert run.targets[after] == 2 * N
    # ...and for the last 50 s not one packet was late, not one frame concealed.
    assert run.late[-1] == run.late[after]
    assert run.concealed[-1] == run.concealed[after]
    assert jb.target == 2 * N and jb.stats.target_samples == 2 * N
    assert jb.stats.target_raises == 1 and jb.stats.target_lowers == 0
    assert jb.stats.late <= 1  # adapting cost at most one frame: the first late one plays
    assert jb.stats.overflow_samples == 0 and jb.stats.drained_samples == 0
    assert run.played == sorted(set(run.played))  # in order, none played twice
    assert len(run.played) >= 2990


def test_a_clean_stream_stays_at_the_minimum_delay() -> None:
    jb = JitterBuffer(prefetch=N)
    run = simulate(jb, jittered(30, 5.0))  # arrivals never reach the pop 10 ms later
    assert set(run.targets) == {N}
    assert jb.stats.target_raises == 0 and jb.stats.late == 0 and jb.stats.concealed == 0
    assert max(run.depths[1:]) == 0  # nothing waits longer than it must


def test_the_target_decays_back_to_the_minimum_after_the_jitter_stops() -> None:
    jb = JitterBuffer(prefetch=N)
    noisy = jittered(20, 15.0)
    calm = [noisy[-1] + PERIOD_MS * (k + 1) - float(noisy[-1] % PERIOD_MS) for k in range(1500)]
    run = simulate(jb, noisy + calm)
    assert run.targets[run.since(15_000)] == 2 * N
    assert jb.target == N and run.targets[-1] == N
    assert jb.stats.target_lowers == 1 and jb.stats.lowered_samples == N
    calm_from = run.since(20_000)
    assert run.late[-1] == run.late[calm_from]  # stepping down cost no late packet
    assert run.concealed[-1] == run.concealed[calm_from]
    # Decayed only after a quiet period (8 s of pops), never below the minimum.
    lowered_at = next(
        t for t, target in zip(run.times, run.targets, strict=True) if t > 20_000 and target == N
    )
    assert lowered_at >= 20_000 + 7_000
    assert min(run.targets) == N


def test_the_target_never_exceeds_its_maximum_and_rises_at_most_every_100_ms() -> None:
    jb = JitterBuffer(prefetch=N, max_target=4 * N)
    rng = np.random.default_rng(3)
    # Severe jitter: packets delayed by up to 300 ms, delivered in order.
    arrivals, last = [], 0.0
    for k in range(1500):
        last = max(last, k * PERIOD_MS + float(rng.uniform(0, 300)))
        arrivals.append(last)
    run = simulate(jb, arrivals)
    assert max(run.targets) == 4 * N == jb.target
    assert jb.stats.target_raises == 3
    assert max(run.depths) <= 14 * N  # bounded
    raised_at = [i for i in range(1, len(run.targets)) if run.targets[i] > run.targets[i - 1]]
    assert all(b - a >= 5 for a, b in itertools.pairwise(raised_at))


def test_a_packet_that_misses_its_frame_still_plays_one_frame_later() -> None:
    jb = JitterBuffer(prefetch=N)
    jb.push(frame(1), 0)
    assert played(jb)[0] == 1
    concealed = played(jb)  # frame 2 is not there yet: an underrun
    assert jb.stats.concealed == 1 and abs(int(concealed[0])) <= 1
    jb.push(frame(2), N)  # it arrives just after its time
    jb.push(frame(3), 2 * N)
    assert jb.stats.late == 0 and jb.stats.rescued == 1
    assert jb.target == 2 * N and jb.stats.target_raises == 1
    assert [played(jb)[0] for _ in range(2)] == [2, 3]  # playout is now a frame later
    jb.push(frame(4), 3 * N)
    jb.push(frame(5), 4 * N)
    assert played(jb)[0] == 4 and jb.depth == N  # one frame of margin from now on


def test_a_duplicate_or_a_rate_limited_late_packet_is_dropped_without_raising() -> None:
    jb = JitterBuffer(prefetch=N)
    for k in range(3):
        jb.push(frame(k + 1), k * N)
        assert played(jb)[0] == k + 1
    jb.push(frame(2), N)  # a copy of a frame that was played: no sign of jitter
    assert jb.stats.late == 1 and jb.target == N and jb.stats.target_raises == 0
    assert jb.pop() is not None  # underrun: frame 4 missed
    jb.push(frame(4), 3 * N)  # late: raises and plays
    assert jb.target == 2 * N and jb.stats.rescued == 1
    assert played(jb)[0] == 4
    assert jb.pop() is not None  # frame 5 missed too, only 2 pops after the raise
    jb.push(frame(5), 4 * N)
    assert jb.stats.late == 2 and jb.target == 2 * N  # at most one raise per 100 ms


def test_silence_is_not_jitter_and_the_learned_target_survives_idle() -> None:
    jb = JitterBuffer(prefetch=N, idle_after_frames=3)
    run = simulate(jb, jittered(5, 15.0))
    assert jb.target == 2 * N
    raises = jb.stats.target_raises
    for _ in range(6):  # the speaker stops: underruns, then idle
        jb.pop()
    assert jb.pop() is None and jb.target == 2 * N and jb.stats.target_raises == raises
    jb.push(frame(7), 10_000 * N)  # back: re-anchored with the learned prefetch
    assert jb.pop() is None
    jb.push(frame(8), 10_001 * N)
    assert played(jb)[0] == 7 and played(jb)[0] == 8
    assert run.targets[0] == N


def test_ticks_the_server_skipped_are_not_taken_for_network_jitter() -> None:
    jb = JitterBuffer(prefetch=N)
    jb.push(frame(1), 0)
    assert played(jb)[0] == 1
    jb.skip(3)  # the mixer fell behind: three frames of playout discarded before they came
    for k in range(1, 4):
        jb.push(frame(k + 1), k * N)  # packets for the skipped time: late, dropped
    assert jb.stats.late == 3 and jb.stats.target_raises == 0 and jb.target == N
    jb.push(frame(5), 4 * N)
    assert played(jb)[0] == 5
