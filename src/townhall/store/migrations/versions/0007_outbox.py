"""The transactional outbox and each space's event counter.

Revision ID: 0007_outbox
Revises: 0006_captions
"""

import sqlalchemy as sa
from alembic import op

from townhall.store.db import UTCDateTime

revision = "0007_outbox"
down_revision = "0006_captions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "space_event_seqs",
        sa.Column("space_id", sa.String(12), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("space_id", name="pk_space_event_seqs"),
        sa.ForeignKeyConstraint(
            ["space_id"],
            ["spaces.id"],
            name="fk_space_event_seqs_space_id_spaces",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("space_id", sa.String(12), nullable=True),
        sa.Column("seq", sa.Integer, nullable=True),
        sa.Column("user_id", sa.Integer, nullable=True),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_outbox_space_id_seq", "outbox", ["space_id", "seq"])


def downgrade() -> None:
    op.drop_index("ix_outbox_space_id_seq", table_name="outbox")
    op.drop_table("outbox")
    op.drop_table("space_event_seqs")
