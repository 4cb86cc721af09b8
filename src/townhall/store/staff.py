"""Repository for instance staff: roles, sanctions, invites, reports, audit log, word list."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from townhall.store.db import utcnow
from townhall.store.models import (
    AuditRecord,
    BlockedTerm,
    Invite,
    Space,
    SpaceReport,
    Token,
    User,
)

# -- roles and sanctions -----------------------------------------------------------


async def count_admins(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).where(User.role == "admin")) or 0)


async def staff(session: AsyncSession) -> Sequence[User]:
    rows = await session.scalars(select(User).where(User.role != "member").order_by(User.id))
    return rows.all()


async def revoke_all_tokens(session: AsyncSession, user_id: int) -> list[int]:
    """Revoke every live token of a user; the ids revoked."""
    now = utcnow()
    ids = list(
        await session.scalars(
            select(Token.id).where(Token.user_id == user_id, Token.revoked_at.is_(None))
        )
    )
    if ids:
        await session.execute(update(Token).where(Token.id.in_(ids)).values(revoked_at=now))
    return ids


# -- invites -----------------------------------------------------------------------


async def add_invite(
    session: AsyncSession, code_hash: str, inviter_id: int | None, expires_at: datetime
) -> Invite:
    invite = Invite(code_hash=code_hash, inviter_id=inviter_id, expires_at=expires_at)
    session.add(invite)
    await session.flush()
    return invite


async def invite_by_hash(
    session: AsyncSession, code_hash: str, lock: bool = False
) -> Invite | None:
    query = select(Invite).where(Invite.code_hash == code_hash)
    if lock:
        query = query.with_for_update()
    return await session.scalar(query)


async def use_invite(session: AsyncSession, invite_id: int, user_id: int) -> bool:
    """Mark the invite used by `user_id`; False if another sign-up took it first."""
    result = await session.execute(
        update(Invite)
        .where(Invite.id == invite_id, Invite.used_at.is_(None))
        .values(used_at=utcnow(), used_by_id=user_id)
    )
    return bool(getattr(result, "rowcount", 0))


async def invites_of(session: AsyncSession, inviter_id: int) -> Sequence[Invite]:
    rows = await session.scalars(
        select(Invite).where(Invite.inviter_id == inviter_id).order_by(Invite.id.desc()).limit(100)
    )
    return rows.all()


async def open_invite_count(session: AsyncSession, inviter_id: int) -> int:
    now = utcnow()
    return int(
        await session.scalar(
            select(func.count()).where(
                Invite.inviter_id == inviter_id, Invite.used_at.is_(None), Invite.expires_at > now
            )
        )
        or 0
    )


async def delete_invite(session: AsyncSession, inviter_id: int, invite_id: int) -> bool:
    result = await session.execute(
        delete(Invite).where(
            Invite.id == invite_id, Invite.inviter_id == inviter_id, Invite.used_at.is_(None)
        )
    )
    return bool(getattr(result, "rowcount", 0))


# -- reports -----------------------------------------------------------------------


@dataclass(frozen=True)
class ReportFilter:
    status: str = "open"
    space_id: str | None = None
    user_id: int | None = None


async def reports(session: AsyncSession, where: ReportFilter, limit: int) -> Sequence[SpaceReport]:
    query = select(SpaceReport).order_by(SpaceReport.id.desc()).limit(limit)
    if where.status != "all":
        query = query.where(SpaceReport.status == where.status)
    if where.space_id is not None:
        query = query.where(SpaceReport.space_id == where.space_id)
    if where.user_id is not None:
        query = query.where(SpaceReport.target_user_id == where.user_id)
    return (await session.scalars(query)).all()


async def report_by_id(session: AsyncSession, report_id: int) -> SpaceReport | None:
    return await session.get(SpaceReport, report_id)


async def reports_in_group(
    session: AsyncSession, space_id: str | None, target_user_id: int | None, status: str
) -> Sequence[SpaceReport]:
    """The reports merged with one: same space and same reported person."""
    query = select(SpaceReport).where(SpaceReport.status == status)
    query = query.where(
        SpaceReport.space_id == space_id if space_id is not None else SpaceReport.space_id.is_(None)
    )
    query = query.where(
        SpaceReport.target_user_id == target_user_id
        if target_user_id is not None
        else SpaceReport.target_user_id.is_(None)
    )
    return (await session.scalars(query.order_by(SpaceReport.id))).all()


async def resolve_reports(
    session: AsyncSession, report_ids: Sequence[int], status: str, by_id: int, resolution: str
) -> None:
    if report_ids:
        await session.execute(
            update(SpaceReport)
            .where(SpaceReport.id.in_(list(report_ids)))
            .values(
                status=status, resolved_at=utcnow(), resolved_by_id=by_id, resolution=resolution
            )
        )


async def reports_against(
    session: AsyncSession, user_id: int, limit: int = 50
) -> Sequence[SpaceReport]:
    """Reports naming this person, or of spaces they hosted."""
    rows = await session.scalars(
        select(SpaceReport)
        .where((SpaceReport.target_user_id == user_id) | (SpaceReport.space_host_id == user_id))
        .order_by(SpaceReport.id.desc())
        .limit(limit)
    )
    return rows.all()


async def spaces_by_ids(session: AsyncSession, ids: Sequence[str]) -> dict[str, Space]:
    if not ids:
        return {}
    rows = await session.scalars(select(Space).where(Space.id.in_(set(ids))))
    return {s.id: s for s in rows}


# -- audit log ---------------------------------------------------------------------


@dataclass(frozen=True)
class AuditEntry:
    """What one audit record says (the store fills in id and time)."""

    action: str
    actor_id: int | None
    actor_handle: str
    target_user_id: int | None = None
    target_handle: str = ""
    space_id: str | None = None
    report_id: int | None = None
    reason: str = ""
    detail: dict[str, Any] | None = None


async def append_audit(session: AsyncSession, entry: AuditEntry) -> AuditRecord:
    record = AuditRecord(
        action=entry.action,
        actor_id=entry.actor_id,
        actor_handle=entry.actor_handle,
        target_user_id=entry.target_user_id,
        target_handle=entry.target_handle,
        space_id=entry.space_id,
        report_id=entry.report_id,
        reason=entry.reason,
        detail=entry.detail or {},
    )
    session.add(record)
    await session.flush()
    return record


@dataclass(frozen=True)
class AuditFilter:
    actor_id: int | None = None
    target_user_id: int | None = None
    space_id: str | None = None
    report_id: int | None = None
    action: str | None = None
    before_id: int | None = None


async def audit(session: AsyncSession, where: AuditFilter, limit: int) -> Sequence[AuditRecord]:
    query = select(AuditRecord).order_by(AuditRecord.id.desc()).limit(limit)
    if where.actor_id is not None:
        query = query.where(AuditRecord.actor_id == where.actor_id)
    if where.target_user_id is not None:
        query = query.where(AuditRecord.target_user_id == where.target_user_id)
    if where.space_id is not None:
        query = query.where(AuditRecord.space_id == where.space_id)
    if where.report_id is not None:
        query = query.where(AuditRecord.report_id == where.report_id)
    if where.action is not None:
        query = query.where(AuditRecord.action == where.action)
    if where.before_id is not None:
        query = query.where(AuditRecord.id < where.before_id)
    return (await session.scalars(query)).all()


# -- word list ---------------------------------------------------------------------


async def terms(session: AsyncSession) -> list[str]:
    return list(await session.scalars(select(BlockedTerm.term).order_by(BlockedTerm.term)))


async def term_rows(session: AsyncSession) -> Sequence[BlockedTerm]:
    return (await session.scalars(select(BlockedTerm).order_by(BlockedTerm.term))).all()


async def add_term(session: AsyncSession, term: str, by_id: int) -> BlockedTerm | None:
    """Add a term; None if it is already listed."""
    if await session.scalar(select(BlockedTerm).where(BlockedTerm.term == term)) is not None:
        return None
    row = BlockedTerm(term=term, added_by_id=by_id)
    session.add(row)
    await session.flush()
    return row


async def remove_term(session: AsyncSession, term_id: int) -> str | None:
    row = await session.get(BlockedTerm, term_id)
    if row is None:
        return None
    await session.delete(row)
    await session.flush()
    return row.term


# -- reports the instance files itself ---------------------------------------------

FLAG_PREFIX = "word list: "


async def open_flag_exists(session: AsyncSession, space_id: str, user_id: int, term: str) -> bool:
    found = await session.scalar(
        select(SpaceReport.id).where(
            SpaceReport.space_id == space_id,
            SpaceReport.target_user_id == user_id,
            SpaceReport.reporter_id.is_(None),
            SpaceReport.status == "open",
            SpaceReport.reason.startswith(f'{FLAG_PREFIX}"{term}"', autoescape=True),
        )
    )
    return found is not None


async def add_flag(
    session: AsyncSession, space: Space, speaker: User | None, reason: str, term: str
) -> SpaceReport:
    """A report with no reporter: filed by the word list."""
    report = SpaceReport(
        space_id=space.id,
        reporter_id=None,
        target_user_id=speaker.id if speaker else None,
        reason=reason,
        space_title=space.title,
        space_host_id=space.host_id,
        target_handle=speaker.handle if speaker else "",
    )
    session.add(report)
    await session.flush()
    return report


async def recent_reports_by(session: AsyncSession, reporter_id: int, since: datetime) -> int:
    return int(
        await session.scalar(
            select(func.count()).where(
                SpaceReport.reporter_id == reporter_id, SpaceReport.created_at >= since
            )
        )
        or 0
    )


async def open_report_by(
    session: AsyncSession, reporter_id: int, space_id: str, target_id: int | None
) -> SpaceReport | None:
    query = select(SpaceReport).where(
        SpaceReport.reporter_id == reporter_id,
        SpaceReport.space_id == space_id,
        SpaceReport.status == "open",
    )
    query = query.where(
        SpaceReport.target_user_id == target_id
        if target_id is not None
        else SpaceReport.target_user_id.is_(None)
    )
    return await session.scalar(query)
