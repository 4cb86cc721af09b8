"""FastAPI dependencies: the database session, the bus, settings and who is asking."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from townhall.api.auth_tokens import Tokens, presented_token
from townhall.config import Settings
from townhall.domain.errors import Unauthorized
from townhall.store.models import Token, User


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.db.session() as session:
        yield session


DbSession = Annotated[AsyncSession, Depends(_session, scope="function")]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(_settings)]


def _bus(request: Request) -> Any:
    return request.app.state.bus


BusDep = Annotated[Any, Depends(_bus)]


def _tokens(request: Request) -> Tokens:
    tokens: Tokens = request.app.state.tokens
    return tokens


TokensDep = Annotated[Tokens, Depends(_tokens)]


@dataclass(frozen=True)
class Auth:
    user: User
    token: Token


async def _auth(request: Request, session: DbSession) -> Auth:
    plain = presented_token(request)
    if not plain:
        raise Unauthorized("not_signed_in", "sign in first (bearer token or session cookie)")
    found = await _tokens(request).lookup(session, plain)
    if found is None:
        raise Unauthorized("invalid_token", "the token is unknown, revoked or expired")
    return Auth(user=found[1], token=found[0])


CurrentAuth = Annotated[Auth, Depends(_auth)]


async def _user(auth: CurrentAuth) -> User:
    return auth.user


CurrentUser = Annotated[User, Depends(_user)]


async def _optional_user(request: Request, session: DbSession) -> User | None:
    plain = presented_token(request)
    if not plain:
        return None
    found = await _tokens(request).lookup(session, plain)
    return found[1] if found else None


OptionalUser = Annotated[User | None, Depends(_optional_user)]


def _public_base(request: Request) -> str:
    settings: Settings = request.app.state.settings
    return (settings.public_url or str(request.base_url)).rstrip("/")


PublicBase = Annotated[str, Depends(_public_base)]
"""The URL people reach this server at: TOWNHALL_PUBLIC_URL, else the request's own."""


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
