"""Sign-in limits: guessing is slowed without locking the owner out, limits hold across
real server processes sharing Redis and survive Redis going away, forwarded headers
count only from trusted proxies, and weak passwords are refused."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.bus.redis_helpers import REDIS_URL, redis_unreachable_reason
from tests.support.redis_server import redis_server
from tests.support.server import running_server
from townhall.api.app import create_app
from townhall.api.limiter import Limiter, Rule
from townhall.config import Settings

SIGNUP = "/api/v1/auth/signup"
LOGIN = "/api/v1/auth/login"
RIGHT = "correct horse"


def _err(r: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = r.json()["error"]
    return body


@pytest.fixture
async def limited(settings: Settings) -> AsyncIterator[Any]:
    """An app allowing 3 attempts per minute (per address, per handle)."""
    application = create_app(settings.model_copy(update={"auth_rate_limit": 3}))
    async with application.router.lifespan_context(application):
        yield application


@contextlib.asynccontextmanager
async def from_address(app: Any, address: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(address, 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


async def _login(c: httpx.AsyncClient, handle: str, password: str) -> int:
    return (await c.post(LOGIN, json={"handle": handle, "password": password})).status_code


async def test_guessing_slows_the_guesser_but_not_the_owner(limited: Any) -> None:
    async with from_address(limited, "10.1.0.1") as owner:
        r = await owner.post(
            SIGNUP, json={"handle": "olga", "display_name": "O", "password": RIGHT}
        )
        assert r.status_code == 201
        owner.cookies.clear()
        assert await _login(owner, "olga", RIGHT) == 200  # this device and address are known
        device = owner.cookies.get("townhall_device")
        assert device
    # One guesser: three wrong passwords, then 429 for it.
    async with from_address(limited, "10.1.0.66") as guesser:
        assert [await _login(guesser, "olga", "wrong guess") for _ in range(3)] == [401] * 3
        r = await guesser.post(LOGIN, json={"handle": "olga", "password": RIGHT})
        assert r.status_code == 429 and _err(r)["code"] == "rate_limited"
        assert 1 <= int(r.headers["retry-after"]) <= 60
    # Guessers on other addresses are held back by the handle's limit (3 failures so far).
    async with from_address(limited, "10.1.0.67") as other:
        assert await _login(other, "olga", "wrong again") == 429
    # The owner is not: from the known address (no cookie) ...
    async with from_address(limited, "10.1.0.1") as owner:
        assert await _login(owner, "olga", RIGHT) == 200
    # ... and on the known device from a new address (a phone on another network).
    async with from_address(limited, "10.1.0.2") as travelling:
        travelling.cookies.set("townhall_device", device, path="/api/v1/auth")
        assert await _login(travelling, "olga", RIGHT) == 200
    # A forged device cookie is no such pass (from an address the owner never used).
    async with from_address(limited, "10.1.0.4") as forger:
        forger.cookies.set("townhall_device", device[:-2] + "00", path="/api/v1/auth")
        assert await _login(forger, "olga", RIGHT) == 429
    # The device itself is limited by its own failures.
    async with from_address(limited, "10.1.0.3") as device_client:
        device_client.cookies.set("townhall_device", device, path="/api/v1/auth")
        assert [await _login(device_client, "olga", "typo typo") for _ in range(3)] == [401] * 3
        assert await _login(device_client, "olga", RIGHT) == 429


async def test_a_guesser_on_the_owners_own_address_does_not_lock_out_the_device(
    limited: Any,
) -> None:
    """The case of the report: everything from one address (a shared network)."""
    async with from_address(limited, "127.0.0.1") as owner:
        r = await owner.post(
            SIGNUP, json={"handle": "nina", "display_name": "N", "password": RIGHT}
        )
        assert r.status_code == 201
        owner.cookies.clear()
        assert await _login(owner, "nina", RIGHT) == 200
        device = owner.cookies.get("townhall_device")
        assert device is not None
    async with from_address(limited, "127.0.0.1") as guesser:
        codes = [await _login(guesser, "nina", f"guess {i}") for i in range(10)]
        assert codes[:1] == [401] and codes[-1] == 429
    async with from_address(limited, "127.0.0.1") as owner:
        owner.cookies.set("townhall_device", device, path="/api/v1/auth")
        assert await _login(owner, "nina", RIGHT) == 200


async def test_deleting_the_account_is_no_password_oracle(limited: Any) -> None:
    async with from_address(limited, "10.2.0.1") as c:
        r = await c.post(SIGNUP, json={"handle": "dora", "display_name": "D", "password": RIGHT})
        headers = {"Authorization": f"Bearer {r.json()['token']}"}
        c.cookies.clear()
        codes = [
            (
                await c.request("DELETE", "/api/v1/me", json={"password": p}, headers=headers)
            ).status_code
            for p in ("guess one", "guess two", "guess three", RIGHT)
        ]
        assert codes == [401, 401, 401, 429]
        assert (await c.get("/api/v1/me", headers=headers)).status_code == 200


@pytest.mark.parametrize(
    ("password", "handle"),
    [
        ("password", "weakling"),
        ("12345678", "weakling"),
        ("        ", "weakling"),
        ("qwertyuiop", "weakling"),
        ("weakling", "weakling"),
        ("WeakLing", "weakling"),
        ("abcabcabcabc", "weakling"),
    ],
)
async def test_weak_passwords_are_refused(
    client: httpx.AsyncClient, password: str, handle: str
) -> None:
    r = await client.post(
        SIGNUP, json={"handle": handle, "display_name": "Weak", "password": password}
    )
    assert r.status_code == 422, r.text
    assert _err(r)["code"] == "weak_password" and _err(r)["field"] == "password"
    assert len(_err(r)["message"]) > 20  # says why
    r = await client.post(
        SIGNUP, json={"handle": handle, "display_name": "Weak", "password": "violet tram 42"}
    )
    assert r.status_code == 201, r.text


# -- real processes: forwarded headers, Redis shared by two nodes --------------------


def _signup_from(base: str, handle: str, forwarded_for: str | None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    r = httpx.post(
        base + SIGNUP,
        json={"handle": handle, "display_name": "X", "password": RIGHT},
        headers=headers,
        timeout=10,
    )
    return r.status_code


@pytest.mark.serial
def test_forwarded_for_counts_only_from_trusted_proxies(tmp_path: Path) -> None:
    limit = {"TOWNHALL_AUTH_RATE_LIMIT": "3", "TOWNHALL_SECRET_KEY": "f" * 32}
    # Untrusted (the default, even on loopback): rotating the header changes nothing.
    with running_server(tmp_path / "plain", limit) as base:
        codes = [_signup_from(base, f"rot{i}", f"203.0.113.{i}") for i in range(5)]
        assert codes == [201, 201, 201, 429, 429]
    # Trusted: each forwarded address is its own client (and is limited on its own).
    trusted = limit | {"TOWNHALL_TRUSTED_PROXIES": "127.0.0.0/8, ::1"}
    with running_server(tmp_path / "proxied", trusted) as base:
        codes = [_signup_from(base, f"rot{i}", f"203.0.113.{i}") for i in range(5)]
        assert codes == [201] * 5
        same = [_signup_from(base, f"same{i}", "198.51.100.7") for i in range(4)]
        assert same == [201, 201, 201, 429]
        # A client cannot hide behind a spoofed entry: the proxy appends the real peer,
        # and the rightmost untrusted address is the one counted.
        spoofed = [_signup_from(base, f"sp{i}", f"10.0.0.{i}, 198.51.100.7") for i in range(2)]
        assert spoofed == [429, 429]


@pytest.fixture
async def two_nodes(tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    reason = await redis_unreachable_reason()
    if reason:
        pytest.skip(reason)
    prefix = f"townhall-test-{uuid.uuid4().hex[:12]}:"
    env = {
        "TOWNHALL_REDIS_URL": REDIS_URL,
        "TOWNHALL_REDIS_PREFIX": prefix,
        "TOWNHALL_DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}",
        "TOWNHALL_SECRET_KEY": "s" * 32,
        "TOWNHALL_AUTH_RATE_LIMIT": "4",
    }
    with contextlib.ExitStack() as stack:
        bases = []
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            bases.append(
                await asyncio.to_thread(stack.enter_context, running_server(tmp_path / name, env))
            )
        try:
            yield bases[0], bases[1]
        finally:
            await asyncio.to_thread(stack.close)
            import redis.asyncio as aioredis

            client = aioredis.Redis.from_url(REDIS_URL)
            keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
            if keys:
                await client.delete(*keys)
            await client.aclose()


@pytest.mark.redis
@pytest.mark.serial
async def test_two_nodes_on_one_redis_share_the_limits(two_nodes: tuple[str, str]) -> None:
    a, b = two_nodes
    async with (
        httpx.AsyncClient(base_url=a, timeout=10) as on_a,
        httpx.AsyncClient(base_url=b, timeout=10) as on_b,
    ):
        r = await on_a.post(
            SIGNUP, json={"handle": "shared", "display_name": "S", "password": RIGHT}
        )
        assert r.status_code == 201
        # Four attempts from this address in all (the sign-up was the first): A, B, A.
        codes = [
            await _login(on_b, "shared", "guess one"),
            await _login(on_a, "shared", "guess two"),
            await _login(on_b, "shared", "guess three"),
        ]
        assert codes == [401, 401, 401]
        # Per process, B would have seen two attempts and allowed this one.
        assert await _login(on_b, "shared", "guess four") == 429
        assert await _login(on_a, "shared", "guess four") == 429


# -- Redis going away ------------------------------------------------------------


async def test_the_limiter_survives_redis_going_away_and_coming_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rule = Rule("test", 3, 60)
    caplog.set_level(logging.WARNING, logger="townhall.limits")
    with redis_server(tmp_path / "redis") as redis:
        node_a = Limiter(redis.url, "townhall-test:", retry_seconds=0)
        node_b = Limiter(redis.url, "townhall-test:", retry_seconds=0)
        try:
            assert await node_a.hit(rule, "k") and await node_b.hit(rule, "k")
            assert await node_a.allows(rule, "k")
            assert await node_b.hit(rule, "k")
            assert not await node_a.hit(rule, "k")  # 3 of 3, counted across both nodes
            redis.stop()
            # Redis is gone: still limited (in this process's memory), one warning.
            assert [await node_a.hit(rule, "m") for _ in range(4)] == [True, True, True, False]
            warnings = [r for r in caplog.records if "unreachable" in r.getMessage()]
            assert len(warnings) == 1
            # Back (empty, on the same port): shared again, the recovery logged once.
            redis.start()
            assert await node_a.hit(rule, "n")
            assert await node_b.hit(rule, "n") and await node_b.hit(rule, "n")
            assert not await node_a.hit(rule, "n")
            assert len([r for r in caplog.records if "Redis is back" in r.getMessage()]) == 1
        finally:
            await node_a.close()
            await node_b.close()


async def test_a_hung_redis_costs_one_timeout_not_one_per_request(tmp_path: Path) -> None:
    rule = Rule("test", 2, 60)
    with redis_server(tmp_path / "redis") as redis:
        limiter = Limiter(redis.url, "townhall-test:", retry_seconds=60)
        try:
            assert await limiter.hit(rule, "h")
            redis.freeze()
            try:
                # The first call waits out the socket timeout, then memory answers: the
                # next ones do not touch Redis at all for `retry_seconds`.
                got = await asyncio.wait_for(
                    asyncio.gather(*(limiter.hit(rule, "f") for _ in range(3))), 10
                )
                assert sorted(got) == [False, True, True]

                # Eight more calls: through the hung Redis they would take 16 s or more.
                async def one_after_another() -> list[bool]:
                    return [await limiter.hit(rule, f"g{i}") for i in range(8)]

                assert await asyncio.wait_for(one_after_another(), 10) == [True] * 8
            finally:
                redis.thaw()
        finally:
            await limiter.close()
