"""My notifications."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StrictBool, StrictInt

from townhall.api.schemas import Body, IsoTime, Out


class NotificationOut(Out):
    id: int
    kind: str = Field(description="invite, space.started, space.reminder, cohost.added, ...")
    data: dict[str, Any] = Field(description="what the kind needs (space id, title, by)")
    created_at: IsoTime
    read: bool


class NotificationPage(Out):
    items: list[NotificationOut]
    next_cursor: str | None = Field(description="pass back as ?cursor= for the next page")


class UnreadCount(Out):
    count: int


class MarkedRead(Out):
    marked: int = Field(description="how many were marked read now")
    unread: int


class MarkReadIn(Body):
    """Either the ids to mark read, or all: true."""

    ids: list[Annotated[StrictInt, Field(ge=1)]] | None = Field(default=None, max_length=500)
    all: StrictBool = False
