"""The append-only audit log of moderation actions, and its reader for admins."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from townhall.api.schemas.staff import AuditDetail, AuditOut, AuditPage
from townhall.domain import staff as rules
from townhall.store import staff as store
from townhall.store.models import AuditRecord, User
from townhall.store.staff import AuditEntry, AuditFilter

AUDIT_PAGE = 100


async def record(
    session: AsyncSession,
    actor: User | None,
    action: str,
    *,
    target: User | None = None,
    space_id: str | None = None,
    report_id: int | None = None,
    reason: str = "",
    detail: AuditDetail | None = None,
) -> None:
    """Append one record (actor None: the operator at the command line)."""
    await store.append_audit(
        session,
        AuditEntry(
            action=action,
            actor_id=actor.id if actor else None,
            actor_handle=actor.handle if actor else "",
            target_user_id=target.id if target else None,
            target_handle=target.handle if target else "",
            space_id=space_id,
            report_id=report_id,
            reason=reason,
            detail=detail.model_dump(mode="json") if detail else None,
        ),
    )


def audit_out(row: AuditRecord) -> AuditOut:
    return AuditOut(
        id=row.id,
        created_at=row.created_at,
        action=row.action,
        actor_id=row.actor_id,
        actor_handle=row.actor_handle or None,
        target_user_id=row.target_user_id,
        target_handle=row.target_handle or None,
        space_id=row.space_id,
        report_id=row.report_id,
        reason=row.reason,
        detail=AuditDetail.model_validate(row.detail or {}),
    )


async def read(
    session: AsyncSession, actor: User, where: AuditFilter, limit: int = AUDIT_PAGE
) -> AuditPage:
    rules.check_admin(actor.role)
    limit = min(max(limit, 1), AUDIT_PAGE)
    rows = await store.audit(session, where, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(
        records=[audit_out(r) for r in rows],
        next_before=rows[-1].id if more and rows else None,
    )
