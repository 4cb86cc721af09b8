"""Structured concurrency for connection handlers: no task outlives its scope.

`asyncio.TaskGroup` waits for ever for a child that does not end when cancelled, and on
Python 3.11 one can do exactly that without meaning to: `asyncio.wait_for` swallows a
cancellation that arrives as its inner future completes (CPython gh-86296; redis-py and
asyncpg both use it). A TaskScope cancels its tasks *again* until they end, within a
bound, and says by name which one did not.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

log = logging.getLogger(__name__)

CANCEL_GRACE_SECONDS = 2.0
"""How long cancelled tasks get to end before they are reported and left behind."""

_RECANCEL_EVERY = 0.05


def raise_if_cancelling() -> None:
    """Raise CancelledError when the current task was asked to stop: for loops whose
    awaits may swallow the cancellation (see the module docstring)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def cancel_and_wait(
    tasks: Iterable[asyncio.Task[Any]], grace: float = CANCEL_GRACE_SECONDS
) -> set[asyncio.Task[Any]]:
    """Cancel the tasks and wait until they end, cancelling again those that swallowed
    it; after `grace` seconds give up. Returns the tasks still running (logged).

    If the caller itself is cancelled meanwhile, the tasks are still cancelled once more
    and the caller's CancelledError propagates."""
    pending = {task for task in tasks if not task.done()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    try:
        while pending:
            for task in pending:
                task.cancel()
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            _, pending = await asyncio.wait(pending, timeout=min(_RECANCEL_EVERY, remaining))
    except asyncio.CancelledError:
        for task in pending:
            task.cancel()
        raise
    if pending:
        log.error(
            "tasks did not end %.1f s after being cancelled: %s",
            grace,
            ", ".join(sorted(task.get_name() for task in pending)),
        )
    return pending


class TaskScope:
    """Tasks that belong to one connection (or other owner) and end with it.

    `start()` runs a coroutine as a named task in the scope; leaving `async with` (or
    `close()`) cancels every task still running and awaits it (see cancel_and_wait).
    A task that fails with an exception is reported to `on_failure`, which typically
    ends the connection (as a TaskGroup would), instead of dying unnoticed."""

    def __init__(
        self,
        name: str,
        on_failure: Callable[[asyncio.Task[Any], BaseException], None] | None = None,
        grace: float = CANCEL_GRACE_SECONDS,
    ) -> None:
        self.name = name
        self.grace = grace
        self._on_failure = on_failure
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    @property
    def tasks(self) -> frozenset[asyncio.Task[Any]]:
        return frozenset(self._tasks)

    def start(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        if self._closed:
            coro.close()
            raise RuntimeError(f"task scope {self.name} is closed")
        task = asyncio.create_task(coro, name=f"{self.name}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            return
        if self._on_failure is not None:
            self._on_failure(task, exc)
        else:
            log.error("%s failed", task.get_name(), exc_info=exc)

    async def close(self) -> None:
        self._closed = True
        await cancel_and_wait(set(self._tasks), self.grace)

    async def __aenter__(self) -> TaskScope:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
