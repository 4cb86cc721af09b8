"""Request bodies shared by the API routers. Unknown fields are refused."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


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
