"""Captions repository: settings, transcript lines and their full-text search (the only
SQL about captions). Search runs on SQLite FTS5 or PostgreSQL tsvector, same results."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from townhall.store.db import utcnow
from townhall.store.models import CaptionSettings, TranscriptLine


async def settings_of(session: AsyncSession, space_id: str) -> CaptionSettings | None:
    return await session.get(CaptionSettings, space_id)


async def settings_of_spaces(
    session: AsyncSession, space_ids: Sequence[str]
) -> dict[str, CaptionSettings]:
    if not space_ids:
        return {}
    rows = await session.scalars(
        select(CaptionSettings).where(CaptionSettings.space_id.in_(list(space_ids)))
    )
    return {r.space_id: r for r in rows}


async def save_settings(
    session: AsyncSession, space_id: str, *, on: bool, language: str, clips: bool
) -> CaptionSettings:
    row = await session.get(CaptionSettings, space_id)
    if row is None:
        row = CaptionSettings(space_id=space_id)
        session.add(row)
    row.on, row.language, row.clips, row.updated_at = on, language, clips, utcnow()
    await session.flush()
    return row


async def add_line(
    session: AsyncSession,
    space_id: str,
    user_id: int,
    start_ms: int,
    end_ms: int,
    replay_ms: int | None,
    text_: str,
) -> TranscriptLine:
    line = TranscriptLine(
        space_id=space_id,
        user_id=user_id,
        start_ms=start_ms,
        end_ms=end_ms,
        replay_ms=replay_ms,
        text=text_[:2000],
        created_at=utcnow(),
    )
    session.add(line)
    await session.flush()
    return line


async def lines_of(session: AsyncSession, space_id: str) -> list[TranscriptLine]:
    rows = await session.scalars(
        select(TranscriptLine)
        .where(TranscriptLine.space_id == space_id)
        .order_by(TranscriptLine.start_ms, TranscriptLine.id)
    )
    return list(rows)


async def line_counts(session: AsyncSession, space_ids: Sequence[str]) -> dict[str, int]:
    if not space_ids:
        return {}
    rows = await session.execute(
        select(TranscriptLine.space_id, func.count())
        .where(TranscriptLine.space_id.in_(list(space_ids)))
        .group_by(TranscriptLine.space_id)
    )
    return {space_id: count for space_id, count in rows.tuples()}


async def delete_lines(session: AsyncSession, space_id: str) -> int:
    result = await session.execute(
        delete(TranscriptLine).where(TranscriptLine.space_id == space_id)
    )
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True)
class LineHit:
    line_id: int
    space_id: str
    user_id: int
    start_ms: int
    end_ms: int
    replay_ms: int | None
    text: str
    rank: float  # higher is better


async def search_lines(session: AsyncSession, terms: Sequence[str], limit: int) -> list[LineHit]:
    """Lines of ended spaces holding every term (stemmed), best first, at most `limit`.

    `terms` are plain words (no operators): each is quoted for FTS5, and joined with
    spaces for PostgreSQL's `plainto_tsquery` (every word, stemmed, AND-ed)."""
    if not terms:
        return []
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        match = " ".join('"' + t.replace('"', '""') + '"' for t in terms)
        sql = text(
            "SELECT l.id, l.space_id, l.user_id, l.start_ms, l.end_ms, l.replay_ms, l.text,"
            " -bm25(transcript_fts) AS rank"
            " FROM transcript_fts JOIN transcript_lines l ON l.id = transcript_fts.rowid"
            " JOIN spaces s ON s.id = l.space_id"
            " WHERE transcript_fts MATCH :match AND s.state = 'ended'"
            " ORDER BY rank DESC, l.id LIMIT :limit"
        )
        params: dict[str, object] = {"match": match, "limit": limit}
    else:
        sql = text(
            "SELECT l.id, l.space_id, l.user_id, l.start_ms, l.end_ms, l.replay_ms, l.text,"
            " ts_rank(l.tsv, q) AS rank"
            " FROM transcript_lines l JOIN spaces s ON s.id = l.space_id,"
            " plainto_tsquery('english', :query) q"
            " WHERE l.tsv @@ q AND s.state = 'ended'"
            " ORDER BY rank DESC, l.id LIMIT :limit"
        )
        params = {"query": " ".join(terms), "limit": limit}
    rows = await session.execute(sql, params)
    return [
        LineHit(int(r[0]), str(r[1]), int(r[2]), int(r[3]), int(r[4]), r[5], str(r[6]), float(r[7]))
        for r in rows
    ]
