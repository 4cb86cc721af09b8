"""Repository for notifications. SQL lives here and nowhere else."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from townhall.store.db import utcnow
from townhall.store.models.accounts import Block
from townhall.store.models.notifications import Notification


async def add_many(
    session: AsyncSession, user_ids: Iterable[int], kind: str, data: dict[str, Any]
) -> list[Notification]:
    """One notification per user (ids deduplicated); flushed, so ids are set."""
    now = utcnow()
    rows = [
        Notification(user_id=user_id, kind=kind, data=dict(data), created_at=now)
        for user_id in dict.fromkeys(user_ids)
    ]
    session.add_all(rows)
    await session.flush()
    return rows


async def page(
    session: AsyncSession, user_id: int, before_id: int | None, limit: int
) -> Sequence[Notification]:
    """Newest first; only ids below `before_id` when given."""
    query = select(Notification).where(Notification.user_id == user_id)
    if before_id is not None:
        query = query.where(Notification.id < before_id)
    rows = await session.scalars(query.order_by(Notification.id.desc()).limit(limit))
    return rows.all()


async def unread_count(session: AsyncSession, user_id: int) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
    )
    return int(count or 0)


async def mark_read(session: AsyncSession, user_id: int, ids: Sequence[int] | None) -> int:
    """Mark the user's unread notifications read: these ids, or all when ids is None.

    Ids of other users' notifications are ignored. Returns how many changed.
    """
    query = update(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None)
    )
    if ids is not None:
        if not ids:
            return 0
        query = query.where(Notification.id.in_(set(ids)))
    result = await session.execute(
        query.values(read_at=utcnow()).execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def blockers_of(session: AsyncSession, user_id: int) -> list[int]:
    """Ids of users who blocked this user (they get no notifications about them)."""
    rows = await session.scalars(select(Block.blocker_id).where(Block.blocked_id == user_id))
    return list(rows)
