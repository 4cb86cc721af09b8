"""Evidence: the audio of a live space around a report (an Ogg file) and its stage
timeline, linked to the reports it serves; it outlives the space.

Revision ID: 0011_evidence
Revises: 0010_clips
"""

import sqlalchemy as sa
from alembic import op

from townhall.store.db import UTCDateTime

revision = "0011_evidence"
down_revision = "0010_clips"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evidence",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("space_id", sa.String(12), nullable=True),
        sa.Column("window_start", UTCDateTime, nullable=False),
        sa.Column("window_end", UTCDateTime, nullable=False),
        sa.Column("status", sa.String(10), nullable=False, server_default="pending"),
        sa.Column("duration_ms", sa.Integer, nullable=False, server_default="0"),
        sa.Column("size_bytes", sa.Integer, nullable=False, server_default="0"),
        sa.Column("timeline", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("ready_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_evidence"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_evidence_space_id_window_end", "evidence", ["space_id", "window_end"])
    op.create_index("ix_evidence_created_at", "evidence", ["created_at"])
    op.create_table(
        "evidence_reports",
        sa.Column("report_id", sa.Integer, nullable=False),
        sa.Column("evidence_id", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("report_id", name="pk_evidence_reports"),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["space_reports.id"],
            name="fk_evidence_reports_report_id_space_reports",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["evidence_id"],
            ["evidence.id"],
            name="fk_evidence_reports_evidence_id_evidence",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_evidence_reports_evidence_id", "evidence_reports", ["evidence_id"])


def downgrade() -> None:
    op.drop_table("evidence_reports")
    op.drop_table("evidence")
