"""Retry delays: exponential backoff with full jitter (pure; the caller sleeps)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays for retrying an operation that keeps failing.

    The n-th delay in a row is drawn uniformly from [initial / 2, min(maximum, initial * 2**n)]
    ("full jitter" with a floor), so many nodes retrying at once spread out. `reset()`
    after a success starts again from `initial`.
    """

    initial: float = 0.05
    maximum: float = 5.0
    failures: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def next_delay(self) -> float:
        ceiling = min(self.maximum, self.initial * 2**self.failures)
        self.failures = min(self.failures + 1, 62)
        return self.rng.uniform(min(self.initial / 2, ceiling), ceiling)

    def reset(self) -> None:
        self.failures = 0
