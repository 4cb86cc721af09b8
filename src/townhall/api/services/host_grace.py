"""End live spaces whose host has been gone longer than the grace time.

Runs on every API node. Presence comes from the bus (shared across nodes with
Redis); a host who never showed up gets the grace time from when this node
first saw the space live. Handing the host role to a co-host moves the watch to
the new host. Ending twice (two nodes at once) is harmless: the second attempt
is refused by the space's state machine and ignored here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from townhall.api.services import spaces
from townhall.api.services.periodic import PeriodicCheck
from townhall.bus import Bus
from townhall.domain.errors import DomainError
from townhall.domain.spaces import EndReason, host_grace_expired
from townhall.store.db import Database

log = logging.getLogger(__name__)


class HostGraceWatcher(PeriodicCheck):
    """A background task; `check_once` is the whole rule, `start`/`stop` run it repeatedly."""

    task_name = "townhall-host-grace"
    label = "host grace"

    def __init__(
        self,
        db: Database,
        bus: Bus,
        grace_seconds: float,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(grace_seconds, interval)
        self.db = db
        self.bus = bus
        self.grace_seconds = grace_seconds
        self._clock = clock
        self._last_seen: dict[tuple[str, int], float] = {}

    async def check_once(self) -> list[str]:
        """Look at every live space once; return the ids of the spaces it ended."""
        async with self.db.session() as session:
            live = await spaces.live_space_hosts(session)
        now = self._clock()
        ended: list[str] = []
        watched: set[tuple[str, int]] = set()
        for space_id, host_id in live:
            key = (space_id, host_id)
            watched.add(key)
            present = await self.bus.is_present(space_id, host_id)
            if present:
                self._last_seen[key] = now
            last_seen = self._last_seen.setdefault(key, now)
            if host_grace_expired(present, last_seen, now, self.grace_seconds):
                if await self._end(space_id):
                    ended.append(space_id)
                watched.discard(key)
        for key in set(self._last_seen) - watched:
            del self._last_seen[key]
        return ended

    async def _end(self, space_id: str) -> bool:
        try:
            async with self.db.session() as session:
                await spaces.end_space(session, self.bus, space_id, EndReason.HOST_GONE)
        except DomainError as exc:  # already ended elsewhere, or the host came back
            log.debug("host grace: not ending %s: %s", space_id, exc.message)
            return False
        log.info("host grace: ended space %s, its host was gone too long", space_id)
        return True
