"""Evidence kept for the review queue: a live space's audio around a report."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from townhall.store.db import Base, UTCDateTime, utcnow


class Evidence(Base):
    """One window of a space's mix (`<data_dir>/evidence/<id>.ogg`) with its stage
    timeline. `pending` until the media plane has written it, then `ready` (or `missing`
    when no media node had the space's audio). `timeline`: {started_at (unix s of the
    file's first packet), report_at_ms, spans: [{user_id, kind, start_ms, end_ms}]}.
    No foreign key to the space: evidence outlives it, until its retention ends."""

    __tablename__ = "evidence"
    __table_args__ = (
        Index("ix_evidence_space_id_window_end", "space_id", "window_end"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    space_id: Mapped[str | None] = mapped_column(String(12), nullable=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(10), default="pending", server_default="pending")
    duration_ms: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    size_bytes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    timeline: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class EvidenceReport(Base):
    """Which evidence a report has (several reports in one window share one file)."""

    __tablename__ = "evidence_reports"

    report_id: Mapped[int] = mapped_column(
        ForeignKey("space_reports.id", ondelete="CASCADE"), primary_key=True
    )
    evidence_id: Mapped[int] = mapped_column(
        ForeignKey("evidence.id", ondelete="CASCADE"), index=True
    )
