"""Notifications: store them, push them live once stored, list and mark them read.

Kinds and their `data` are listed in docs/EVENTS.md (space.started, space.reminder,
cohost.added, invite).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from townhall.api.schemas.notifications import (
    NOTIFICATION,
    MarkedRead,
    Notice,
    NotificationOut,
    NotificationPage,
    UnreadCount,
)
from townhall.api.services import outbox
from townhall.domain.errors import Invalid
from townhall.domain.paging import PAGE_MAX, parse_cursor
from townhall.store import accounts as accounts_store
from townhall.store import notifications as store
from townhall.store.models.notifications import Notification

MARK_READ_MAX_IDS = 500


def notification_out(row: Notification) -> NotificationOut:
    """The stored row as its kind's model (the kind decides the shape of `data`)."""
    return NOTIFICATION.validate_python(
        {
            "id": row.id,
            "kind": row.kind,
            "data": row.data,
            "created_at": row.created_at,
            "read": row.read_at is not None,
        }
    )


async def notify(
    session: AsyncSession, user_ids: Iterable[int], notice: Notice
) -> list[NotificationOut]:
    """Store one notification of `notice`'s kind per user and push each over its user's
    channel.

    The pushes go through the outbox: sent once the session commits (never for a
    rolled-back transaction), as {"type": "notification", "data": <notification>}.
    """
    rows = await store.add_many(session, user_ids, notice.KIND, notice.model_dump(mode="json"))
    if not rows:
        return []
    items = [notification_out(row) for row in rows]
    await outbox.add_user_pushes(
        session,
        [
            (row.user_id, "notification", item.model_dump(mode="json"))
            for row, item in zip(rows, items, strict=True)
        ],
    )
    return items


async def notify_followers(
    session: AsyncSession, actor_id: int, notice: Notice, also: Iterable[int] = ()
) -> list[NotificationOut]:
    """Notify the actor's followers plus `also` (e.g. reminder holders), once each.

    The actor is never notified, nor anyone who blocked the actor or whom the actor blocked.
    """
    recipients = set(await accounts_store.follower_ids(session, actor_id)) | set(also)
    recipients.discard(actor_id)
    if recipients:
        recipients -= set(await accounts_store.blocked_ids(session, actor_id))
        recipients -= set(await store.blockers_of(session, actor_id))
    kept = sorted(recipients)
    if not kept:
        return []
    return await notify(session, kept, notice)


async def list_page(
    session: AsyncSession, user_id: int, cursor: str | None, limit: int
) -> NotificationPage:
    """Newest first; pass `next_cursor` back to get the next page."""
    before = parse_cursor(cursor)
    limit = min(max(limit, 1), PAGE_MAX)
    rows = await store.page(session, user_id, before, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return NotificationPage(
        items=[notification_out(row) for row in rows],
        next_cursor=str(rows[-1].id) if more and rows else None,
    )


async def unread_count(session: AsyncSession, user_id: int) -> UnreadCount:
    return UnreadCount(count=await store.unread_count(session, user_id))


async def mark_read(
    session: AsyncSession, user_id: int, ids: list[int] | None, all_: bool
) -> MarkedRead:
    """Mark some ({ids}) or all ({all: true}) of my notifications read."""
    if all_ == (ids is not None):
        raise Invalid("ids_or_all", 'send either {"ids": [...]} or {"all": true}', "ids")
    if ids is not None and len(ids) > MARK_READ_MAX_IDS:
        raise Invalid("too_many_ids", f"at most {MARK_READ_MAX_IDS} ids at once", "ids")
    changed = await store.mark_read(session, user_id, None if all_ else ids)
    return MarkedRead(marked=changed, unread=await store.unread_count(session, user_id))
