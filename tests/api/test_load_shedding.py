"""Saturation answers 503 with Retry-After, never 500: a pool with no free connection,
and a full line of requests (townhall.api.shedding). Authenticated reads do not write."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from tests.conftest import MakeUser
from townhall.api.app import create_app
from townhall.api.shedding import ConcurrencyLimit
from townhall.config import Settings
from townhall.store.models import Token


@asynccontextmanager
async def _app_client(settings: Settings, **changes: Any) -> AsyncIterator[tuple[Any, Any]]:
    app = create_app(settings.model_copy(update=changes))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50003))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield app, c


async def _signup(c: httpx.AsyncClient, handle: str) -> dict[str, str]:
    r = await c.post(
        "/api/v1/auth/signup",
        json={"handle": handle, "display_name": handle, "password": "correct horse"},
    )
    assert r.status_code == 201, r.text
    c.cookies.clear()
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _assert_overloaded(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert int(r.headers["Retry-After"]) > 0
    assert r.json()["error"]["code"] == "overloaded"


async def test_no_free_pool_connection_is_503_overloaded_not_500(settings: Settings) -> None:
    async with _app_client(
        settings,
        database_pool_size=1,
        database_max_overflow=0,
        database_pool_timeout=0.3,
        max_concurrent_requests=100,
    ) as (app, c):
        auth = await _signup(c, "pooled")
        async with app.state.db.engine.connect() as held:  # the only connection
            await held.execute(text("SELECT 1"))
            _assert_overloaded(await c.get("/api/v1/me", headers=auth))
        r = await c.get("/api/v1/me", headers=auth)
        assert r.status_code == 200, r.text


async def test_a_full_line_is_shed_with_503_and_the_waiting_request_completes(
    settings: Settings,
) -> None:
    async with _app_client(
        settings,
        database_pool_size=1,
        database_max_overflow=0,
        database_pool_timeout=20,
        max_concurrent_requests=1,
        request_queue_seconds=0.3,
    ) as (app, c):
        auth = await _signup(c, "queued")
        held = await app.state.db.engine.connect()
        await held.execute(text("SELECT 1"))
        first = asyncio.create_task(c.get("/api/v1/me", headers=auth))  # waits for the pool
        await asyncio.sleep(0.2)
        assert not first.done()
        _assert_overloaded(await c.get("/api/v1/me", headers=auth))  # the line is full
        await held.close()
        r = await asyncio.wait_for(first, 20)
        assert r.status_code == 200, r.text
        assert (await c.get("/api/v1/me", headers=auth)).status_code == 200


async def test_concurrency_limit_is_first_come_first_served_and_bounded() -> None:
    limit = ConcurrencyLimit(limit=2, wait=5.0, max_waiting=2)
    assert await limit.acquire() and await limit.acquire()
    order: list[int] = []

    async def waiter(n: int) -> None:
        assert await limit.acquire()
        order.append(n)

    tasks = [asyncio.create_task(waiter(n)) for n in (1, 2)]
    await asyncio.sleep(0.05)
    assert limit.waiting == 2
    assert not await limit.acquire()  # the line is full: shed at once
    limit.release()
    limit.release()
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert order == [1, 2] and limit.active == 2 and limit.shed == 1
    short = ConcurrencyLimit(limit=1, wait=0.05, max_waiting=10)
    assert await short.acquire()
    assert not await short.acquire()  # waited its time, then shed
    short.release()
    assert short.active == 0 and short.waiting == 0


async def test_a_waiter_cancelled_as_it_is_handed_a_slot_ends_cancelled_and_frees_it() -> None:
    """Python 3.11's `asyncio.wait_for` returns the result when the cancellation arrives
    as the inner future completes: the cancelled request would then run anyway."""
    for turns in range(6):  # cancel 0..5 loop turns after the slot is handed over
        limit = ConcurrencyLimit(limit=1, wait=5.0, max_waiting=4)
        assert await limit.acquire()
        task = asyncio.create_task(limit.acquire())
        await asyncio.sleep(0.01)
        assert limit.waiting == 1
        limit.release()  # hands the slot to the waiter
        for _ in range(turns):
            await asyncio.sleep(0)
        cancelled = task.cancel()
        try:
            got = await asyncio.wait_for(task, 5)
        except asyncio.CancelledError:
            assert limit.active == 0, f"a cancelled waiter kept the slot ({turns} turns)"
        else:
            assert got and not cancelled, f"the cancellation was swallowed ({turns} turns)"
            limit.release()
        assert limit.active == 0 and limit.waiting == 0


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_authenticated_reads_do_not_write_the_token_each_time(
    client: httpx.AsyncClient, make_user: MakeUser, app: Any
) -> None:
    user = await make_user("reader")
    assert (await client.get("/api/v1/me", headers=user.headers)).status_code == 200

    async def last_used() -> Any:
        async with app.state.db.session() as session:
            return (await session.scalars(select(Token.last_used_at))).all()

    first = await last_used()
    for _ in range(3):
        assert (await client.get("/api/v1/me", headers=user.headers)).status_code == 200
    assert await last_used() == first  # within a minute: not written again


def test_database_trouble_is_told_apart_from_bugs() -> None:
    import sqlite3

    from sqlalchemy import exc as sa_exc

    from townhall.store.db import DatabaseUnreachable, Trouble, trouble_of

    locked = sa_exc.OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))
    missing = sa_exc.OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: x"))
    duplicate = sa_exc.IntegrityError("INSERT", {}, Exception("duplicate key"))
    assert trouble_of(sa_exc.TimeoutError("QueuePool limit reached")) is Trouble.BUSY
    assert trouble_of(locked) is Trouble.BUSY
    assert trouble_of(DatabaseUnreachable("refused")) is Trouble.UNAVAILABLE
    assert trouble_of(missing) is None  # a bug, answered 500 and logged with its traceback
    assert trouble_of(duplicate) is None
    assert trouble_of(FileNotFoundError("x.ogg")) is None
    assert trouble_of(TimeoutError()) is None  # not every timeout is the database's
