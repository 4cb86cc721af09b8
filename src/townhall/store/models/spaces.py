"""Spaces: the space itself, topics, present members, attendance history, removals,
private-space guests, reminders and reports."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from townhall.store.db import Base, UTCDateTime, utcnow
from townhall.store.models.accounts import NEVER_REUSED


class Space(Base):
    __tablename__ = "spaces"
    __table_args__ = (Index("ix_spaces_state_scheduled_for", "state", "scheduled_for"),)

    id: Mapped[str] = mapped_column(String(12), primary_key=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(70))
    visibility: Mapped[str] = mapped_column(String(10))
    speaker_policy: Mapped[str] = mapped_column(String(10))
    followers_may_join: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(10))
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    end_reason: Mapped[str | None] = mapped_column(String(20), nullable=True)
    peak_listeners: Mapped[int] = mapped_column(Integer, default=0)
    # No new raised hands while the hosts keep the stage locked.
    stage_locked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Bumped by every stage change: the UPDATE takes the row (PostgreSQL) or database
    # (SQLite) write lock first, so concurrent changes to one space run one at a time.
    version: Mapped[int] = mapped_column(Integer, default=0)


class SpaceTopic(Base):
    __tablename__ = "space_topics"
    __table_args__ = (
        UniqueConstraint("space_id", "topic_key"),
        Index("ix_space_topics_topic_key", "topic_key"),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    space_id: Mapped[str] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    topic: Mapped[str] = mapped_column(String(30))
    topic_key: Mapped[str] = mapped_column(String(30))  # case-folded, for search


class SpaceMember(Base):
    """Everyone who has joined a space; `present` is false once they left."""

    __tablename__ = "space_members"
    __table_args__ = (Index("ix_space_members_space_id_present", "space_id", "present"),)

    space_id: Mapped[str] = mapped_column(
        ForeignKey("spaces.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    present: Mapped[bool] = mapped_column(Boolean, default=True)
    role: Mapped[str] = mapped_column(String(10))
    muted: Mapped[bool] = mapped_column(Boolean, default=True)
    hand_raised_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    invited_as: Mapped[str | None] = mapped_column(String(10), nullable=True)
    was_on_stage: Mapped[bool] = mapped_column(Boolean, default=False)  # ever, in this space
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reaction_window_start: Mapped[float | None] = mapped_column(Float, nullable=True)
    reaction_count: Mapped[int] = mapped_column(Integer, default=0)


class SpaceAttendance(Base):
    """One row per stay: who joined when and left when (history of a space)."""

    __tablename__ = "space_attendance"
    __table_args__ = (
        Index("ix_space_attendance_space_id_user_id", "space_id", "user_id"),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    space_id: Mapped[str] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SpaceRemoval(Base):
    """People removed (or blocked) from a space; they cannot rejoin it."""

    __tablename__ = "space_removals"

    space_id: Mapped[str] = mapped_column(
        ForeignKey("spaces.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SpaceGuest(Base):
    """People the host invited into a private space."""

    __tablename__ = "space_guests"

    space_id: Mapped[str] = mapped_column(
        ForeignKey("spaces.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SpaceReminder(Base):
    """People who want to be told when a scheduled space starts."""

    __tablename__ = "space_reminders"

    space_id: Mapped[str] = mapped_column(
        ForeignKey("spaces.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SpaceReport(Base):
    """A report of a space, or of a participant in it, for the operators to review.

    Reports outlive the space, the reporter and the reported account (their ids become
    NULL; the title and handles are copied in), so staff can still review them.
    """

    __tablename__ = "space_reports"
    __table_args__ = (Index("ix_space_reports_status_id", "status", "id"), NEVER_REUSED)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    space_id: Mapped[str | None] = mapped_column(
        ForeignKey("spaces.id", ondelete="SET NULL"), index=True, nullable=True
    )
    reporter_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    target_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    reason: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    space_title: Mapped[str] = mapped_column(String(70), default="", server_default="")
    space_host_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    target_handle: Mapped[str] = mapped_column(String(15), default="", server_default="")
    # open | dismissed | actioned
    status: Mapped[str] = mapped_column(String(10), default="open", server_default="open")
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_by_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    resolution: Mapped[str] = mapped_column(String(20), default="", server_default="")
