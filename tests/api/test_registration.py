"""Registration modes (open, invite, closed), invite codes, and the minimum account age
before speaking or hosting."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from tests.api.test_spaces_support import Spaces, error
from townhall.api.app import create_app
from townhall.api.services.staff import invites as invite_service
from townhall.api.services.staff import roles
from townhall.config import Settings
from townhall.domain.staff import InstanceRole
from townhall.store.db import utcnow
from townhall.store.models import Invite

SIGNUP = "/api/v1/auth/signup"


@pytest.fixture
def mode() -> str:
    return "invite"


@pytest.fixture
async def moded(settings: Settings, mode: str) -> AsyncIterator[Any]:
    application = create_app(settings.model_copy(update={"registration": mode, "invite_quota": 2}))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def web(moded: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=moded, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def signup(web: httpx.AsyncClient, handle: str, invite: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"handle": handle, "display_name": handle, "password": "correct horse"}
    if invite is not None:
        body["invite"] = invite
    r = await web.post(SIGNUP, json=body)
    web.cookies.clear()
    return r


async def operator_code(app: Any) -> str:
    """What `townhall admin invite` prints."""
    async with app.state.db.session() as session:
        out = await invite_service.create(session, app.state.settings, app.state.tokens, None, 7)
    assert out.code
    return out.code


def bearer(r: httpx.Response) -> dict[str, str]:
    return {"Authorization": f"Bearer {r.json()['token']}"}


async def test_invite_mode_needs_a_single_use_code_and_records_the_inviter(
    moded: Any, web: httpx.AsyncClient
) -> None:
    error(await signup(web, "stranger"), 403, "invite_required")
    first = await signup(web, "first", await operator_code(moded))
    assert first.status_code == 201, first.text
    me = bearer(first)

    made = [
        await web.post("/api/v1/me/invites", json={"expires_in_days": 3}, headers=me)
        for _ in range(3)
    ]
    assert [m.status_code for m in made] == [201, 201, 403]
    assert made[2].json()["error"]["code"] == "invite_quota"
    code = made[0].json()["code"]
    assert code.startswith("inv_") and len(code) >= 24

    error(await signup(web, "guesser", "inv_" + "A" * 22), 422, "invite_invalid")
    friend = await signup(web, "friend", code)
    assert friend.status_code == 201, friend.text
    error(await signup(web, "second", code), 422, "invite_used")

    mine = (await web.get("/api/v1/me/invites", headers=me)).json()
    assert mine["quota"] == 2 and mine["unused"] == 1
    assert [i["used_by"] for i in mine["invites"]] == [None, "friend"]
    assert all(i["code"] is None for i in mine["invites"])  # shown only once

    async with moded.state.db.session() as session:
        await roles.grant(session, None, "first", InstanceRole.ADMIN)
        await session.execute(update(Invite).values(expires_at=utcnow() - timedelta(minutes=1)))
    error(await signup(web, "late", made[1].json()["code"]), 422, "invite_expired")
    seen = (await web.get("/api/v1/admin/users/friend", headers=me)).json()
    assert seen["invited_by"] == "first"

    withdrawn = await web.delete(f"/api/v1/me/invites/{made[1].json()['id']}", headers=me)
    assert withdrawn.status_code == 204
    error(await web.delete("/api/v1/me/invites/99999", headers=me), 404, "invite_not_found")


@pytest.mark.parametrize("mode", ["closed"])
async def test_closed_mode_takes_only_codes_made_by_admins(
    moded: Any, web: httpx.AsyncClient
) -> None:
    error(await signup(web, "stranger"), 403, "registration_closed")
    admin = await signup(web, "admin", await operator_code(moded))
    assert admin.status_code == 201
    async with moded.state.db.session() as session:
        await roles.grant(session, None, "admin", InstanceRole.ADMIN)
    member = await signup(web, "member", await operator_code(moded))
    member_code = await web.post("/api/v1/me/invites", json={}, headers=bearer(member))
    assert member_code.status_code == 201
    error(await signup(web, "viamember", member_code.json()["code"]), 422, "invite_invalid")
    admin_code = await web.post("/api/v1/admin/invites", json={}, headers=bearer(admin))
    assert (await signup(web, "viaadmin", admin_code.json()["code"])).status_code == 201


@pytest.mark.parametrize("mode", ["open"])
async def test_open_mode_needs_no_code(web: httpx.AsyncClient) -> None:
    assert (await signup(web, "anyone")).status_code == 201


async def test_new_accounts_wait_before_hosting_or_raising_a_hand(settings: Settings) -> None:
    application = create_app(settings.model_copy(update={"min_account_age_to_speak": 3600.0}))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as web:
            old, new = await signup(web, "oldtimer"), await signup(web, "newcomer")
            sp = Spaces(web)
            r = await web.post(
                "/api/v1/spaces", json={"title": "Hi", "visibility": "public"}, headers=bearer(new)
            )
            error(r, 403, "account_too_new")
            async with application.state.db.session() as session:
                from townhall.store.models import User

                await session.execute(
                    update(User)
                    .where(User.handle == "oldtimer")
                    .values(created_at=utcnow() - timedelta(hours=2))
                )

            class Who:
                def __init__(self, r: httpx.Response) -> None:
                    self.headers = bearer(r)

            sid = (await sp.create(Who(old)))["id"]
            await sp.ok(Who(new), sid, "join")
            error(await sp.post(Who(new), sid, "hand"), 403, "account_too_new")


def test_minimum_age_reads_durations() -> None:
    from townhall.config import ConfigError, load_settings

    assert load_settings(min_account_age_to_speak="24h").min_account_age_to_speak == 86400
    assert load_settings(min_account_age_to_speak="90").min_account_age_to_speak == 90
    with pytest.raises(ConfigError, match="TOWNHALL_MIN_ACCOUNT_AGE_TO_SPEAK"):
        load_settings(min_account_age_to_speak="soon")
    with pytest.raises(ConfigError, match="TOWNHALL_REGISTRATION"):
        load_settings(registration="sometimes")
