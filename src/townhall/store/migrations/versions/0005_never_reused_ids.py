"""Ids that are never reused: SQLite tables with integer ids get AUTOINCREMENT.

Without it SQLite hands the highest deleted id out again, so the next sign-up after an
account deletion got the deleted account's id, and everything still pointing at that id
(an open WebSocket, a stored reference, a client's cache) came to mean someone else. Each
table is rebuilt with `INTEGER PRIMARY KEY AUTOINCREMENT` (Alembic batch mode: copy into a
new table, drop the old, rename), rows, ids, indexes and constraints kept.

The rebuild needs foreign keys off (dropping `users` with them on would cascade-delete
every row that refers to it): `townhall.store.migrate.upgrade` runs SQLite migrations so,
and this migration refuses to run otherwise, then checks every foreign key afterwards.
On PostgreSQL nothing changes: its sequences never hand out an id twice.

Revision ID: 0005_never_reused_ids
Revises: 0004_recordings
"""

from alembic import op

revision = "0005_never_reused_ids"
down_revision = "0004_recordings"
branch_labels = None
depends_on = None

# Every table whose integer id a connection, a client or another row may hold on to.
TABLES = (
    "users",
    "tokens",
    "follows",
    "blocks",
    "notifications",
    "space_topics",
    "space_attendance",
    "space_reports",
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    if bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError(
            "0005_never_reused_ids rebuilds tables and must run with SQLite foreign keys "
            "off (use `townhall db upgrade`)"
        )
    for table in TABLES:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": True}
        ):
            pass
    broken = bind.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"foreign keys broken by the rebuild: {broken[:5]}")


def downgrade() -> None:
    """Nothing to undo: older code works the same on tables whose ids are never reused."""
