"""Accounts: sign-up, sign-in, tokens, profiles, follows and blocks."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from townhall.api.auth_tokens import Passwords, Tokens
from townhall.api.services import spaces
from townhall.api.services.staff import invites, words
from townhall.bus import Bus
from townhall.config import Settings
from townhall.domain import accounts as rules
from townhall.domain import staff as staff_rules
from townhall.domain.errors import Conflict, NotFound, Unauthorized
from townhall.domain.paging import PAGE_MAX, parse_cursor
from townhall.domain.ratelimit import SlidingWindow
from townhall.domain.staff import RegistrationMode, Standing
from townhall.store import accounts as store
from townhall.store.db import utcnow
from townhall.store.models import Token, User


class AuthGuard:
    """Passwords, tokens, and the sign-up and sign-in rate limits of one API node."""

    def __init__(self, settings: Settings, tokens: Tokens) -> None:
        self.passwords = Passwords(settings)
        self.tokens = tokens
        self.by_address = SlidingWindow(settings.auth_rate_limit, settings.auth_rate_window)
        self.by_handle = SlidingWindow(settings.auth_rate_limit, settings.auth_rate_window)

    def check(self, address: str, handle: str) -> None:
        now = time.monotonic()
        self.by_address.hit(f"{address}", now, "sign-in attempts from this address")
        self.by_handle.hit(rules.handle_key(handle), now, "sign-in attempts for this handle")


@dataclass
class SignedIn:
    user: User
    token: str


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "handle": user.handle,
        "display_name": user.display_name,
        "bio": user.bio,
        "created_at": user.created_at.isoformat(),
    }


async def _issue_session(
    session: AsyncSession, settings: Settings, guard: AuthGuard, user: User
) -> str:
    plain, digest = guard.tokens.new()
    expires = utcnow() + timedelta(days=settings.session_days)
    await store.add_token(session, user.id, digest, "session", "web session", expires)
    return plain


async def signup(
    session: AsyncSession,
    settings: Settings,
    guard: AuthGuard,
    address: str,
    handle: str,
    display_name: str,
    password: str,
    invite: str | None = None,
) -> SignedIn:
    guard.check(address, handle)
    mode = RegistrationMode(settings.registration)
    staff_rules.check_may_sign_up(mode, has_invite=bool(invite), by_admin=False)
    rules.check_handle(handle)
    name = rules.check_display_name(display_name)
    rules.check_password(password)
    await words.check(session, display_name=name)
    if await store.user_by_handle(session, handle) is not None:
        raise Conflict("handle_taken", "that handle is taken", "handle")
    password_hash = await guard.passwords.hash(password)
    try:
        user = await store.create_user(session, handle, name, password_hash)
    except store.HandleTaken:
        raise Conflict("handle_taken", "that handle is taken", "handle") from None
    if mode is not RegistrationMode.OPEN and invite:
        await invites.spend(
            session, guard.tokens, invite, user, staff_only=mode is RegistrationMode.CLOSED
        )
    return SignedIn(user, await _issue_session(session, settings, guard, user))


async def login(
    session: AsyncSession,
    settings: Settings,
    guard: AuthGuard,
    address: str,
    handle: str,
    password: str,
) -> SignedIn:
    guard.check(address, handle)
    user = await store.user_by_handle(session, handle)
    ok = await guard.passwords.verify(user.password_hash if user else None, password)
    if user is None or not ok:
        raise Unauthorized("bad_credentials", "wrong handle or password")
    staff_rules.check_may_sign_in(
        Standing(banned=user.banned_at is not None, suspended_until=user.suspended_until), utcnow()
    )
    return SignedIn(user, await _issue_session(session, settings, guard, user))


async def logout(session: AsyncSession, token: Token) -> None:
    await store.revoke_token(session, token.user_id, token.id)


async def me(session: AsyncSession, user: User) -> dict[str, Any]:
    followers, following = await store.follow_counts(session, user.id)
    return user_json(user) | {
        "followers_count": followers,
        "following_count": following,
        "role": user.role,
    }


async def edit_profile(
    session: AsyncSession, user: User, display_name: str | None, bio: str | None
) -> dict[str, Any]:
    if display_name is not None:
        user.display_name = rules.check_display_name(display_name)
    if bio is not None:
        user.bio = rules.check_bio(bio)
    await words.check(
        session,
        display_name=user.display_name if display_name is not None else None,
        bio=user.bio if bio is not None else None,
    )
    await session.flush()
    return await me(session, user)


async def delete_account(
    session: AsyncSession, bus: Bus, settings: Settings, guard: AuthGuard, user: User, password: str
) -> None:
    """Delete the account and all that is its own, once its spaces are closed or left."""
    if not await guard.passwords.verify(user.password_hash, password):
        raise Unauthorized("bad_credentials", "wrong password", "password")
    await spaces.close_for_deleted_account(session, bus, settings, user)
    await store.delete_user(session, user)


def token_json(token: Token, current: Token | None = None) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "kind": token.kind,
        "created_at": token.created_at.isoformat(),
        "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
        "current": current is not None and token.id == current.id,
    }


async def list_tokens(session: AsyncSession, user: User, current: Token) -> list[dict[str, Any]]:
    return [token_json(t, current) for t in await store.tokens_of(session, user.id)]


async def create_api_token(
    session: AsyncSession, tokens: Tokens, user: User, name: str, expires_in_days: int | None
) -> dict[str, Any]:
    plain, digest = tokens.new()
    expires = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    token = await store.add_token(session, user.id, digest, "api", name.strip(), expires)
    return token_json(token) | {"token": plain}


async def revoke_token(session: AsyncSession, user: User, token_id: int) -> None:
    if not await store.revoke_token(session, user.id, token_id):
        raise NotFound("token_not_found", "no such token")


# -- profiles and the follow graph ---------------------------------------


async def _target(session: AsyncSession, handle: str) -> User:
    user = await store.user_by_handle(session, handle) if len(handle) <= 15 else None
    if user is None:
        raise NotFound("user_not_found", f"no user @{handle}")
    return user


async def profile(session: AsyncSession, viewer: User | None, handle: str) -> dict[str, Any]:
    user = await _target(session, handle)
    followers, following = await store.follow_counts(session, user.id)
    out = user_json(user) | {"followers_count": followers, "following_count": following}
    if viewer is not None and viewer.id != user.id:
        out |= {
            "is_following": await store.is_following(session, viewer.id, user.id),
            "follows_you": await store.is_following(session, user.id, viewer.id),
            "is_blocked": await store.is_blocked(session, viewer.id, user.id),
            "blocked_you": await store.is_blocked(session, user.id, viewer.id),
        }
    return out


async def follow(session: AsyncSession, viewer: User, handle: str) -> dict[str, Any]:
    target = await _target(session, handle)
    rules.check_follow(
        viewer.id,
        target.id,
        blocked_by_followee=await store.is_blocked(session, target.id, viewer.id),
        blocks_followee=await store.is_blocked(session, viewer.id, target.id),
    )
    await store.follow(session, viewer.id, target.id)
    return await profile(session, viewer, handle)


async def unfollow(session: AsyncSession, viewer: User, handle: str) -> dict[str, Any]:
    target = await _target(session, handle)
    await store.unfollow(session, viewer.id, target.id)
    return await profile(session, viewer, handle)


async def block(session: AsyncSession, viewer: User, handle: str) -> dict[str, Any]:
    target = await _target(session, handle)
    rules.check_block(viewer.id, target.id)
    await store.block(session, viewer.id, target.id)
    return await profile(session, viewer, handle)


async def unblock(session: AsyncSession, viewer: User, handle: str) -> dict[str, Any]:
    target = await _target(session, handle)
    await store.unblock(session, viewer.id, target.id)
    return await profile(session, viewer, handle)


async def follow_list(
    session: AsyncSession, handle: str, direction: str, cursor: str | None, limit: int
) -> dict[str, Any]:
    """One page of followers or following, newest first; `next_cursor` is opaque."""
    user = await _target(session, handle)
    after = parse_cursor(cursor)
    page = store.followers_page if direction == "followers" else store.following_page
    rows = await page(session, user.id, after, min(max(limit, 1), PAGE_MAX) + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "users": [user_json(u) for _, u in rows],
        "next_cursor": str(rows[-1][0]) if more and rows else None,
    }
