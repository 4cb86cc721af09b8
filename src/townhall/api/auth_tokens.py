"""Bearer tokens and password hashing. Tokens are stored only as SHA-256 hashes."""

from __future__ import annotations

import asyncio
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncSession

from townhall.config import Settings
from townhall.store import accounts
from townhall.store.models import Token, User

TOKEN_PREFIX = "th_"
COOKIE_NAME = "townhall_session"


def new_token() -> tuple[str, str]:
    """(plain token for the client, hash for the store)."""
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return plain, hash_token(plain)


def hash_token(plain: str) -> str:
    return hashlib.sha256(plain.encode()).hexdigest()


async def token_and_user(session: AsyncSession, plain: str) -> tuple[Token, User] | None:
    """The live token and its user, or None for unknown, revoked or expired tokens."""
    if not plain.startswith(TOKEN_PREFIX) or len(plain) > 100:
        return None
    found = await accounts.live_token(session, hash_token(plain))
    if found is not None:
        await accounts.touch_token(session, found[0].id)
    return found


async def user_for_token(session: AsyncSession, plain: str) -> User | None:
    found = await token_and_user(session, plain)
    return found[1] if found else None


class Passwords:
    """argon2id hashing, run off the event loop."""

    def __init__(self, settings: Settings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.password_time_cost, memory_cost=settings.password_memory_kib
        )
        # A hash to verify against when the handle is unknown, so timing says nothing.
        self._dummy = self._hasher.hash(secrets.token_hex(16))

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        def check() -> bool:
            try:
                return self._hasher.verify(password_hash or self._dummy, password)
            except (VerificationError, InvalidHashError):
                return False

        ok = await asyncio.to_thread(check)
        return ok and password_hash is not None
