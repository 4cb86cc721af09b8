"""Retry delays: exponential, jittered, bounded, reset after a success."""

from __future__ import annotations

import random

from townhall.domain.backoff import Backoff


def test_delays_grow_to_the_maximum_with_jitter_and_reset() -> None:
    backoff = Backoff(initial=0.1, maximum=2.0, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(12)]
    assert all(0.05 <= d <= 2.0 for d in delays)
    assert max(delays[:2]) <= 0.2  # the first ones stay near the initial delay
    assert max(delays[6:]) > 1.0  # later ones reach towards the maximum
    assert len(set(delays)) == len(delays)  # jittered: nodes retrying together spread out
    backoff.reset()
    assert backoff.next_delay() <= 0.1
