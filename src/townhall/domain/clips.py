"""Clips: who may cut one, and how long it may be. No I/O."""

from __future__ import annotations

from townhall.domain.errors import Conflict, Forbidden, Invalid
from townhall.domain.spaces import SpaceState

MAX_CLIP_MS = 60_000
MIN_CLIP_MS = 1_000


def check_clip(
    state: SpaceState, clips_allowed: bool, start_ms: int, end_ms: int, duration_ms: int
) -> None:
    """Anyone who may see an ended, recorded space cuts up to a minute of it, unless the
    host turned clips off (who may see the space is checked first)."""
    if state is not SpaceState.ENDED:
        raise Conflict("space_not_ended", "clips are cut from the recording once the space ended")
    if not clips_allowed:
        raise Forbidden("clips_off", "the host turned clips off for this space")
    if start_ms < 0 or end_ms <= start_ms:
        raise Invalid("invalid_span", "a clip ends after it starts (ms, from 0)", "end_ms")
    if end_ms - start_ms > MAX_CLIP_MS:
        raise Invalid("clip_too_long", "a clip is at most 60 seconds", "end_ms")
    if end_ms - start_ms < MIN_CLIP_MS:
        raise Invalid("clip_too_short", "a clip is at least 1 second", "end_ms")
    if start_ms >= duration_ms:
        raise Invalid("invalid_span", "the clip starts after the recording ends", "start_ms")
