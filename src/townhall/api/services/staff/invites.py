"""Invite codes (registration mode `invite`): members create them within a quota; a
sign-up spends one; the inviter is recorded. Codes are random, single-use and expire."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from townhall.api.auth_tokens import Tokens
from townhall.api.schemas.staff import AuditDetail, InviteList, InviteOut
from townhall.api.services.staff import audit
from townhall.config import Settings
from townhall.domain import staff as rules
from townhall.domain.errors import NotFound
from townhall.domain.staff import InstanceRole, InviteState
from townhall.store import accounts as accounts_store
from townhall.store import staff as store
from townhall.store.db import utcnow
from townhall.store.models import Invite, User

CODE_PREFIX = "inv_"


def new_code() -> str:
    """128 random bits: not guessable."""
    return CODE_PREFIX + secrets.token_urlsafe(16)


def quota_of(settings: Settings, user: User) -> int:
    if user.role == InstanceRole.ADMIN:
        return 1000
    return settings.invite_quota if user.invite_quota is None else user.invite_quota


async def _out(session: AsyncSession, row: Invite, code: str | None = None) -> InviteOut:
    used_by = await accounts_store.user_by_id(session, row.used_by_id) if row.used_by_id else None
    return InviteOut(
        id=row.id,
        created_at=row.created_at,
        expires_at=row.expires_at,
        used=row.used_at is not None,
        used_by=used_by.handle if used_by else None,
        code=code,
    )


async def create(
    session: AsyncSession, settings: Settings, tokens: Tokens, user: User | None, days: int
) -> InviteOut:
    """A new code for `user` (None: the operator at the command line, no quota)."""
    days = rules.check_invite_days(days)
    if user is not None:
        rules.check_invite_quota(
            quota_of(settings, user), await store.open_invite_count(session, user.id)
        )
    code = new_code()
    row = await store.add_invite(
        session, tokens.digest(code), user.id if user else None, utcnow() + timedelta(days=days)
    )
    await audit.record(session, user, "invite.created", detail=AuditDetail(invite_id=row.id))
    await session.commit()
    return await _out(session, row, code)


async def mine(session: AsyncSession, settings: Settings, user: User) -> InviteList:
    rows = await store.invites_of(session, user.id)
    return InviteList(
        invites=[await _out(session, r) for r in rows],
        quota=quota_of(settings, user),
        unused=await store.open_invite_count(session, user.id),
    )


async def withdraw(session: AsyncSession, user: User, invite_id: int) -> None:
    if not await store.delete_invite(session, user.id, invite_id):
        raise NotFound("invite_not_found", "no such unused invite code of yours")
    await session.commit()


async def spend(
    session: AsyncSession, tokens: Tokens, code: str, new_user: User, staff_only: bool = False
) -> None:
    """Use the code for this new account (in the sign-up's transaction). `staff_only`
    (registration closed): only codes made by an admin or the operator count."""
    row = None
    if code.startswith(CODE_PREFIX) and len(code) <= 64:
        row = await store.invite_by_hash(session, tokens.digest(code), lock=True)
    if row is not None and staff_only and row.inviter_id is not None:
        inviter = await accounts_store.user_by_id(session, row.inviter_id)
        if inviter is None or inviter.role != InstanceRole.ADMIN:
            row = None
    rules.check_invite(
        InviteState(expires_at=row.expires_at, used=row.used_at is not None) if row else None,
        utcnow(),
    )
    assert row is not None
    if not await store.use_invite(session, row.id, new_user.id):
        rules.check_invite(InviteState(expires_at=row.expires_at, used=True), utcnow())
    new_user.invited_by_id = row.inviter_id
