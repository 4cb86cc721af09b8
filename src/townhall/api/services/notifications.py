"""Notifications: store them, push them live once stored, list and mark them read.

Kinds and their `data` are listed in docs/EVENTS.md (space.started, space.reminder,
cohost.added, invite).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from townhall.bus import Bus
from townhall.domain.errors import Invalid
from townhall.domain.paging import PAGE_MAX, parse_cursor
from townhall.store import accounts as accounts_store
from townhall.store import notifications as store
from townhall.store.models.notifications import Notification

log = logging.getLogger(__name__)

MARK_READ_MAX_IDS = 500
KIND_MAX_LENGTH = 40

_PENDING = "townhall_pending_pushes"
_background: set[asyncio.Task[None]] = set()


def notification_json(row: Notification) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "data": row.data,
        "created_at": row.created_at.isoformat(),
        "read": row.read_at is not None,
    }


async def notify(
    session: AsyncSession, bus: Bus, user_ids: Iterable[int], kind: str, data: dict[str, Any]
) -> list[dict[str, Any]]:
    """Store one notification per user and push each over its user's channel.

    The push happens after the session commits (never for a rolled-back
    transaction), as {"type": "notification", "data": <notification>}.
    """
    if not kind or len(kind) > KIND_MAX_LENGTH:
        raise Invalid("invalid_kind", f"kind must be 1..{KIND_MAX_LENGTH} characters", "kind")
    rows = await store.add_many(session, user_ids, kind, data)
    if not rows:
        return []
    items = [notification_json(row) for row in rows]
    pushes = [
        (row.user_id, {"type": "notification", "data": item})
        for row, item in zip(rows, items, strict=True)
    ]
    _push_after_commit(session, bus, pushes)
    return items


async def notify_followers(
    session: AsyncSession,
    bus: Bus,
    actor_id: int,
    kind: str,
    data: dict[str, Any],
    also: Iterable[int] = (),
) -> list[dict[str, Any]]:
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
    return await notify(session, bus, kept, kind, data)


async def list_page(
    session: AsyncSession, user_id: int, cursor: str | None, limit: int
) -> dict[str, Any]:
    """Newest first; pass `next_cursor` back to get the next page."""
    before = parse_cursor(cursor)
    limit = min(max(limit, 1), PAGE_MAX)
    rows = await store.page(session, user_id, before, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "items": [notification_json(row) for row in rows],
        "next_cursor": str(rows[-1].id) if more and rows else None,
    }


async def unread_count(session: AsyncSession, user_id: int) -> dict[str, int]:
    return {"count": await store.unread_count(session, user_id)}


async def mark_read(
    session: AsyncSession, user_id: int, ids: list[int] | None, all_: bool
) -> dict[str, int]:
    """Mark some ({ids}) or all ({all: true}) of my notifications read."""
    if all_ == (ids is not None):
        raise Invalid("ids_or_all", 'send either {"ids": [...]} or {"all": true}', "ids")
    if ids is not None and len(ids) > MARK_READ_MAX_IDS:
        raise Invalid("too_many_ids", f"at most {MARK_READ_MAX_IDS} ids at once", "ids")
    changed = await store.mark_read(session, user_id, None if all_ else ids)
    return {"marked": changed, "unread": await store.unread_count(session, user_id)}


# -- push once committed -------------------------------------------------


def _push_after_commit(
    session: AsyncSession, bus: Bus, pushes: list[tuple[int, dict[str, Any]]]
) -> None:
    sync_session = session.sync_session
    pending: list[tuple[int, dict[str, Any]]] | None = sync_session.info.get(_PENDING)
    if pending is None:
        pending = sync_session.info[_PENDING] = []
        event.listen(sync_session, "after_commit", _on_commit(bus))
        event.listen(sync_session, "after_rollback", _on_rollback)
    pending.extend(pushes)


def _on_commit(bus: Bus) -> Any:
    def after_commit(sync_session: Session) -> None:
        pushes = sync_session.info.pop(_PENDING, None) or []
        sync_session.info[_PENDING] = []
        if pushes:
            task = asyncio.get_running_loop().create_task(_push(bus, pushes))
            _background.add(task)
            task.add_done_callback(_background.discard)

    return after_commit


def _on_rollback(sync_session: Session) -> None:
    sync_session.info[_PENDING] = []


async def _push(bus: Bus, pushes: list[tuple[int, dict[str, Any]]]) -> None:
    for user_id, payload in pushes:
        try:
            await bus.publish_user(user_id, payload)
        except Exception:
            log.exception("could not push a notification to user %s", user_id)
