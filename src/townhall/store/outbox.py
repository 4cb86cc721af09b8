"""Repository for the outbox and the spaces' event counters. SQL lives here and nowhere else.

Writers add entries inside the transaction of the change they announce (`add_space_events`,
`add_user_pushes`); the relay reads them in id order (`pending`), learns which spaces
have older entries it does not hold (`first_pending_seqs`) and deletes what went out
(`delete`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import bindparam, case, func, insert, select
from sqlalchemy import delete as sql_delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from townhall.store.db import utcnow
from townhall.store.models.outbox import OutboxEntry, SpaceEventSeq


@dataclass(frozen=True)
class Pending:
    """One outbox entry as the relay sees it."""

    id: int
    space_id: str | None
    seq: int | None
    user_id: int | None
    type: str
    data: dict[str, Any]
    created_at: datetime


def _upsert_seq(session: AsyncSession, space_id: str, start: int, on_conflict: Any) -> Any:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        upsert(SpaceEventSeq)
        .values(space_id=space_id, seq=start)
        .on_conflict_do_update(index_elements=[SpaceEventSeq.space_id], set_={"seq": on_conflict})
        .returning(SpaceEventSeq.seq)
    )


@cache
def _take_seqs_statement(dialect: str) -> Any:
    upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        upsert(SpaceEventSeq)
        .values(space_id=bindparam("in_space"), seq=bindparam("count"))
        .on_conflict_do_update(
            index_elements=[SpaceEventSeq.space_id],
            set_={"seq": SpaceEventSeq.seq + bindparam("count")},
        )
        .returning(SpaceEventSeq.seq)
    )


async def _take_seqs(session: AsyncSession, space_id: str, count: int) -> int:
    """Advance the space's counter by `count` (its row stays locked until commit);
    returns the new last seq."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    params = {"in_space": space_id, "count": count}
    return int((await session.execute(_take_seqs_statement(dialect), params)).scalar_one())


_ADD_ENTRIES = insert(OutboxEntry)  # with a list of rows: an executemany, no RETURNING
_SPACE_SEQ = select(SpaceEventSeq.seq).where(SpaceEventSeq.space_id == bindparam("space_id"))


async def add_space_events(
    session: AsyncSession, space_id: str, events: Sequence[tuple[str, dict[str, Any]]]
) -> list[int]:
    """Number the events with the space's next seqs and add them; returns their seqs.

    The counter row is taken last in the transaction (just before commit), so two
    transactions adding events to one space commit in seq order."""
    if not events:
        return []
    last = await _take_seqs(session, space_id, len(events))
    first = last - len(events) + 1
    now = utcnow()
    rows = [
        {
            "space_id": space_id,
            "seq": first + i,
            "type": type_,
            "data": dict(data),
            "created_at": now,
        }
        for i, (type_, data) in enumerate(events)
    ]
    await session.execute(_ADD_ENTRIES, rows)  # one executemany, ids not read back
    return list(range(first, last + 1))


async def add_user_pushes(
    session: AsyncSession, pushes: Iterable[tuple[int, str, dict[str, Any]]]
) -> int:
    """Add (user_id, type, data) pushes to users' channels; returns how many."""
    now = utcnow()
    rows = [
        OutboxEntry(user_id=user_id, type=type_, data=dict(data), created_at=now)
        for user_id, type_, data in pushes
    ]
    session.add_all(rows)
    await session.flush()
    return len(rows)


async def space_seq(session: AsyncSession, space_id: str) -> int:
    """The seq of the space's latest committed event (0 before any)."""
    return int(await session.scalar(_SPACE_SEQ, {"space_id": space_id}) or 0)


async def raise_space_seq(session: AsyncSession, space_id: str, at_least: int) -> int:
    """Move the space's counter up to `at_least` if it is below (never down); returns it."""
    higher = case((SpaceEventSeq.seq < at_least, at_least), else_=SpaceEventSeq.seq)
    return int(
        (await session.execute(_upsert_seq(session, space_id, at_least, higher))).scalar_one()
    )


async def pending(session: AsyncSession, limit: int, skip_locked: bool) -> list[Pending]:
    """The oldest entries, in id order. With `skip_locked` (PostgreSQL) the rows are
    locked until the transaction ends and rows another relay holds are skipped."""
    query = _PENDING_LOCKED if skip_locked else _PENDING
    return [Pending(*row) for row in (await session.execute(query, {"limit": limit})).all()]


_PENDING = (
    select(
        OutboxEntry.id,
        OutboxEntry.space_id,
        OutboxEntry.seq,
        OutboxEntry.user_id,
        OutboxEntry.type,
        OutboxEntry.data,
        OutboxEntry.created_at,
    )
    .order_by(OutboxEntry.id)
    .limit(bindparam("limit"))
)
_PENDING_LOCKED = _PENDING.with_for_update(skip_locked=True)


async def first_pending_seqs(session: AsyncSession, space_ids: Iterable[str]) -> dict[str, int]:
    """For each space, the lowest seq still in the outbox (locked by anyone or not)."""
    ids = sorted(set(space_ids))
    if not ids:
        return {}
    result = await session.execute(
        select(OutboxEntry.space_id, func.min(OutboxEntry.seq))
        .where(OutboxEntry.space_id.in_(ids))
        .group_by(OutboxEntry.space_id)
    )
    return {str(space_id): int(seq) for space_id, seq in result.all() if seq is not None}


async def delete(session: AsyncSession, ids: Sequence[int]) -> None:
    if ids:
        await session.execute(_DELETE, {"ids": list(ids)})


_DELETE = sql_delete(OutboxEntry).where(OutboxEntry.id.in_(bindparam("ids", expanding=True)))


async def count(session: AsyncSession) -> int:
    """Entries not relayed yet."""
    return int(await session.scalar(select(func.count()).select_from(OutboxEntry)) or 0)
