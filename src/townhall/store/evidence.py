"""Repository for report evidence: windows of a space's audio and the reports they serve."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from townhall.store.models import Evidence, EvidenceReport, Space


async def open_window(session: AsyncSession, space_id: str, at: datetime) -> Evidence | None:
    """The space's evidence whose window is still open at `at` (reports then share it)."""
    row = await session.scalars(
        select(Evidence)
        .where(Evidence.space_id == space_id, Evidence.window_end > at)
        .order_by(Evidence.id.desc())
        .limit(1)
    )
    return row.first()


async def add(
    session: AsyncSession, space_id: str, start: datetime, end: datetime, created_at: datetime
) -> Evidence:
    row = Evidence(
        space_id=space_id,
        window_start=start,
        window_end=end,
        status="pending",
        timeline={},
        created_at=created_at,
    )
    session.add(row)
    await session.flush()
    return row


async def link(session: AsyncSession, report_id: int, evidence_id: int) -> None:
    session.add(EvidenceReport(report_id=report_id, evidence_id=evidence_id))
    await session.flush()


async def get(session: AsyncSession, evidence_id: int) -> Evidence | None:
    return await session.get(Evidence, evidence_id)


async def of_reports(session: AsyncSession, report_ids: Iterable[int]) -> dict[int, list[Evidence]]:
    """Each report's evidence (report id -> rows)."""
    ids = list(report_ids)
    if not ids:
        return {}
    rows = await session.execute(
        select(EvidenceReport.report_id, Evidence)
        .join(Evidence, Evidence.id == EvidenceReport.evidence_id)
        .where(EvidenceReport.report_id.in_(ids))
    )
    found: dict[int, list[Evidence]] = {}
    for report_id, evidence in rows.all():
        found.setdefault(report_id, []).append(evidence)
    return found


async def mark_ready(
    session: AsyncSession,
    evidence_id: int,
    *,
    duration_ms: int,
    size_bytes: int,
    timeline: dict[str, Any],
    at: datetime,
) -> bool:
    """Pending -> ready with what the file holds; False when it was not pending."""
    result = await session.execute(
        update(Evidence)
        .where(Evidence.id == evidence_id, Evidence.status == "pending")
        .values(
            status="ready",
            duration_ms=duration_ms,
            size_bytes=size_bytes,
            timeline=timeline,
            ready_at=at,
        )
    )
    return bool(getattr(result, "rowcount", 0))


async def mark_missing(session: AsyncSession, ids: Sequence[int]) -> None:
    if ids:
        await session.execute(
            update(Evidence)
            .where(Evidence.id.in_(ids), Evidence.status == "pending")
            .values(status="missing")
        )


async def pending_closed_before(session: AsyncSession, before: datetime) -> list[int]:
    """Pending evidence whose window closed before `before`."""
    rows = await session.scalars(
        select(Evidence.id).where(Evidence.status == "pending", Evidence.window_end < before)
    )
    return list(rows)


async def pending(session: AsyncSession) -> list[int]:
    rows = await session.scalars(select(Evidence.id).where(Evidence.status == "pending"))
    return list(rows)


async def pending_open(session: AsyncSession, at: datetime) -> list[Evidence]:
    """Pending evidence whose window closes after `at`."""
    rows = await session.scalars(
        select(Evidence).where(Evidence.status == "pending", Evidence.window_end > at)
    )
    return list(rows)


async def expired(session: AsyncSession, created_before: datetime) -> list[int]:
    """Evidence past its retention, and evidence no report holds whose space is gone."""
    unlinked = ~exists().where(EvidenceReport.evidence_id == Evidence.id)
    space_gone = ~exists().where(Space.id == Evidence.space_id)
    rows = await session.scalars(
        select(Evidence.id).where((Evidence.created_at < created_before) | (unlinked & space_gone))
    )
    return list(rows)


async def remove(session: AsyncSession, ids: Sequence[int]) -> None:
    if ids:
        await session.execute(delete(EvidenceReport).where(EvidenceReport.evidence_id.in_(ids)))
        await session.execute(delete(Evidence).where(Evidence.id.in_(ids)))
