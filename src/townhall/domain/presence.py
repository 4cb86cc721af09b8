"""Who is still in a live space: the rule that sweeps out members who vanished.

A member counts as present while any of their clients is connected to the space (a
WebSocket subscription or a media connection: the bus's presence). Someone who closed
the tab or whose bot died without leaving becomes a ghost once nothing of theirs has
been connected for longer than the absence limit. The host is never swept: the host's
absence is the host-grace rule's business (it ends the space instead).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

MemberKey = tuple[str, int]
"""(space id, user id)"""


def absent_too_long(last_seen: float, now: float, absent_seconds: float) -> bool:
    """True when someone last seen at `last_seen` has been gone longer than the limit."""
    return now - last_seen > absent_seconds


def may_be_swept(user_id: int, host_id: int) -> bool:
    """Everyone but the space's host may be made to leave for being absent."""
    return user_id != host_id


@dataclass
class AbsenceTracker:
    """Remembers when each member was last seen connected and names the ghosts.

    Pure: the caller brings the members, who is connected, and the time. A member seen
    for the first time gets the full limit from then (a node that just started, or a
    member who just joined and is still opening their connection, is never swept early).
    """

    absent_seconds: float
    last_seen: dict[MemberKey, float] = field(default_factory=dict)

    def observe(
        self,
        now: float,
        members: Iterable[tuple[str, int, int]],
        connected: Mapping[str, Collection[int]],
    ) -> list[MemberKey]:
        """`members`: (space id, user id, host id) of everyone in a live space now;
        `connected`: per space, the users with a live connection. Returns the ghosts."""
        ghosts: list[MemberKey] = []
        current: set[MemberKey] = set()
        for space_id, user_id, host_id in members:
            key = (space_id, user_id)
            current.add(key)
            if user_id in connected.get(space_id, ()):
                self.last_seen[key] = now
                continue
            last = self.last_seen.setdefault(key, now)
            if may_be_swept(user_id, host_id) and absent_too_long(last, now, self.absent_seconds):
                ghosts.append(key)
        for key in set(self.last_seen) - current:
            del self.last_seen[key]  # left, swept, or the space ended
        return ghosts
