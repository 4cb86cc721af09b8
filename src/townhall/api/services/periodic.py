"""A check that runs again and again in the background (the host-grace watcher, the
absent-member sweeper)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from townhall.bus import BusUnavailable
from townhall.store.db import trouble_of


class PeriodicCheck:
    """`check_once` is one pass; `start`/`stop` run it every `interval` seconds as an
    asyncio task named `task_name`. A failed pass is logged (to the subclass's module
    logger, prefixed with `label`) and the next one runs as usual.

    The interval defaults to a fifth of the time limit being watched, within 0.05 to 5
    seconds. While the database is down a pass fails quietly (the outage is logged once by
    the database)."""

    task_name = "townhall-periodic"
    label = "periodic check"

    def __init__(self, limit_seconds: float, interval: float | None = None) -> None:
        self.interval = interval if interval is not None else min(max(limit_seconds / 5, 0.05), 5.0)
        self._task: asyncio.Task[None] | None = None

    async def check_once(self) -> object:
        raise NotImplementedError

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.task_name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        log = logging.getLogger(type(self).__module__)
        while True:
            try:
                await self.check_once()
            except asyncio.CancelledError:
                raise
            except BusUnavailable:  # the bus logs its outage once
                log.debug("%s: the bus is unavailable; retrying", self.label)
            except Exception as exc:
                if trouble_of(exc) is not None:  # the database logs its outage once
                    log.debug("%s: the database is unavailable; retrying", self.label)
                else:
                    log.exception("%s: a check failed; retrying", self.label)
            await asyncio.sleep(self.interval)
