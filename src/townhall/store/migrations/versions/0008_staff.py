"""Instance staff: roles and sanctions on users, invite codes, the audit log, the word
list, and reports that outlive their space and are resolved.

Revision ID: 0008_staff
Revises: 0007_outbox
"""

import sqlalchemy as sa
from alembic import op

from townhall.store.db import UTCDateTime

revision = "0008_staff"
down_revision = "0007_outbox"
branch_labels = None
depends_on = None

# SQLite tables rebuilt here keep the AUTOINCREMENT of 0005 (ids never reused).
NEVER_REUSED = {"sqlite_autoincrement": True}


def upgrade() -> None:
    with op.batch_alter_table("users", table_kwargs=NEVER_REUSED) as batch:
        batch.add_column(sa.Column("role", sa.String(10), nullable=False, server_default="member"))
        batch.add_column(sa.Column("banned_at", UTCDateTime, nullable=True))
        batch.add_column(sa.Column("suspended_until", UTCDateTime, nullable=True))
        batch.add_column(sa.Column("invited_by_id", sa.Integer, nullable=True))
        batch.add_column(sa.Column("invite_quota", sa.Integer, nullable=True))
        batch.create_foreign_key(
            "fk_users_invited_by_id_users",
            "users",
            ["invited_by_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("space_reports", table_kwargs=NEVER_REUSED) as batch:
        batch.alter_column("space_id", existing_type=sa.String(12), nullable=True)
        batch.alter_column("reporter_id", existing_type=sa.Integer, nullable=True)
        for column, table in (
            ("space_id", "spaces"),
            ("reporter_id", "users"),
            ("target_user_id", "users"),
        ):
            name = f"fk_space_reports_{column}_{table}"
            batch.drop_constraint(name, type_="foreignkey")
            batch.create_foreign_key(name, table, [column], ["id"], ondelete="SET NULL")
        batch.add_column(sa.Column("space_title", sa.String(70), nullable=False, server_default=""))
        batch.add_column(sa.Column("space_host_id", sa.Integer, nullable=True))
        batch.add_column(
            sa.Column("target_handle", sa.String(15), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("status", sa.String(10), nullable=False, server_default="open"))
        batch.add_column(sa.Column("resolved_at", UTCDateTime, nullable=True))
        batch.add_column(sa.Column("resolved_by_id", sa.Integer, nullable=True))
        batch.add_column(sa.Column("resolution", sa.String(20), nullable=False, server_default=""))
    op.create_index("ix_space_reports_status_id", "space_reports", ["status", "id"])

    op.create_table(
        "invites",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("inviter_id", sa.Integer, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("used_by_id", sa.Integer, nullable=True),
        sa.Column("used_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_invites"),
        sa.UniqueConstraint("code_hash", name="uq_invites_code_hash"),
        sa.ForeignKeyConstraint(
            ["inviter_id"], ["users.id"], name="fk_invites_inviter_id_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["used_by_id"], ["users.id"], name="fk_invites_used_by_id_users", ondelete="SET NULL"
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_invites_inviter_id", "invites", ["inviter_id"])

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("actor_id", sa.Integer, nullable=True),
        sa.Column("actor_handle", sa.String(15), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("target_user_id", sa.Integer, nullable=True),
        sa.Column("target_handle", sa.String(15), nullable=False),
        sa.Column("space_id", sa.String(12), nullable=True),
        sa.Column("report_id", sa.Integer, nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_audit_log_actor_id", "audit_log", ["actor_id"])
    op.create_index("ix_audit_log_action", "audit_log", ["action"])
    op.create_index("ix_audit_log_report_id", "audit_log", ["report_id"])
    op.create_index("ix_audit_log_target_user_id_id", "audit_log", ["target_user_id", "id"])
    op.create_index("ix_audit_log_space_id_id", "audit_log", ["space_id", "id"])

    op.create_table(
        "blocked_terms",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("term", sa.String(64), nullable=False),
        sa.Column("added_by_id", sa.Integer, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_blocked_terms"),
        sa.UniqueConstraint("term", name="uq_blocked_terms_term"),
        sa.ForeignKeyConstraint(
            ["added_by_id"],
            ["users.id"],
            name="fk_blocked_terms_added_by_id_users",
            ondelete="SET NULL",
        ),
    )


def downgrade() -> None:
    op.drop_table("blocked_terms")
    op.drop_table("audit_log")
    op.drop_table("invites")
    op.drop_index("ix_space_reports_status_id", "space_reports")
    with op.batch_alter_table("space_reports") as batch:
        for column in (
            "resolution",
            "resolved_by_id",
            "resolved_at",
            "status",
            "target_handle",
            "space_host_id",
            "space_title",
        ):
            batch.drop_column(column)
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("fk_users_invited_by_id_users", type_="foreignkey")
        for column in ("invite_quota", "invited_by_id", "suspended_until", "banned_at", "role"):
            batch.drop_column(column)
