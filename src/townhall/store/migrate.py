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

    async with db.engine.begin() as conn:
        await conn.run_sync(run)


async def pending(db: Database) -> tuple[str | None, str | None]:
    """(current revision, head revision); equal when nothing is pending."""
    head = ScriptDirectory.from_config(alembic_config(db.url)).get_current_head()
    async with db.engine.connect() as conn:
        current = await conn.run_sync(
            lambda c: MigrationContext.configure(c).get_current_revision()
        )
    return current, head
