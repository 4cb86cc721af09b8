"""Accounts: sign-up and sign-in, my account and tokens, profiles and the follow graph."""

from __future__ import annotations

from pydantic import Field, StrictInt, StrictStr

from townhall.api.schemas import Body, IsoTime, Out


class SignupIn(Body):
    handle: StrictStr = Field(max_length=64)
    display_name: StrictStr = Field(max_length=200)
    password: StrictStr = Field(max_length=1024)
    invite: StrictStr | None = Field(
        None, max_length=100, description="an invite code (registration mode `invite`)"
    )


class LoginIn(Body):
    handle: StrictStr = Field(max_length=64)
    password: StrictStr = Field(max_length=1024)


class ProfileIn(Body):
    display_name: StrictStr | None = Field(None, max_length=200)
    bio: StrictStr | None = Field(None, max_length=1000)


class DeleteAccountIn(Body):
    password: StrictStr = Field(max_length=1024)


class TokenIn(Body):
    name: StrictStr = Field(min_length=1, max_length=50)
    expires_in_days: StrictInt | None = Field(None, ge=1, le=3650)


# -- responses ---------------------------------------------------------------------


class UserOut(Out):
    id: int
    handle: str
    display_name: str
    bio: str
    created_at: IsoTime


class SignedInUserOut(UserOut):
    role: str = Field(description="the instance role: member, moderator or admin")


class SessionOut(Out):
    user: SignedInUserOut
    token: str = Field(description="a bearer token (the session cookie is set too)")


class MeOut(SignedInUserOut):
    followers_count: int
    following_count: int


class ProfileOut(UserOut):
    """Someone's profile; the relation fields only when someone else asks."""

    followers_count: int
    following_count: int
    is_following: bool | None = None
    follows_you: bool | None = None
    is_blocked: bool | None = None
    blocked_you: bool | None = None


class TokenOut(Out):
    id: int
    name: str
    kind: str = Field(description="session or api")
    created_at: IsoTime
    last_used_at: IsoTime | None
    expires_at: IsoTime | None
    current: bool = Field(description="the token this request used")


class NewTokenOut(TokenOut):
    token: str = Field(description="the bearer token, shown this once")


class TokenList(Out):
    tokens: list[TokenOut]


class UserList(Out):
    users: list[UserOut]


class UserPage(Out):
    users: list[UserOut]
    next_cursor: str | None = Field(description="pass back as ?cursor= for the next page")
