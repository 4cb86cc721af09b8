"""TaskScope: every task ends with its scope, even one that swallows its cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from townhall.tasks import TaskScope, raise_if_cancelling


async def _swallows_once(rounds: list[int]) -> None:
    """Like a retry loop around a call whose library swallowed the CancelledError (as
    asyncio.wait_for does on Python 3.11 when its inner call completes at that moment):
    the first two cancellations are lost."""
    swallowed = 0
    while True:
        try:
            await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            if swallowed == 2:
                raise
            swallowed += 1
            task = asyncio.current_task()
            assert task is not None
            task.uncancel()
        rounds.append(1)
        if len(rounds) > 1000:
            return


async def test_scope_cancels_again_until_a_swallowing_task_ends() -> None:
    rounds: list[int] = []
    scope = TaskScope("t")
    task = scope.start(_swallows_once(rounds), "stubborn")
    await asyncio.sleep(0.05)
    async with asyncio.timeout(3):
        await scope.close()
    assert task.done() and len(rounds) < 1000
    assert task.get_name() == "t:stubborn"


async def test_a_task_that_never_ends_is_reported_by_name_within_the_grace(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = asyncio.Event()

    async def deaf() -> None:
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(0.001)

    scope = TaskScope("conn", grace=0.3)
    task = scope.start(deaf(), "deaf")
    await asyncio.sleep(0.02)  # inside its loop
    with caplog.at_level(logging.ERROR, logger="townhall.tasks"):
        async with asyncio.timeout(3):
            await scope.close()
    assert "conn:deaf" in caplog.text
    release.set()
    await asyncio.wait_for(task, 3)


async def test_raise_if_cancelling_ends_a_loop_whose_await_swallowed_the_cancel() -> None:
    rounds = 0

    async def loop() -> None:
        nonlocal rounds
        while True:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(0.01)
            rounds += 1
            raise_if_cancelling()

    task = asyncio.create_task(loop())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 3)
    assert rounds < 20


async def test_a_failing_task_is_reported_to_the_owner() -> None:
    failures: list[BaseException] = []
    scope = TaskScope("t", on_failure=lambda _task, exc: failures.append(exc))

    async def boom() -> None:
        raise ValueError("boom")

    scope.start(boom(), "boom")
    await asyncio.sleep(0.05)
    assert [str(e) for e in failures] == ["boom"]
    await scope.close()
    with pytest.raises(RuntimeError):
        scope.start(boom(), "late")
