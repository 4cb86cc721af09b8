"""Captions: a space's captions settings, and its transcript (the final captions).

Transcript lines are searched with the database's own full-text search: an FTS5 table
kept in step by triggers on SQLite, a generated `tsvector` column with a GIN index on
PostgreSQL (both made by migration 0006; neither is mapped here)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from townhall.store.db import Base, UTCDateTime, utcnow
from townhall.store.models.accounts import NEVER_REUSED


class CaptionSettings(Base):
    """A space's captions switch and language (no row: the instance's defaults)."""

    __tablename__ = "caption_settings"

    space_id: Mapped[str] = mapped_column(
        String(12), ForeignKey("spaces.id", ondelete="CASCADE"), primary_key=True
    )
    on: Mapped[bool] = mapped_column(Boolean, default=True)
    language: Mapped[str] = mapped_column(String(8), default="en")
    clips: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TranscriptLine(Base):
    """One final caption: who said it, and when (ms from the space's start)."""

    __tablename__ = "transcript_lines"
    __table_args__ = (
        Index("ix_transcript_lines_space_id_start_ms", "space_id", "start_ms"),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    space_id: Mapped[str] = mapped_column(String(12), ForeignKey("spaces.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    start_ms: Mapped[int] = mapped_column(Integer)
    end_ms: Mapped[int] = mapped_column(Integer)
    # Where the line starts in the space's recording (ms), when it was recording.
    replay_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    text: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
