"""Engine, sessions and the declarative base. The only place that opens connections."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from sqlalchemy import DateTime, MetaData, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base of every table; constraint names are stable across SQLite and PostgreSQL."""

    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always read back timezone-aware (SQLite drops zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


log = logging.getLogger("townhall.store")


class Trouble(Enum):
    """Why a database call failed when the fault is not the request's."""

    UNAVAILABLE = "unavailable"  # the server is down, restarting or unreachable
    BUSY = "busy"  # no connection free in time, or SQLite's write lock not had in time


class DatabaseUnreachable(ConnectionError):
    """Opening a connection to the database server failed (refused, reset, timed out)."""


def trouble_of(exc: BaseException) -> Trouble | None:
    """Whether an exception from a database call means "down" or "busy" (else None: a bug
    or a constraint, which is not the database's availability)."""
    if isinstance(exc, sa_exc.TimeoutError):  # the pool had no connection within its timeout
        return Trouble.BUSY
    if isinstance(exc, DatabaseUnreachable):
        return Trouble.UNAVAILABLE
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return Trouble.UNAVAILABLE
        orig = exc.orig
        if isinstance(orig, sqlite3.OperationalError) or "sqlite" in type(orig).__module__:
            text_ = str(orig).lower()
            if "locked" in text_ or "busy" in text_:
                return Trouble.BUSY
            return None
        if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
            return Trouble.UNAVAILABLE
        cause = getattr(orig, "__cause__", None) or orig
        if isinstance(cause, ConnectionError | OSError | TimeoutError):
            return Trouble.UNAVAILABLE
        if _unavailable_state(cause):
            return Trouble.UNAVAILABLE
    elif _unavailable_state(exc):
        return Trouble.UNAVAILABLE
    return None


def _unavailable_state(exc: object) -> bool:
    """PostgreSQL error classes 08 (connection exception), 57P (operator intervention:
    shutdown, crash, cannot connect now) and 53 (insufficient resources)."""
    sqlstate = str(getattr(exc, "sqlstate", "") or "")
    return sqlstate.startswith(("08", "57P", "53"))


@dataclass(frozen=True)
class PoolSettings:
    """Connections one process keeps open (`size`) and may open beyond them (`overflow`),
    and how long a caller waits for one (`timeout`, seconds)."""

    size: int = 10
    overflow: int = 10
    timeout: float = 5.0


class Database:
    """An async engine plus a session factory for one database URL.

    It notices when the database goes away and comes back, and logs each once."""

    def __init__(
        self,
        url: str,
        *,
        schema: str = "",
        echo: bool = False,
        pool: PoolSettings | None = None,
    ) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.pool = pool or PoolSettings()
        self.down = False
        connect_args: dict[str, Any] = {}
        if self.is_sqlite:
            connect_args["timeout"] = 30
        else:
            connect_args["timeout"] = 5  # connecting to a dead host fails in seconds, not minutes
            if schema:
                connect_args["server_settings"] = {"search_path": schema}
        self.engine: AsyncEngine = create_async_engine(
            url,
            echo=echo,
            connect_args=connect_args,
            pool_pre_ping=not self.is_sqlite,
            pool_size=self.pool.size,
            max_overflow=self.pool.overflow,
            pool_timeout=self.pool.timeout,
        )
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        else:
            event.listen(self.engine.sync_engine, "do_connect", _connect_or_unreachable)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    def failed(self, exc: BaseException) -> Trouble | None:
        """Classify a failure (see `trouble_of`); the first one of an outage is logged."""
        trouble = trouble_of(exc)
        if trouble is Trouble.UNAVAILABLE and not self.down:
            self.down = True
            log.error("database unavailable: %s: %s", type(exc).__name__, _first_line(exc))
        return trouble

    def answered(self) -> None:
        """A call went through: the end of an outage is logged once."""
        if self.down:
            self.down = False
            log.warning("database available again")

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session that commits on success and rolls back on error."""
        async with self.sessions() as session:
            try:
                yield session
                await session.commit()
            except BaseException as exc:
                self.failed(exc)
                try:
                    await session.rollback()
                except Exception as rollback_exc:  # the connection is gone: keep the cause
                    if trouble_of(rollback_exc) is None:
                        raise
                raise
            self.answered()

    async def ping(self) -> bool:
        """True when the database answers a trivial query."""
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:
            self.failed(exc)
            return False
        self.answered()
        return True

    async def dispose(self) -> None:
        await self.engine.dispose()


async def begin_consistent_read(session: AsyncSession) -> None:
    """End the session's transaction and begin one whose reads all see one snapshot of
    the database: REPEATABLE READ, read only, on PostgreSQL; on SQLite an explicit
    (deferred) BEGIN, whose first read fixes the snapshot in WAL mode (the driver would
    otherwise run each SELECT on its own). The session's commit ends it."""
    if session.in_transaction():
        await session.commit()
    if session.bind is not None and session.bind.dialect.name == "sqlite":
        await session.execute(text("BEGIN"))
    else:
        await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else ""


def _connect_or_unreachable(
    dialect: Dialect, _record: Any, cargs: tuple[Any, ...], cparams: dict[str, Any]
) -> Any:
    """Open a connection; socket-level failures (which asyncpg raises as bare OSErrors)
    become DatabaseUnreachable, so that they are told apart from other OS errors."""
    try:
        return dialect.loaded_dbapi.connect(*cargs, **cparams)
    except Exception as exc:
        if isinstance(exc, OSError) or _unavailable_state(exc):
            raise DatabaseUnreachable(f"cannot connect to the database: {exc}") from exc
        raise


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # aiosqlite opens its own transactions lazily; let SQLAlchemy issue BEGIN IMMEDIATE
    # semantics through the busy timeout and WAL so concurrent writers queue, not fail.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()
