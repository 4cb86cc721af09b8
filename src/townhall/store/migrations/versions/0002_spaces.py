"""Spaces: spaces, topics, members, attendance, removals, guests, reminders, reports.

Revision ID: 0002_spaces
Revises: 0001_accounts
"""

import sqlalchemy as sa
from alembic import op

from townhall.store.db import UTCDateTime

revision = "0002_spaces"
down_revision = "0001_accounts"
branch_labels = None
depends_on = None


def _fk(table: str, column: str, ref: str, ondelete: str = "CASCADE") -> sa.ForeignKeyConstraint:
    ref_table = ref.split(".")[0]
    return sa.ForeignKeyConstraint(
        [column], [ref], name=f"fk_{table}_{column}_{ref_table}", ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "spaces",
        sa.Column("id", sa.String(12), nullable=False),
        sa.Column("host_id", sa.Integer, nullable=False),
        sa.Column("title", sa.String(70), nullable=False),
        sa.Column("visibility", sa.String(10), nullable=False),
        sa.Column("speaker_policy", sa.String(10), nullable=False),
        sa.Column("followers_may_join", sa.Boolean, nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("scheduled_for", UTCDateTime, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=True),
        sa.Column("ended_at", UTCDateTime, nullable=True),
        sa.Column("end_reason", sa.String(20), nullable=True),
        sa.Column("peak_listeners", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_spaces"),
        _fk("spaces", "host_id", "users.id"),
    )
    op.create_index("ix_spaces_host_id", "spaces", ["host_id"])
    op.create_index("ix_spaces_state_scheduled_for", "spaces", ["state", "scheduled_for"])

    op.create_table(
        "space_topics",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("space_id", sa.String(12), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("topic", sa.String(30), nullable=False),
        sa.Column("topic_key", sa.String(30), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_space_topics"),
        sa.UniqueConstraint("space_id", "topic_key", name="uq_space_topics_space_id"),
        _fk("space_topics", "space_id", "spaces.id"),
    )
    op.create_index("ix_space_topics_topic_key", "space_topics", ["topic_key"])

    op.create_table(
        "space_members",
        sa.Column("space_id", sa.String(12), nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("present", sa.Boolean, nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("muted", sa.Boolean, nullable=False),
        sa.Column("hand_raised_at", sa.Float, nullable=True),
        sa.Column("invited_as", sa.String(10), nullable=True),
        sa.Column("joined_at", UTCDateTime, nullable=False),
        sa.Column("reaction_window_start", sa.Float, nullable=True),
        sa.Column("reaction_count", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("space_id", "user_id", name="pk_space_members"),
        _fk("space_members", "space_id", "spaces.id"),
        _fk("space_members", "user_id", "users.id"),
    )
    op.create_index("ix_space_members_user_id", "space_members", ["user_id"])
    op.create_index("ix_space_members_space_id_present", "space_members", ["space_id", "present"])

    op.create_table(
        "space_attendance",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("space_id", sa.String(12), nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("joined_at", UTCDateTime, nullable=False),
        sa.Column("left_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_space_attendance"),
        _fk("space_attendance", "space_id", "spaces.id"),
        _fk("space_attendance", "user_id", "users.id"),
    )
    op.create_index(
        "ix_space_attendance_space_id_user_id", "space_attendance", ["space_id", "user_id"]
    )

    op.create_table(
        "space_removals",
        sa.Column("space_id", sa.String(12), nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("by_id", sa.Integer, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("space_id", "user_id", name="pk_space_removals"),
        _fk("space_removals", "space_id", "spaces.id"),
        _fk("space_removals", "user_id", "users.id"),
        _fk("space_removals", "by_id", "users.id", "SET NULL"),
    )

    op.create_table(
        "space_guests",
        sa.Column("space_id", sa.String(12), nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("space_id", "user_id", name="pk_space_guests"),
        _fk("space_guests", "space_id", "spaces.id"),
        _fk("space_guests", "user_id", "users.id"),
    )
    op.create_index("ix_space_guests_user_id", "space_guests", ["user_id"])

    op.create_table(
        "space_reminders",
        sa.Column("space_id", sa.String(12), nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("space_id", "user_id", name="pk_space_reminders"),
        _fk("space_reminders", "space_id", "spaces.id"),
        _fk("space_reminders", "user_id", "users.id"),
    )

    op.create_table(
        "space_reports",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("space_id", sa.String(12), nullable=False),
        sa.Column("reporter_id", sa.Integer, nullable=False),
        sa.Column("target_user_id", sa.Integer, nullable=True),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_space_reports"),
        _fk("space_reports", "space_id", "spaces.id"),
        _fk("space_reports", "reporter_id", "users.id"),
        _fk("space_reports", "target_user_id", "users.id"),
    )
    op.create_index("ix_space_reports_space_id", "space_reports", ["space_id"])


def downgrade() -> None:
    for table in (
        "space_reports",
        "space_reminders",
        "space_guests",
        "space_removals",
        "space_attendance",
        "space_members",
        "space_topics",
        "spaces",
    ):
        op.drop_table(table)
