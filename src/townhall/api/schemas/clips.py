"""Clips: a short cut of an ended space's recording."""

from __future__ import annotations

from pydantic import Field

from townhall.api.schemas import Out
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
