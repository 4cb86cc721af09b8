"""Alembic environment: runs migrations on the async engine the app uses."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from townhall.store import models  # noqa: F401  (registers every table)
from townhall.store.db import Base, Database

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _main() -> None:
    db = Database(
        config.get_main_option("sqlalchemy.url") or "", schema=config.attributes.get("schema", "")
    )
    try:
        async with db.engine.connect() as conn:
            if db.is_sqlite:  # table rebuilds must not cascade (see store/migrate.py)
                await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
                await conn.commit()
            await conn.run_sync(_run)
            await conn.commit()
    finally:
        await db.dispose()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    asyncio.run(_main())
