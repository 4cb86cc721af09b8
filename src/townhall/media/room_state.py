"""What the media plane must make heard in a space, as the API's database says it.

Events on the bus tell the media plane about each change as it happens; when events may
have been lost (the bus lost its connection, a subscriber lagged, an event was committed
but never published), the bridge asks a `RoomStateSource` for the whole picture and makes
the room match it. The media plane defines the seam; the API implements it with the
database (the media plane never imports the store).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class RoomState:
    """One space as it should sound."""

    ended: bool
    """The space is over (or gone): its room must close."""
    members: frozenset[int] = frozenset()
    """Who may stay connected; anyone else's connection is closed."""
    on_stage: frozenset[int] = frozenset()
    """Members whose audio may be mixed (host, co-hosts, speakers)."""
    muted: frozenset[int] = frozenset()
    """Members on stage who are muted (never mixed)."""
    recording: bool = False
    """Whether the room's mix is being recorded."""
    captions: bool = False
    """Whether the room's speakers go to captions."""
    captions_language: str = "en"

    @classmethod
    def over(cls) -> RoomState:
        return cls(ended=True)


class RoomStateSource(Protocol):
    """Reads a space's current state (raises when it cannot be read: try again later)."""

    async def room_state(self, space_id: str) -> RoomState: ...
