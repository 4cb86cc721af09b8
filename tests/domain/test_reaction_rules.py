"""Reactions: the fixed set and the per-user rate limit."""

import pytest

from townhall.domain.errors import Invalid, RateLimited
from townhall.domain.reactions import REACTIONS, ReactionLimit, take_reaction, validate_reaction


def test_only_known_reactions() -> None:
    assert validate_reaction("👏") == "👏"
    with pytest.raises(Invalid) as e:
        validate_reaction("🐍")
    assert e.value.field == "emoji"
    assert len(set(REACTIONS)) == len(REACTIONS)


def test_rate_limit_fixed_window() -> None:
    limit = ReactionLimit(count=3, per_seconds=10)
    w = None
    for i in range(3):
        w = take_reaction(w, 100.0 + i, limit)
    assert w is not None and w.count == 3
    with pytest.raises(RateLimited) as e:
        take_reaction(w, 105.0, limit)
    assert e.value.code == "reaction_rate_limited"
    w2 = take_reaction(w, 110.0, limit)
    assert (w2.started_at, w2.count) == (110.0, 1)
