"""The fixed set of reactions and a pure per-user rate limit (the caller passes the time)."""

from __future__ import annotations

from dataclasses import dataclass

from townhall.domain.errors import Invalid, RateLimited

REACTIONS: tuple[str, ...] = ("👏", "😂", "❤️", "💯", "🙌", "🔥", "😮", "😢", "👍", "👎")


def validate_reaction(emoji: str) -> str:
    if emoji not in REACTIONS:
        raise Invalid("unknown_reaction", f"a reaction is one of: {' '.join(REACTIONS)}", "emoji")
    return emoji


@dataclass(frozen=True)
class ReactionLimit:
    count: int = 5
    per_seconds: float = 10.0


@dataclass(frozen=True)
class ReactionWindow:
    """A fixed window: when it began and how many reactions it has seen."""

    started_at: float
    count: int


def take_reaction(
    window: ReactionWindow | None, now: float, limit: ReactionLimit = ReactionLimit()
) -> ReactionWindow:
    """Count one reaction, or raise RateLimited when the window is full."""
    if window is None or now - window.started_at >= limit.per_seconds or now < window.started_at:
        return ReactionWindow(now, 1)
    if window.count >= limit.count:
        wait = window.started_at + limit.per_seconds - now
        raise RateLimited(
            "reaction_rate_limited",
            f"at most {limit.count} reactions every {limit.per_seconds:g} s; "
            f"try again in {int(wait) + 1} s",
        )
    return ReactionWindow(window.started_at, window.count + 1)
