"""Sanctions on accounts: warn, suspend, ban, restore. Each is checked, logged, and cuts
what it must at once (tokens revoked, live spaces ended, connections closed)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from townhall.api.schemas.notifications import WarningNotice
from townhall.api.schemas.staff import AuditDetail
from townhall.api.services import access, notifications, spaces
from townhall.api.services.staff import audit
from townhall.bus import Bus
from townhall.config import Settings
from townhall.domain import staff as rules
from townhall.domain.spaces import EndReason
from townhall.domain.staff import ReportAction
from townhall.store import staff as store
from townhall.store.db import utcnow
from townhall.store.models import User


async def cut_off(session: AsyncSession, bus: Bus, settings: Settings, target: User) -> None:
    """Sign the account out everywhere and close what it has open: its live spaces end,
    scheduled ones are cancelled, it leaves the spaces it is in (whose events close its
    connections), and its sessions' connections are closed."""
    revoked = await store.revoke_all_tokens(session, target.id)
    # Every socket and media connection opened with them closes, on every node.
    await access.tokens_revoked(session, target.id, revoked)
    await session.commit()
    await spaces.close_for_deleted_account(
        session, bus, settings, target, EndReason.MODERATOR_ENDED
    )


async def apply(
    session: AsyncSession,
    bus: Bus,
    settings: Settings,
    actor: User,
    target: User,
    action: ReportAction,
    reason: str,
    hours: float | None = None,
    report_id: int | None = None,
) -> None:
    """One sanction on `target`, by staff member `actor`, logged in the audit log."""
    rules.check_may_act_on(actor.id, actor.role, target.id, target.role)
    reason = rules.check_reason(reason)
    detail = AuditDetail()
    if action is ReportAction.WARN:
        await notifications.notify(session, [target.id], WarningNotice(reason=reason))
    elif action is ReportAction.SUSPEND:
        until = utcnow() + timedelta(hours=rules.check_suspend_hours(hours))
        target.suspended_until = until
        detail = AuditDetail(until=until, hours=hours)
    elif action is ReportAction.BAN:
        target.banned_at = utcnow()
    elif action is ReportAction.RESTORE:
        target.banned_at = None
        target.suspended_until = None
    else:
        raise ValueError(f"{action} is not a sanction on an account")
    await audit.record(
        session,
        actor,
        f"user.{action.value}",
        target=target,
        report_id=report_id,
        reason=reason,
        detail=detail,
    )
    await session.flush()
    if action in (ReportAction.SUSPEND, ReportAction.BAN):
        await cut_off(session, bus, settings, target)
    else:
        await session.commit()
