"""Recordings repository: the only place that speaks SQL about recordings."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from townhall.store.db import utcnow
from townhall.store.models import Recording, Space


async def get(session: AsyncSession, space_id: str) -> Recording | None:
    return await session.get(Recording, space_id)


async def set_on(session: AsyncSession, space_id: str, on: bool) -> Recording:
    """Record (or pause); the row is created the first time."""
    row = await session.get(Recording, space_id)
    if row is None:
        row = Recording(space_id=space_id, active=on, created_at=utcnow())
        session.add(row)
    else:
        row.active = on
    await session.flush()
    return row


async def set_finished(
    session: AsyncSession, space_id: str, duration_seconds: float, size_bytes: int
) -> None:
    row = await session.get(Recording, space_id)
    if row is not None:
        row.active = False
        row.duration_seconds = duration_seconds
        row.size_bytes = size_bytes
        await session.flush()


async def remove(session: AsyncSession, space_id: str) -> None:
    await session.execute(delete(Recording).where(Recording.space_id == space_id))


async def of_spaces(session: AsyncSession, space_ids: Iterable[str]) -> dict[str, Recording]:
    ids = list(space_ids)
    if not ids:
        return {}
    rows = await session.scalars(select(Recording).where(Recording.space_id.in_(ids)))
    return {r.space_id: r for r in rows}


async def space_ids_of_host(session: AsyncSession, host_id: int) -> list[str]:
    """The spaces of this host that have (or had) a recording."""
    rows = await session.scalars(
        select(Recording.space_id)
        .join(Space, Space.id == Recording.space_id)
        .where(Space.host_id == host_id)
    )
    return list(rows)
