"""Apply and inspect Alembic migrations programmatically (`townhall db upgrade`)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from townhall.store.db import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str, schema: str = "") -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url)
    cfg.attributes["schema"] = schema
    return cfg


async def upgrade(db: Database, schema: str = "", revision: str = "head") -> None:
    """Bring the database to `revision` (the newest by default)."""
    cfg = alembic_config(db.url, schema)

    def run(conn: Connection) -> None:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)

    async with db.engine.connect() as conn:
        if db.is_sqlite:
            # Migrations that rebuild a table (SQLite's way to change one) must not let
            # dropping the old table cascade to the rows that refer to it; they check the
            # foreign keys themselves once done. Set outside any transaction, as SQLite
            # requires, and set back before the connection returns to the pool.
            await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            await conn.commit()
        try:
            await conn.run_sync(run)
            await conn.commit()
        finally:
            if db.is_sqlite:
                await conn.rollback()
                await conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                await conn.commit()


async def pending(db: Database) -> tuple[str | None, str | None]:
    """(current revision, head revision); equal when nothing is pending."""
    head = ScriptDirectory.from_config(alembic_config(db.url)).get_current_head()
    async with db.engine.connect() as conn:
        current = await conn.run_sync(
            lambda c: MigrationContext.configure(c).get_current_revision()
        )
    return current, head
