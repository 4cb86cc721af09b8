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

import logging
import time
from collections.abc import Callable

from townhall.api.services import spaces
from townhall.api.services.periodic import PeriodicCheck
from townhall.bus import Bus
from townhall.config import Settings
from townhall.domain.errors import DomainError
from townhall.domain.presence import AbsenceTracker, MemberKey
from townhall.store.db import Database

log = logging.getLogger(__name__)


class AbsentMemberSweeper(PeriodicCheck):
    """A background task; `check_once` is one pass, `start`/`stop` run it repeatedly."""

    task_name = "townhall-absent-members"
    label = "absent members"

    def __init__(
        self,
        db: Database,
        bus: Bus,
        settings: Settings,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        absent = settings.absent_member_seconds
        super().__init__(absent, interval)
        self.db = db
        self.bus = bus
        self.settings = settings
        self.tracker = AbsenceTracker(absent)
        self._clock = clock

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
