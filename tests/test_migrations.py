"""Migrations on real SQLite files: 0005 rebuilds the tables with never-reused ids and
keeps every row, index, constraint and cascade."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from townhall.store import models  # noqa: F401  (registers every table)
from townhall.store.db import Base, Database
from townhall.store.migrate import upgrade

USER = (
    "INSERT INTO users (id, handle, handle_key, display_name, bio, password_hash, created_at)"
    " VALUES ({id}, '{h}', '{h}', '{h}', '', 'x', '2026-01-01')"
)
TOKEN = (
    "INSERT INTO tokens (user_id, token_hash, kind, name, created_at)"
    " VALUES ({user}, '{digest}', 'api', 'bot', '2026-01-01')"
)


def _mapped(name: str | None, type_: str, _parent: object) -> bool:
    """Tables the models map (the FTS5 index of transcripts and its shadow tables are not)."""
    return not (type_ == "table" and (name or "").startswith("transcript_fts"))


async def _rows(db: Database, sql: str) -> list[tuple[object, ...]]:
    async with db.engine.connect() as conn:
        return [tuple(r) for r in (await conn.exec_driver_sql(sql)).all()]


async def test_upgrading_an_existing_database_keeps_rows_and_stops_reusing_ids(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        await upgrade(db, revision="0004_recordings")
        async with db.engine.begin() as conn:
            for i, handle in ((1, "ann"), (2, "bob"), (3, "cat")):
                await conn.exec_driver_sql(USER.format(id=i, h=handle))
            await conn.exec_driver_sql(TOKEN.format(user=2, digest="d2"))
            await conn.exec_driver_sql(TOKEN.format(user=3, digest="d3"))
            await conn.exec_driver_sql(
                "INSERT INTO follows (follower_id, followee_id, created_at)"
                " VALUES (1, 3, '2026-01-01')"
            )
            await conn.exec_driver_sql("DELETE FROM users WHERE id = 3")  # cascades
        # Before: the deleted account's id (and its token's) is handed out again.
        async with db.engine.begin() as conn:
            await conn.exec_driver_sql(USER.format(id="NULL", h="dan"))
        assert (await _rows(db, "SELECT id FROM users WHERE handle = 'dan'")) == [(3,)]
        async with db.engine.begin() as conn:
            await conn.exec_driver_sql("DELETE FROM users WHERE id = 3")

        await upgrade(db)

        assert await _rows(db, "SELECT id, handle FROM users ORDER BY id") == [
            (1, "ann"),
            (2, "bob"),
        ]
        assert await _rows(db, "SELECT user_id, token_hash FROM tokens") == [(2, "d2")]
        assert await _rows(db, "PRAGMA foreign_keys") == [(1,)]  # back on for the pool
        async with db.engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"include_name": _mapped}), Base.metadata
                )
            )
        assert diff == []
        (token_id,) = (await _rows(db, "SELECT id FROM tokens"))[0]
        assert isinstance(token_id, int)
        # Cascades still work, and the highest ids, deleted, are not handed out again.
        async with db.engine.begin() as conn:
            await conn.exec_driver_sql("DELETE FROM users WHERE id = 2")
            await conn.exec_driver_sql(USER.format(id="NULL", h="eve"))
            await conn.exec_driver_sql(TOKEN.format(user=1, digest="d1"))
        assert await _rows(db, "SELECT id, handle FROM users ORDER BY id") == [
            (1, "ann"),
            (3, "eve"),
        ]
        assert await _rows(db, "SELECT id, user_id FROM tokens") == [(token_id + 1, 1)]
    finally:
        await db.dispose()
