"""Telling every node that some access ended, so that open connections act on it.

An `AccessChange` goes on the user's bus channel through the outbox, in the transaction
of the change (so it goes out once committed, never for a rolled-back one); every node's
WebSockets (`api/ws/`) and media plane (`media/access.py`) follow the channels
of the users connected to them and close or re-check their connections within a moment.
See docs/EVENTS.md ("Access changes").
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from townhall.api.services import outbox
from townhall.bus.events import (
    ACCESS,
    ACCOUNT_DELETED,
    SPACE_ACCESS,
    TOKEN_REVOKED,
    AccessChange,
)


async def announce(session: AsyncSession, user_id: int, changes: Iterable[AccessChange]) -> None:
    """Publish the changes on the user's channel once the session commits."""
    await outbox.add_user_pushes(session, [(user_id, ACCESS, c.to_data()) for c in changes])


async def token_revoked(session: AsyncSession, user_id: int, token_id: int) -> None:
    await tokens_revoked(session, user_id, [token_id])


async def tokens_revoked(session: AsyncSession, user_id: int, token_ids: Iterable[int]) -> None:
    changes = [AccessChange(TOKEN_REVOKED, token_id=t) for t in dict.fromkeys(token_ids)]
    if changes:
        await announce(session, user_id, changes)


async def account_deleted(session: AsyncSession, user_id: int) -> None:
    await announce(session, user_id, [AccessChange(ACCOUNT_DELETED)])


async def space_access(session: AsyncSession, user_id: int, space_ids: Iterable[str]) -> None:
    """The user may have lost access to these spaces: connections re-check them."""
    changes = [AccessChange(SPACE_ACCESS, space_id=s) for s in dict.fromkeys(space_ids)]
    if changes:
        await announce(session, user_id, changes)
