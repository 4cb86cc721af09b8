"""Instance roles: admins grant moderator or admin; the operator grants at the CLI."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from townhall.api.schemas.staff import AuditDetail, StaffList, StaffUserOut
from townhall.api.services.staff import audit
from townhall.domain import staff as rules
from townhall.domain.errors import NotFound
from townhall.domain.staff import InstanceRole
from townhall.store import accounts as accounts_store
from townhall.store import staff as store
from townhall.store.db import utcnow
from townhall.store.models import User


def staff_user_out(user: User, invited_by: str | None = None) -> StaffUserOut:
    return StaffUserOut(
        id=user.id,
        handle=user.handle,
        display_name=user.display_name,
        role=InstanceRole(user.role),
        banned=user.banned_at is not None,
        suspended_until=user.suspended_until
        if user.suspended_until and user.suspended_until > utcnow()
        else None,
        created_at=user.created_at,
        invited_by=invited_by,
        invite_quota=user.invite_quota,
    )


async def target_by_handle(session: AsyncSession, handle: str) -> User:
    user = await accounts_store.user_by_handle(session, handle) if len(handle) <= 15 else None
    if user is None:
        raise NotFound("user_not_found", f"no user @{handle}")
    return user


async def grant(
    session: AsyncSession, actor: User | None, handle: str, role: InstanceRole
) -> StaffUserOut:
    """Give `handle` this instance role. `actor` None: the operator at the command line,
    who may always grant (that is how a fresh instance gets its first admin)."""
    target = await target_by_handle(session, handle)
    admins = await store.count_admins(session)
    if actor is not None:
        rules.check_may_grant(actor.role, target.role, role, admins)
    elif target.role == InstanceRole.ADMIN and role != InstanceRole.ADMIN and admins <= 1:
        rules.check_may_grant(InstanceRole.ADMIN, target.role, role, admins)
    before = target.role
    target.role = role.value
    if before != role.value:
        await audit.record(
            session,
            actor,
            "role.granted",
            target=target,
            detail=AuditDetail(role=role.value, before=before),
        )
    await session.commit()
    return staff_user_out(target)


async def list_staff(session: AsyncSession, actor: User) -> StaffList:
    rules.check_staff(actor.role)
    return StaffList(staff=[staff_user_out(u) for u in await store.staff(session)])


async def user_view(session: AsyncSession, actor: User, handle: str) -> StaffUserOut:
    rules.check_staff(actor.role)
    target = await target_by_handle(session, handle)
    inviter = (
        await accounts_store.user_by_id(session, target.invited_by_id)
        if target.invited_by_id
        else None
    )
    return staff_user_out(target, inviter.handle if inviter else None)


async def set_invite_quota(
    session: AsyncSession, actor: User, handle: str, quota: int | None
) -> StaffUserOut:
    rules.check_admin(actor.role)
    target = await target_by_handle(session, handle)
    target.invite_quota = quota
    await audit.record(
        session, actor, "invites.quota", target=target, detail=AuditDetail(invite_quota=quota)
    )
    await session.commit()
    return staff_user_out(target)
