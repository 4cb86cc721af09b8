"""Clips: up to a minute cut from an ended space's recording, with its own share link."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from townhall.store.db import Base, UTCDateTime, utcnow


class Clip(Base):
    __tablename__ = "clips"
    __table_args__ = (Index("ix_clips_space_id", "space_id"),)

    id: Mapped[str] = mapped_column(String(12), primary_key=True)
    space_id: Mapped[str] = mapped_column(String(12), ForeignKey("spaces.id", ondelete="CASCADE"))
    creator_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    start_ms: Mapped[int] = mapped_column(Integer)  # in the recording
    end_ms: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
