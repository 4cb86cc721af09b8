"""The transactional outbox: events written in the same transaction as the change they
announce, relayed to the bus afterwards (`api/services/outbox.py`), then deleted.

`space_event_seqs` holds each space's last assigned event seq: incremented (and its row
locked) by the transaction that adds the space's events, so seqs follow commit order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from townhall.store.db import Base, UTCDateTime, utcnow


class SpaceEventSeq(Base):
    __tablename__ = "space_event_seqs"

    space_id: Mapped[str] = mapped_column(
        String(12), ForeignKey("spaces.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, default=0)


class OutboxEntry(Base):
    """One event to relay: a space event (space_id and seq set) or a push to one user's
    channel (user_id set). No foreign keys: an account or space deleted in the same
    transaction must not take its last events with it."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_space_id_seq", "space_id", "seq"),
        {"sqlite_autoincrement": True},  # ids never reused: they key the bus's dedupe
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    space_id: Mapped[str | None] = mapped_column(String(12), nullable=True)
    seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    type: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
