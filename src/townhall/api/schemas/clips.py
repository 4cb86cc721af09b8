"""Clips: a short cut of an ended space's recording."""

from __future__ import annotations

from pydantic import Field, StrictInt

from townhall.api.schemas import Body, Out
from townhall.api.schemas.spaces import SpaceOut, UserBrief


class ClipLine(Out):
    user: UserBrief | None
    text: str
    at_ms: int = Field(description="from the clip's start")


class ClipOut(Out):
    id: str
    space: SpaceOut
    start_ms: int
    end_ms: int
    by: UserBrief | None
    audio_url: str
    share_url: str
    lines: list[ClipLine]


class ClipIn(Body):
    start_ms: StrictInt = Field(ge=0, le=2**31 - 1, description="in the recording")
    end_ms: StrictInt = Field(ge=0, le=2**31 - 1, description="at most 60 s after start_ms")
