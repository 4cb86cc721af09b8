"""Typed events of a live space, as they travel on the bus and over WebSockets."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Final

SPACE_STARTED: Final = "space.started"
SPACE_UPDATED: Final = "space.updated"
SPACE_ENDED: Final = "space.ended"
MEMBER_JOINED: Final = "member.joined"
MEMBER_LEFT: Final = "member.left"
MEMBER_REMOVED: Final = "member.removed"
HAND_RAISED: Final = "hand.raised"
HAND_LOWERED: Final = "hand.lowered"
INVITE_SENT: Final = "invite.sent"
INVITE_DECLINED: Final = "invite.declined"
ROLE_CHANGED: Final = "role.changed"
MUTE_CHANGED: Final = "mute.changed"
REACTION: Final = "reaction"
LEVELS: Final = "levels"
LISTENERS_COUNT: Final = "listeners.count"
RECORDING_CHANGED: Final = "recording.changed"
CAPTIONS_CHANGED: Final = "captions.changed"
CAPTION: Final = "caption"
MEDIA_MOVED: Final = "media.moved"
"""Members (`user_ids`) whose media connection is gone or must move: offer again."""

EVENT_TYPES: Final[frozenset[str]] = frozenset(
    {
        SPACE_STARTED,
        SPACE_UPDATED,
        SPACE_ENDED,
        MEMBER_JOINED,
        MEMBER_LEFT,
        MEMBER_REMOVED,
        HAND_RAISED,
        HAND_LOWERED,
        INVITE_SENT,
        INVITE_DECLINED,
        ROLE_CHANGED,
        MUTE_CHANGED,
        REACTION,
        LEVELS,
        LISTENERS_COUNT,
        RECORDING_CHANGED,
        CAPTIONS_CHANGED,
        CAPTION,
        MEDIA_MOVED,
    }
)


ACCESS: Final = "access"
"""The type of an `AccessChange` on a user's channel (internal: never sent to clients)."""

TOKEN_REVOKED: Final = "token_revoked"
ACCOUNT_DELETED: Final = "account_deleted"
SPACE_ACCESS: Final = "space"
ACCESS_REASONS: Final[frozenset[str]] = frozenset({TOKEN_REVOKED, ACCOUNT_DELETED, SPACE_ACCESS})


@dataclass(frozen=True)
class AccessChange:
    """Some access of one user ended: published on that user's channel once committed, and
    acted on by every node's WebSockets and media plane.

    `token_revoked` (`token_id`: signed out, or the token was revoked): the connections
    opened with that token close. `account_deleted`: all of the user's connections close.
    `space` (`space_id`): the user may have lost access to the space (blocked by its host,
    unfollowed the host of a followers-only space, removed): every connection re-checks
    it and stops that space's events and audio if so.
    """

    reason: str
    token_id: int | None = None
    space_id: str | None = None

    def ends_credential(self, token_id: int | None) -> bool:
        """Whether connections opened with this token must close."""
        if self.reason == ACCOUNT_DELETED:
            return True
        return self.reason == TOKEN_REVOKED and token_id is not None and token_id == self.token_id

    def to_data(self) -> dict[str, Any]:
        """The push's `data`: it travels as {"type": "access", "data": ...}."""
        return {"reason": self.reason, "token_id": self.token_id, "space_id": self.space_id}

    @classmethod
    def from_payload(cls, payload: Any) -> AccessChange | None:
        """The change a user-channel payload carries, or None for other payloads."""
        if not isinstance(payload, dict) or payload.get("type") != ACCESS:
            return None
        data = payload.get("data")
        if not isinstance(data, dict):
            return None
        reason, token_id, space_id = data.get("reason"), data.get("token_id"), data.get("space_id")
        if reason not in ACCESS_REASONS:
            return None
        if isinstance(token_id, bool) or not isinstance(token_id, int | None):
            token_id = None
        if not isinstance(space_id, str | None):
            space_id = None
        return cls(reason=str(reason), token_id=token_id, space_id=space_id)


VOLATILE_TYPES: Final[frozenset[str]] = frozenset({LEVELS, CAPTION, MEDIA_MOVED})
"""Events delivered live only: not kept for replay, and not advancing the space's seq
(they carry the seq of the latest kept event)."""


class EventFormatError(ValueError):
    """A serialised event could not be read back."""


@dataclass(frozen=True)
class Event:
    """One change in one space. `seq` and `at` are set by the bus on publish."""

    type: str
    space_id: str
    data: dict[str, Any] = field(default_factory=dict)
    seq: int = 0
    at: float = 0.0

    @property
    def volatile(self) -> bool:
        """Live only: not replayed, and `seq` is the space's current seq, not a new one."""
        return self.type in VOLATILE_TYPES

    def stamped(self, seq: int, at: float) -> Event:
        """A copy carrying the sequence number and time the bus assigned."""
        return replace(self, seq=seq, at=at)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, raw: Any) -> Event:
        if not isinstance(raw, dict):
            raise EventFormatError("an event must be a JSON object")
        try:
            type_, space_id, data = raw["type"], raw["space_id"], raw.get("data", {})
            seq, at = int(raw.get("seq", 0)), float(raw.get("at", 0.0))
        except (KeyError, TypeError, ValueError) as exc:
            raise EventFormatError(f"malformed event: {exc}") from exc
        if not isinstance(type_, str) or not isinstance(space_id, str):
            raise EventFormatError("event type and space_id must be strings")
        if not isinstance(data, dict):
            raise EventFormatError("event data must be an object")
        return cls(type=type_, space_id=space_id, data=data, seq=seq, at=at)

    @classmethod
    def from_json(cls, text: str | bytes) -> Event:
        try:
            raw = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise EventFormatError(f"event is not valid JSON: {exc}") from exc
        return cls.from_dict(raw)
