"""Make members who vanished leave their live spaces (ghost members).

A member counts as present while they have a WebSocket subscription to the space or a
media connection to it (both keep the bus's presence fresh). People who close a tab,
lose their network or whose bot dies without `POST /leave` would otherwise stay in the
listener count and the hand queue forever. Runs on every API node next to the
host-grace watcher; the rule is `domain.presence`, the leave is
`spaces.leave_absent` (which checks again under the space's lock, so two nodes
sweeping at once, or a member who reconnects meanwhile, is harmless).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from townhall.api.services import spaces
from townhall.bus import Bus
from townhall.config import Settings
from townhall.domain.errors import DomainError
from townhall.domain.presence import AbsenceTracker, MemberKey
from townhall.store.db import Database

log = logging.getLogger(__name__)


class AbsentMemberSweeper:
    """A background task; `check_once` is one pass, `start`/`stop` run it repeatedly."""

    def __init__(
        self,
        db: Database,
        bus: Bus,
        settings: Settings,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.bus = bus
        self.settings = settings
        absent = settings.absent_member_seconds
        self.tracker = AbsenceTracker(absent)
        self.interval = interval if interval is not None else min(max(absent / 5, 0.05), 5.0)
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    async def check_once(self) -> list[MemberKey]:
        """Look at every member of every live space once; return those made to leave."""
        async with self.db.session() as session:
            members = await spaces.live_members(session)
        connected = {
            space_id: await self.bus.present(space_id) for space_id in {m[0] for m in members}
        }
        ghosts = self.tracker.observe(self._clock(), members, connected)
        swept: list[MemberKey] = []
        for space_id, user_id in ghosts:
            try:
                async with self.db.session() as session:
                    left = await spaces.leave_absent(
                        session, self.bus, self.settings, space_id, user_id
                    )
            except DomainError as exc:  # the space ended meanwhile, ...
                log.debug("absent members: not sweeping %s from %s: %s", user_id, space_id, exc)
                continue
            if left:
                log.info("absent members: user %s left %s (gone too long)", user_id, space_id)
                swept.append((space_id, user_id))
        return swept

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="townhall-absent-members")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.check_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("absent members: a check failed; retrying")
            await asyncio.sleep(self.interval)
