"""Captions, transcripts and search."""

from __future__ import annotations

from pydantic import Field, StrictBool, StrictStr

from townhall.api.schemas import Body, Out
from townhall.api.schemas.spaces import SpaceOut, UserBrief


class CaptionsOut(Out):
    available: bool = Field(description="whether this instance recognises speech")
    on: bool
    language: str
    clips: bool
    paused: bool | None = Field(default=None, description="the recogniser is restarting")
    languages: list[str] | None = Field(default=None, description="what it recognises")


class TranscriptLine(Out):
    id: int
    user: UserBrief | None
    start_ms: int
    end_ms: int
    replay_ms: int | None = Field(description="where the line is in the recording")
    text: str


class TranscriptOut(Out):
    space_id: str
    title: str
    lines: list[TranscriptLine]


class SearchHit(TranscriptLine):
    """The best line of a space for the query."""


class SearchResult(Out):
    space: SpaceOut
    line: SearchHit
    rank: float


class SearchOut(Out):
    query: str = Field(description="the words searched for")
    results: list[SearchResult]
    live: list[SpaceOut]


class CaptionsIn(Body):
    on: StrictBool | None = None
    language: StrictStr | None = Field(default=None, max_length=8, description="e.g. en")
    clips: StrictBool | None = Field(default=None, description="may listeners cut clips")
