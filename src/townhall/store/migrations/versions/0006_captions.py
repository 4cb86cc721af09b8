"""Captions settings and transcripts, with full-text search.

SQLite: an external-content FTS5 table `transcript_fts` over `transcript_lines.text`
(porter stemming), kept in step by triggers. PostgreSQL: a generated `tsvector` column
`transcript_lines.tsv` (English configuration) with a GIN index.

Revision ID: 0006_captions
Revises: 0005_never_reused_ids
"""

import sqlalchemy as sa
from alembic import op

from townhall.store.db import UTCDateTime

revision = "0006_captions"
down_revision = "0005_never_reused_ids"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "caption_settings",
        sa.Column("space_id", sa.String(12), nullable=False),
        sa.Column("on", sa.Boolean, nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("clips", sa.Boolean, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("space_id", name="pk_caption_settings"),
        sa.ForeignKeyConstraint(
            ["space_id"],
            ["spaces.id"],
            name="fk_caption_settings_space_id_spaces",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "transcript_lines",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("space_id", sa.String(12), nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("start_ms", sa.Integer, nullable=False),
        sa.Column("end_ms", sa.Integer, nullable=False),
        sa.Column("replay_ms", sa.Integer, nullable=True),
        sa.Column("text", sa.String(2000), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_transcript_lines"),
        sa.ForeignKeyConstraint(
            ["space_id"],
            ["spaces.id"],
            name="fk_transcript_lines_space_id_spaces",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name="fk_transcript_lines_user_id_users",
            ondelete="CASCADE",
        ),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_transcript_lines_space_id_start_ms", "transcript_lines", ["space_id", "start_ms"]
    )
    op.create_index("ix_transcript_lines_user_id", "transcript_lines", ["user_id"])
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE transcript_fts USING fts5("
            "text, content='transcript_lines', content_rowid='id', "
            "tokenize='porter unicode61')"
        )
        op.execute(
            "CREATE TRIGGER transcript_lines_ai AFTER INSERT ON transcript_lines BEGIN "
            "INSERT INTO transcript_fts(rowid, text) VALUES (new.id, new.text); END"
        )
        op.execute(
            "CREATE TRIGGER transcript_lines_ad AFTER DELETE ON transcript_lines BEGIN "
            "INSERT INTO transcript_fts(transcript_fts, rowid, text) "
            "VALUES ('delete', old.id, old.text); END"
        )
        op.execute(
            "CREATE TRIGGER transcript_lines_au AFTER UPDATE OF text ON transcript_lines BEGIN "
            "INSERT INTO transcript_fts(transcript_fts, rowid, text) "
            "VALUES ('delete', old.id, old.text); "
            "INSERT INTO transcript_fts(rowid, text) VALUES (new.id, new.text); END"
        )
    else:
        op.execute(
            "ALTER TABLE transcript_lines ADD COLUMN tsv tsvector "
            "GENERATED ALWAYS AS (to_tsvector('english', text)) STORED"
        )
        op.execute("CREATE INDEX ix_transcript_lines_tsv ON transcript_lines USING GIN (tsv)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("transcript_lines_ai", "transcript_lines_ad", "transcript_lines_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS transcript_fts")
    op.drop_table("transcript_lines")
    op.drop_table("caption_settings")
