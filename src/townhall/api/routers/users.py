"""My account, my tokens, other people's profiles, follows and blocks."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response, status

from townhall.api.auth_tokens import COOKIE_NAME
from townhall.api.deps import (
    BusDep,
    CurrentAuth,
    CurrentUser,
    DbSession,
    SettingsDep,
    TokensDep,
)
from townhall.api.schemas.accounts import (
    DeleteAccountIn,
    MeOut,
    NewTokenOut,
    ProfileIn,
    ProfileOut,
    TokenIn,
    TokenList,
    UserList,
    UserPage,
)
from townhall.api.services import accounts, clips, recordings

router = APIRouter(prefix="/api/v1", tags=["users"])

Cursor = Annotated[str | None, Query(max_length=20)]
Limit = Annotated[int, Query(ge=1, le=100)]


@router.get("/me")
async def get_me(user: CurrentUser, session: DbSession) -> MeOut:
    return await accounts.me(session, user)


@router.patch("/me")
async def edit_me(body: ProfileIn, user: CurrentUser, session: DbSession) -> MeOut:
    return await accounts.edit_profile(session, user, body.display_name, body.bio)


@router.delete("/me", status_code=status.HTTP_204_NO_CONTENT)
async def delete_me(
    body: DeleteAccountIn,
    request: Request,
    response: Response,
    user: CurrentUser,
    session: DbSession,
    bus: BusDep,
    settings: SettingsDep,
) -> None:
    """Delete my account and everything that is mine (password required)."""
    recorded = await recordings.recorded_spaces_of(session, user.id)
    clipped = await clips.clip_ids_for_removal(session, recorded, user.id)
    await accounts.delete_account(
        session, bus, settings, request.app.state.auth_guard, user, body.password
    )
    recordings.remove_files(request.app.state.settings.data_dir, recorded)
    clips.remove_files(request.app.state.settings.data_dir, clipped)
    response.delete_cookie(COOKIE_NAME, path="/")


@router.get("/me/tokens")
async def list_tokens(auth: CurrentAuth, session: DbSession) -> TokenList:
    return await accounts.list_tokens(session, auth.user, auth.token)


@router.post("/me/tokens", status_code=status.HTTP_201_CREATED)
async def create_token(
    body: TokenIn, user: CurrentUser, session: DbSession, tokens: TokensDep
) -> NewTokenOut:
    """A bearer token for a bot or script; shown once."""
    return await accounts.create_api_token(session, tokens, user, body.name, body.expires_in_days)


@router.delete("/me/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_token(token_id: int, user: CurrentUser, session: DbSession) -> None:
    """Revoke a token; the WebSockets and media connections opened with it close."""
    await accounts.revoke_token(session, user, token_id)


@router.get("/users")
async def search_users(
    user: CurrentUser,
    session: DbSession,
    q: Annotated[str, Query(min_length=1, max_length=50, description="handle or name")],
) -> UserList:
    """People whose handle starts with `q` or whose display name contains it."""
    return await accounts.search_people(session, user, q)


@router.get("/users/{handle}")
async def get_user(handle: str, viewer: CurrentUser, session: DbSession) -> ProfileOut:
    return await accounts.profile(session, viewer, handle)


@router.post("/users/{handle}/follow")
async def follow(handle: str, user: CurrentUser, session: DbSession) -> ProfileOut:
    return await accounts.follow(session, user, handle)


@router.delete("/users/{handle}/follow")
async def unfollow(
    handle: str, user: CurrentUser, session: DbSession, settings: SettingsDep
) -> ProfileOut:
    return await accounts.unfollow(session, settings, user, handle)


@router.post("/users/{handle}/block")
async def block(
    handle: str, user: CurrentUser, session: DbSession, settings: SettingsDep
) -> ProfileOut:
    return await accounts.block(session, settings, user, handle)


@router.delete("/users/{handle}/block")
async def unblock(handle: str, user: CurrentUser, session: DbSession) -> ProfileOut:
    return await accounts.unblock(session, user, handle)


@router.get("/users/{handle}/{direction}")
async def follow_list(
    handle: str,
    direction: Literal["followers", "following"],
    session: DbSession,
    viewer: CurrentUser,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> UserPage:
    """Followers or following, newest first; pass `next_cursor` back for the next page."""
    return await accounts.follow_list(session, handle, direction, cursor, limit)
