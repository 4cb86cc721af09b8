"""My notifications."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from townhall.api.schemas import IsoTime, Out


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
