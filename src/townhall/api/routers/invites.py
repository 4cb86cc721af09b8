"""My invite codes (registration mode `invite`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from townhall.api.deps import CurrentUser, DbSession, SettingsDep, TokensDep
from townhall.api.schemas.staff import InviteIn, InviteList, InviteOut
from townhall.api.services.staff import invites

router = APIRouter(prefix="/api/v1/me/invites", tags=["invites"])


@router.get("")
async def my_invites(user: CurrentUser, session: DbSession, settings: SettingsDep) -> InviteList:
    """My codes, used or not, and how many more I may create."""
    return await invites.mine(session, settings, user)


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_invite(
    body: InviteIn, user: CurrentUser, session: DbSession, settings: SettingsDep, tokens: TokensDep
) -> InviteOut:
    """A new single-use code; the code is shown only in this answer."""
    return await invites.create(session, settings, tokens, user, body.expires_in_days)


@router.delete("/{invite_id}", status_code=status.HTTP_204_NO_CONTENT)
async def withdraw_invite(
    invite_id: Annotated[int, Path(ge=1, le=2**62)], user: CurrentUser, session: DbSession
) -> None:
    await invites.withdraw(session, user, invite_id)
