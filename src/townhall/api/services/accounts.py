"""Accounts: sign-up, sign-in, tokens, profiles, follows and blocks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from townhall.api.auth_tokens import Passwords, Tokens
from townhall.api.devices import DeviceCookies
from townhall.api.limiter import Limiter, Rule
from townhall.api.schemas.accounts import (
    MeOut,
    NewTokenOut,
    ProfileOut,
    SessionOut,
    SignedInUserOut,
    TokenList,
    TokenOut,
    UserList,
    UserOut,
    UserPage,
)
from townhall.api.services import access, spaces
from townhall.api.services.staff import invites, words
from townhall.bus import Bus
from townhall.config import Settings
from townhall.domain import accounts as rules
from townhall.domain import staff as staff_rules
from townhall.domain.errors import Conflict, NotFound, RateLimited, Unauthorized
from townhall.domain.paging import PAGE_MAX, parse_cursor
from townhall.domain.staff import RegistrationMode, Standing
from townhall.store import accounts as store
from townhall.store.db import utcnow
from townhall.store.models import Token, User

KNOWN_ADDRESS_DAYS = 30


class AuthGuard:
    """Passwords, tokens, and the sign-up and sign-in rate limits (shared by every node
    through the limiter when Redis is configured).

    Guessing is slowed without locking the owner out (OWASP's advice):
    - every attempt counts against the client's address (`per_address`);
    - failures count against the handle from that address (`per_handle_address`), and
      against the handle from anywhere (`per_handle`) unless the client is trusted;
    - a device that signed in to the account before (a signed device cookie) is limited
      only by its own failures (`per_device`); an address the account signed in from
      before is not held back by the failures of other addresses (`per_handle`).
    """

    def __init__(self, settings: Settings, tokens: Tokens, limiter: Limiter) -> None:
        self.passwords = Passwords(settings)
        self.tokens = tokens
        self.limiter = limiter
        self.devices = DeviceCookies(settings.load_secret_key())
        limit, window = settings.auth_rate_limit, settings.auth_rate_window
        self.per_address = Rule("auth-address", limit, window)
        self.per_handle_address = Rule("auth-handle-address", limit, window)
        self.per_handle = Rule("auth-handle", limit, window)
        self.per_device = Rule("auth-device", limit, window)
        self.known_address = Rule("auth-known-address", 1, KNOWN_ADDRESS_DAYS * 86400)
        # Wrong passwords where a signed-in user confirms with one (deleting the account).
        self.per_user_confirm = Rule("auth-confirm", limit, window)

    async def _refuse(self, rule: Rule, key: tuple[str, ...], what: str) -> None:
        wait = await self.limiter.retry_after(rule, *key)
        raise RateLimited(
            "rate_limited",
            f"too many {what}; try again in {int(wait) + 1} s",
            retry_after=int(wait) + 1,
        )

    async def check_signup(self, address: str) -> None:
        if not await self.limiter.hit(self.per_address, address):
            await self._refuse(self.per_address, (address,), "attempts from this address")

    async def check_login(self, address: str, handle: str, device_cookie: str | None) -> Attempt:
        """May this sign-in be tried now? Raises RateLimited; else what to count after."""
        key = rules.handle_key(handle)
        device = self.devices.device_for(device_cookie, key)
        if device is not None:
            if not await self.limiter.allows(self.per_device, device):
                await self._refuse(self.per_device, (device,), "failed sign-ins on this device")
            return Attempt(key, address, device, known_address=True)
        if not await self.limiter.hit(self.per_address, address):
            await self._refuse(self.per_address, (address,), "sign-in attempts from this address")
        if not await self.limiter.allows(self.per_handle_address, key, address):
            await self._refuse(
                self.per_handle_address, (key, address), "failed sign-ins for this handle"
            )
        known = await self.limiter.marked(self.known_address, key, address)
        if not known and not await self.limiter.allows(self.per_handle, key):
            await self._refuse(self.per_handle, (key,), "failed sign-ins for this handle")
        return Attempt(key, address, None, known_address=known)

    async def failed(self, attempt: Attempt) -> None:
        if attempt.device is not None:
            await self.limiter.hit(self.per_device, attempt.device)
            return
        await self.limiter.hit(self.per_handle_address, attempt.handle_key, attempt.address)
        if not attempt.known_address:
            await self.limiter.hit(self.per_handle, attempt.handle_key)

    async def confirm_password(self, user: User, password: str) -> None:
        """A signed-in user's password check (not an oracle for unlimited guesses)."""
        key = str(user.id)
        if not await self.limiter.allows(self.per_user_confirm, key):
            await self._refuse(self.per_user_confirm, (key,), "wrong passwords")
        if not await self.passwords.verify(user.password_hash, password):
            await self.limiter.hit(self.per_user_confirm, key)
            raise Unauthorized("bad_credentials", "wrong password", "password")

    async def succeeded(self, attempt: Attempt) -> str:
        """Remember the address; the device cookie to set."""
        await self.limiter.mark(self.known_address, attempt.handle_key, attempt.address)
        return self.devices.issue(attempt.handle_key, attempt.device)


@dataclass(frozen=True)
class Attempt:
    """A sign-in let through: who for, from where, and whether the client is trusted."""

    handle_key: str
    address: str
    device: str | None
    known_address: bool


@dataclass
class SignedIn:
    user: User
    token: str
    device_cookie: str | None = None


def user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        handle=user.handle,
        display_name=user.display_name,
        bio=user.bio,
        created_at=user.created_at,
    )


def session_out(done: SignedIn) -> SessionOut:
    """What signing up or in answers: the user with their instance role, and the token."""
    user = SignedInUserOut(**user_out(done.user).model_dump(), role=done.user.role)
    return SessionOut(user=user, token=done.token)


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
    await guard.check_signup(address)
    mode = RegistrationMode(settings.registration)
    staff_rules.check_may_sign_up(mode, has_invite=bool(invite), by_admin=False)
    rules.check_handle(handle)
    name = rules.check_display_name(display_name)
    rules.check_password(password, handle, name)
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
    device_cookie: str | None = None,
) -> SignedIn:
    attempt = await guard.check_login(address, handle, device_cookie)
    user = await store.user_by_handle(session, handle)
    ok = await guard.passwords.verify(user.password_hash if user else None, password)
    if user is None or not ok:
        await guard.failed(attempt)
        raise Unauthorized("bad_credentials", "wrong handle or password")
    staff_rules.check_may_sign_in(
        Standing(banned=user.banned_at is not None, suspended_until=user.suspended_until), utcnow()
    )
    device = await guard.succeeded(attempt)
    return SignedIn(user, await _issue_session(session, settings, guard, user), device)


async def logout(session: AsyncSession, token: Token) -> None:
    """Revoke the token; every connection opened with it closes (on every node)."""
    await store.revoke_token(session, token.user_id, token.id)
    await access.token_revoked(session, token.user_id, token.id)
    await session.commit()


async def credential_is_live(session: AsyncSession, token_id: int) -> bool:
    """Whether a connection opened with this token may stay open."""
    return await store.token_is_live(session, token_id)


async def me(session: AsyncSession, user: User) -> MeOut:
    followers, following = await store.follow_counts(session, user.id)
    return MeOut(
        **user_out(user).model_dump(),
        role=user.role,
        followers_count=followers,
        following_count=following,
    )


async def edit_profile(
    session: AsyncSession, user: User, display_name: str | None, bio: str | None
) -> MeOut:
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
    await guard.confirm_password(user, password)
    await spaces.close_for_deleted_account(session, bus, settings, user)
    await store.delete_user(session, user)
    await access.account_deleted(session, user.id)  # every connection of it closes
    await session.commit()


def token_out(token: Token, current: Token | None = None) -> TokenOut:
    return TokenOut(
        id=token.id,
        name=token.name,
        kind=token.kind,
        created_at=token.created_at,
        last_used_at=token.last_used_at,
        expires_at=token.expires_at,
        current=current is not None and token.id == current.id,
    )


async def list_tokens(session: AsyncSession, user: User, current: Token) -> TokenList:
    return TokenList(
        tokens=[token_out(t, current) for t in await store.tokens_of(session, user.id)]
    )


async def create_api_token(
    session: AsyncSession, tokens: Tokens, user: User, name: str, expires_in_days: int | None
) -> NewTokenOut:
    plain, digest = tokens.new()
    expires = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    token = await store.add_token(session, user.id, digest, "api", name.strip(), expires)
    return NewTokenOut(**token_out(token).model_dump(), token=plain)


async def revoke_token(session: AsyncSession, user: User, token_id: int) -> None:
    """Revoke one of my tokens; every connection opened with it closes (on every node)."""
    if not await store.revoke_token(session, user.id, token_id):
        raise NotFound("token_not_found", "no such token")
    await access.token_revoked(session, user.id, token_id)
    await session.commit()


# -- profiles and the follow graph ---------------------------------------


async def _target(session: AsyncSession, handle: str) -> User:
    user = await store.user_by_handle(session, handle) if len(handle) <= 15 else None
    if user is None:
        raise NotFound("user_not_found", f"no user @{handle}")
    return user


async def profile(session: AsyncSession, viewer: User | None, handle: str) -> ProfileOut:
    """Someone's profile; the relation fields are set (and sent) only when someone else
    asks."""
    user = await _target(session, handle)
    followers, following = await store.follow_counts(session, user.id)
    out = ProfileOut(
        **user_out(user).model_dump(), followers_count=followers, following_count=following
    )
    if viewer is not None and viewer.id != user.id:
        out.is_following = await store.is_following(session, viewer.id, user.id)
        out.follows_you = await store.is_following(session, user.id, viewer.id)
        out.is_blocked = await store.is_blocked(session, viewer.id, user.id)
        out.blocked_you = await store.is_blocked(session, user.id, viewer.id)
    return out


async def follow(session: AsyncSession, viewer: User, handle: str) -> ProfileOut:
    target = await _target(session, handle)
    rules.check_follow(
        viewer.id,
        target.id,
        blocked_by_followee=await store.is_blocked(session, target.id, viewer.id),
        blocks_followee=await store.is_blocked(session, viewer.id, target.id),
    )
    await store.follow(session, viewer.id, target.id)
    return await profile(session, viewer, handle)


async def unfollow(
    session: AsyncSession, settings: Settings, viewer: User, handle: str
) -> ProfileOut:
    """Stop following; the viewer leaves the target's live followers-only spaces (unless
    a guest of them) and their connections to them stop."""
    target = await _target(session, handle)
    if await store.unfollow(session, viewer.id, target.id):
        await _drop_lost_access(session, settings, viewer.id, target.id)
    return await profile(session, viewer, handle)


async def block(session: AsyncSession, settings: Settings, viewer: User, handle: str) -> ProfileOut:
    """Block; the target loses the viewer's live spaces at once (events, audio, actions),
    and as the follows both ways go, the viewer loses the target's followers-only ones."""
    target = await _target(session, handle)
    rules.check_block(viewer.id, target.id)
    await store.block(session, viewer.id, target.id)
    await _drop_lost_access(session, settings, target.id, viewer.id)
    await _drop_lost_access(session, settings, viewer.id, target.id)
    return await profile(session, viewer, handle)


async def _drop_lost_access(
    session: AsyncSession, settings: Settings, user_id: int, host_id: int
) -> None:
    """Commit, with the user out of the host's live spaces they may no longer see, and
    tell their connections (on every node) to re-check those spaces."""
    lost = await spaces.drop_lost_access(session, settings, user_id, host_id)
    await access.space_access(session, user_id, lost)
    await session.commit()


async def unblock(session: AsyncSession, viewer: User, handle: str) -> ProfileOut:
    target = await _target(session, handle)
    await store.unblock(session, viewer.id, target.id)
    return await profile(session, viewer, handle)


PEOPLE_FOUND = 20


async def search_people(session: AsyncSession, viewer: User, query: str) -> UserList:
    """People by handle (a leading @ is fine) or display name, for the home search."""
    q = " ".join(query.split()).lstrip("@")
    if not q:
        return UserList(users=[])
    found = await store.search_users(session, q, viewer.id, PEOPLE_FOUND)
    return UserList(users=[user_out(u) for u in found])


async def follow_list(
    session: AsyncSession, handle: str, direction: str, cursor: str | None, limit: int
) -> UserPage:
    """One page of followers or following, newest first; `next_cursor` is opaque."""
    user = await _target(session, handle)
    after = parse_cursor(cursor)
    page = store.followers_page if direction == "followers" else store.following_page
    rows = await page(session, user.id, after, min(max(limit, 1), PAGE_MAX) + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return UserPage(
        users=[user_out(u) for _, u in rows],
        next_cursor=str(rows[-1][0]) if more and rows else None,
    )
