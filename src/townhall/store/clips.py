"""Clips repository (the only SQL about clips)."""

from __future__ import annotations

import secrets

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from townhall.store.db import utcnow
from townhall.store.models import Clip, TranscriptLine


def new_clip_id() -> str:
    return secrets.token_urlsafe(9)[:12]


async def add(
    session: AsyncSession, space_id: str, creator_id: int, start_ms: int, end_ms: int
) -> Clip:
    clip = Clip(
        id=new_clip_id(),
        space_id=space_id,
        creator_id=creator_id,
        start_ms=start_ms,
        end_ms=end_ms,
        created_at=utcnow(),
    )
    session.add(clip)
    await session.flush()
    return clip


async def get(session: AsyncSession, clip_id: str) -> Clip | None:
    return await session.get(Clip, clip_id)


async def ids_of_space(session: AsyncSession, space_id: str) -> list[str]:
    return list(await session.scalars(select(Clip.id).where(Clip.space_id == space_id)))


async def ids_of_spaces_or_creator(
    session: AsyncSession, space_ids: list[str], creator_id: int
) -> list[str]:
    rows = await session.scalars(
        select(Clip.id).where((Clip.space_id.in_(space_ids)) | (Clip.creator_id == creator_id))
    )
    return list(rows)


async def remove_of_space(session: AsyncSession, space_id: str) -> None:
    await session.execute(delete(Clip).where(Clip.space_id == space_id))


async def lines_in(
    session: AsyncSession, space_id: str, start_ms: int, end_ms: int
) -> list[TranscriptLine]:
    """Transcript lines said during the clip (by their place in the recording)."""
    rows = await session.scalars(
        select(TranscriptLine)
        .where(
            TranscriptLine.space_id == space_id,
            TranscriptLine.replay_ms.is_not(None),
            TranscriptLine.replay_ms < end_ms,
            TranscriptLine.replay_ms + (TranscriptLine.end_ms - TranscriptLine.start_ms) > start_ms,
        )
        .order_by(TranscriptLine.replay_ms, TranscriptLine.id)
    )
    return list(rows)
