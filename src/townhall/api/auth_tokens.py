"""Bearer tokens and password hashing. Tokens are stored only as SHA-256 hashes."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from townhall.config import Settings
from townhall.domain.errors import Unauthorized
from townhall.store import accounts
from townhall.store.db import utcnow
from townhall.store.models import Token, User

TOKEN_PREFIX = "th_"
COOKIE_NAME = "townhall_session"
TOUCH_INTERVAL = timedelta(seconds=60)
"""A token's `last_used_at` is written again only once it is this old: reads stay reads
(no write, and on SQLite no write lock, on every authenticated request)."""


def presented_token(connection: HTTPConnection) -> str | None:
    """The credential a request or a WebSocket handshake presents, in one order for both:
    `Authorization: Bearer`, then `?token=` (WebSocket handshakes only: browsers cannot
    set headers there), then the session cookie. A malformed Authorization header is
    refused rather than skipped (`bad_authorization`)."""
    header = connection.headers.get("authorization", "")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized("bad_authorization", "Authorization must be 'Bearer <token>'")
        return value.strip()
    if connection.scope["type"] == "websocket":
        token = connection.query_params.get("token")
        if token:
            return token
    return connection.cookies.get(COOKIE_NAME)


class Tokens:
    """Bearer tokens, stored only as HMAC-SHA256 digests keyed by the server's secret key.

    A copy of the database alone does not let anyone check guessed tokens, and changing
    TOWNHALL_SECRET_KEY signs everyone out. Every node of one deployment shares the key.
    """

    def __init__(self, secret_key: str) -> None:
        self._key = secret_key.encode()

    def new(self) -> tuple[str, str]:
        """(plain token for the client, digest for the store)."""
        plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
        return plain, self.digest(plain)

    def digest(self, plain: str) -> str:
        return hmac.new(self._key, plain.encode(), hashlib.sha256).hexdigest()

    async def lookup(self, session: AsyncSession, plain: str) -> tuple[Token, User] | None:
        """The live token and its user, or None for unknown, revoked or expired tokens."""
        if not plain.startswith(TOKEN_PREFIX) or len(plain) > 100:
            return None
        found = await accounts.live_token(session, self.digest(plain))
        if found is not None:
            last = found[0].last_used_at
            now = utcnow()
            if last is None or now - last >= TOUCH_INTERVAL:
                await accounts.touch_token(session, found[0].id, now)
        return found

    async def user(self, session: AsyncSession, plain: str) -> User | None:
        found = await self.lookup(session, plain)
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
