"""Load shedding: a bound on the API requests one process serves at once.

Past the bound, requests wait in line (first come, first served) for up to
`TOWNHALL_REQUEST_QUEUE_SECONDS`; a request that waited that long, or finds the line
already full, is answered 503 `overloaded` with `Retry-After` instead of piling onto the
database pool until something times out with a 500. WebSockets, static files and
`/healthz` are not counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque

from starlette.types import ASGIApp, Receive, Scope, Send

from townhall.api.errors import unavailable_error
from townhall.store.db import Trouble

COUNTED_PREFIX = "/api/"


class ConcurrencyLimit:
    """At most `limit` holders at once; up to `max_waiting` more wait in FIFO order, each
    for at most `wait` seconds. `acquire` returns False when the caller is shed."""

    def __init__(self, limit: int, wait: float, max_waiting: int) -> None:
        self.limit = limit
        self.wait = wait
        self.max_waiting = max_waiting
        self.active = 0
        self.shed = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self) -> bool:
        if self.active < self.limit and not self._waiters:
            self.active += 1
            return True
        if len(self._waiters) >= self.max_waiting or self.wait <= 0:
            self.shed += 1
            return False
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self.wait):  # not wait_for: it can swallow a cancel
                await asyncio.shield(waiter)
        except TimeoutError:
            if waiter.done() and not waiter.cancelled():
                return True  # handed a slot just as the wait ran out
            waiter.cancel()
            self._discard(waiter)
            self.shed += 1
            return False
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot, but the caller is gone
            else:
                waiter.cancel()
                self._discard(waiter)
            raise
        return True

    def release(self) -> None:
        """Hand the slot to the longest waiter, or free it."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes on: `active` stays
                return
        self.active -= 1

    def _discard(self, waiter: asyncio.Future[None]) -> None:
        with contextlib.suppress(ValueError):
            self._waiters.remove(waiter)


class LoadShedding:
    """ASGI middleware applying a `ConcurrencyLimit` to HTTP requests under /api/."""

    def __init__(self, app: ASGIApp, limit: int, wait: float) -> None:
        self.app = app
        self.limit = ConcurrencyLimit(limit, wait, max_waiting=max(100, 16 * limit))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(COUNTED_PREFIX):
            await self.app(scope, receive, send)
            return
        if not await self.limit.acquire():
            await _overloaded(send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.limit.release()


async def _overloaded(send: Send) -> None:
    body, retry = unavailable_error(Trouble.BUSY)
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"retry-after", str(retry).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
