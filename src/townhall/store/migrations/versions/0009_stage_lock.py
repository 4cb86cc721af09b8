"""Room safety: a space's stage can be locked (no new raised hands).

Revision ID: 0009_stage_lock
Revises: 0008_staff
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_stage_lock"
down_revision = "0008_staff"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN: SQLite does it in place (no table rebuild).
    op.add_column(
        "spaces",
        sa.Column("stage_locked", sa.Boolean, nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    with op.batch_alter_table("spaces") as batch:
        batch.drop_column("stage_locked")
