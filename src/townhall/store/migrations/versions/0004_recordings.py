"""Recordings.

Revision ID: 0004_recordings
Revises: 0003_notifications
"""

import sqlalchemy as sa
from alembic import op

from townhall.store.db import UTCDateTime

revision = "0004_recordings"
down_revision = "0003_notifications"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("space_id", sa.String(12), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("duration_seconds", sa.Float, nullable=True),
        sa.Column("size_bytes", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("space_id", name="pk_recordings"),
        sa.ForeignKeyConstraint(
            ["space_id"],
            ["spaces.id"],
            name="fk_recordings_space_id_spaces",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("recordings")
