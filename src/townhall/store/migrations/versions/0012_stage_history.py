"""Who was on stage: space members remember having been on stage (the recap of an ended
space lists who spoke).

Revision ID: 0012_stage_history
Revises: 0011_evidence
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_stage_history"
down_revision = "0011_evidence"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN: SQLite does it in place (no table rebuild).
    op.add_column(
        "space_members",
        sa.Column("was_on_stage", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    # Spaces from before: at least their hosts spoke.
    op.execute(
        "UPDATE space_members SET was_on_stage = true WHERE user_id = "
        "(SELECT host_id FROM spaces WHERE spaces.id = space_members.space_id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("space_members") as batch:
        batch.drop_column("was_on_stage")
