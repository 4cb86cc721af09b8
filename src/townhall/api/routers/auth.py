"""Sign up, sign in, sign out."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from townhall.api.auth_tokens import COOKIE_NAME
from townhall.api.deps import CurrentAuth, DbSession, SettingsDep, client_address
from townhall.api.devices import DEVICE_COOKIE, DEVICE_COOKIE_DAYS
from townhall.api.schemas.accounts import LoginIn, SessionOut, SignupIn
from townhall.api.services import accounts
from townhall.config import Settings

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


def _set_cookie(response: Response, settings: Settings, token: str) -> None:
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=settings.session_days * 86400,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        path="/",
    )


def _set_device_cookie(response: Response, settings: Settings, value: str | None) -> None:
    """The device cookie: sent back only to sign-in, never readable by scripts."""
    if value is None:
        return
    response.set_cookie(
        DEVICE_COOKIE,
        value,
        max_age=DEVICE_COOKIE_DAYS * 86400,
        httponly=True,
        samesite="strict",
        secure=settings.secure_cookies,
        path="/api/v1/auth",
    )


@router.post("/signup", status_code=status.HTTP_201_CREATED)
async def signup(
    body: SignupIn, request: Request, response: Response, session: DbSession, settings: SettingsDep
) -> SessionOut:
    """Create an account; answers the user, a bearer token, and sets the session cookie."""
    done = await accounts.signup(
        session,
        settings,
        request.app.state.auth_guard,
        client_address(request),
        body.handle,
        body.display_name,
        body.password,
        body.invite,
    )
    _set_cookie(response, settings, done.token)
    return accounts.session_out(done)


@router.post("/login")
async def login(
    body: LoginIn, request: Request, response: Response, session: DbSession, settings: SettingsDep
) -> SessionOut:
    """Sign in with handle and password."""
    done = await accounts.login(
        session,
        settings,
        request.app.state.auth_guard,
        client_address(request),
        body.handle,
        body.password,
        request.cookies.get(DEVICE_COOKIE),
    )
    _set_cookie(response, settings, done.token)
    _set_device_cookie(response, settings, done.device_cookie)
    return accounts.session_out(done)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(auth: CurrentAuth, session: DbSession, response: Response) -> None:
    """Revoke the token this request used and clear the cookie; the WebSockets and media
    connections opened with it close."""
    await accounts.logout(session, auth.token)
    response.delete_cookie(COOKIE_NAME, path="/")
