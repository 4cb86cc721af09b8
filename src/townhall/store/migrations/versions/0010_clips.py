"""Clips cut from recordings.

Revision ID: 0010_clips
Revises: 0009_stage_lock
"""

import sqlalchemy as sa
from alembic import op

from townhall.store.db import UTCDateTime

revision = "0010_clips"
down_revision = "0009_stage_lock"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "clips",
        sa.Column("id", sa.String(12), nullable=False),
        sa.Column("space_id", sa.String(12), nullable=False),
        sa.Column("creator_id", sa.Integer, nullable=False),
        sa.Column("start_ms", sa.Integer, nullable=False),
        sa.Column("end_ms", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_clips"),
        sa.ForeignKeyConstraint(
            ["space_id"], ["spaces.id"], name="fk_clips_space_id_spaces", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["creator_id"], ["users.id"], name="fk_clips_creator_id_users", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_clips_space_id", "clips", ["space_id"])
    op.create_index("ix_clips_creator_id", "clips", ["creator_id"])


def downgrade() -> None:
    op.drop_table("clips")
