"""My notifications: list, unread count, mark read."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from townhall.api.deps import CurrentUser, DbSession
from townhall.api.schemas.notifications import MarkedRead, MarkReadIn, NotificationPage, UnreadCount
from townhall.api.services import notifications

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])


@router.get("")
async def list_notifications(
    user: CurrentUser,
    session: DbSession,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> NotificationPage:
    """Newest first; pass `next_cursor` back as `cursor` for the next page."""
    return await notifications.list_page(session, user.id, cursor, limit)


@router.get("/unread_count")
async def unread_count(user: CurrentUser, session: DbSession) -> UnreadCount:
    return await notifications.unread_count(session, user.id)


@router.post("/read")
async def mark_read(body: MarkReadIn, user: CurrentUser, session: DbSession) -> MarkedRead:
    return await notifications.mark_read(session, user.id, body.ids, body.all)
