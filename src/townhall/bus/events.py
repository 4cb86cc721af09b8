"""Typed events of a live space, as they travel on the bus and over WebSockets."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

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
STAGE_LOCKED: Final = "stage.locked"

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
        STAGE_LOCKED,
    }
)


# -- the data of each type of event -----------------------------------------------------


class EventData(BaseModel):
    """The `data` of one type of event; `type` is the event's own (the envelope's).

    Published as models (`Event.of(space_id, data)`), read back as models
    (`event.payload()`). Optional fields that were not given are not sent."""

    model_config = ConfigDict(frozen=True)
    type: str

    def to_data(self) -> dict[str, Any]:
        """The JSON object that travels as the event's `data`."""
        return self.model_dump(exclude={"type"}, exclude_unset=True)


class UserRef(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: int
    handle: str
    display_name: str


class SpaceStarted(EventData):
    """The space went live."""

    type: Literal["space.started"] = "space.started"
    space: dict[str, Any] = Field(description="the space as the REST API returns it")


class SpaceUpdated(EventData):
    """Title, topics or settings changed (or the host changed)."""

    type: Literal["space.updated"] = "space.updated"
    space: dict[str, Any] = Field(description="the space as the REST API returns it")


class SpaceEnded(EventData):
    """The space ended or was cancelled."""

    type: Literal["space.ended"] = "space.ended"
    reason: str = Field(
        description="host_ended, host_gone (away longer than the grace time), host_deleted, "
        "moderator_ended, cancelled"
    )


class MemberJoined(EventData):
    """Someone joined."""

    type: Literal["member.joined"] = "member.joined"
    user: UserRef
    role: str


class MemberLeft(EventData):
    """Someone left."""

    type: Literal["member.left"] = "member.left"
    user_id: int
    reason: Literal["absent", "no_access"] | None = Field(
        default=None,
        description="absent: no connection for TOWNHALL_ABSENT_MEMBER_SECONDS; no_access: "
        "they lost access (blocked by the host, unfollowed the host of a followers-only "
        "space); left out when they left themselves",
    )


class MemberRemoved(EventData):
    """A host or co-host removed someone."""

    type: Literal["member.removed"] = "member.removed"
    user_id: int
    by: int


class HandRaised(EventData):
    """A listener raised a hand."""

    type: Literal["hand.raised"] = "hand.raised"
    user_id: int


class HandLowered(EventData):
    """A hand went down; `by` and `declined` when a moderator answered it."""

    type: Literal["hand.lowered"] = "hand.lowered"
    user_id: int
    by: int | None = None
    declined: bool | None = None


class InviteSent(EventData):
    """Invited on stage as `speaker` or `cohost`."""

    type: Literal["invite.sent"] = "invite.sent"
    user_id: int
    role: str
    by: int


class InviteDeclined(EventData):
    """The invitee declined (`role`: what they were invited as)."""

    type: Literal["invite.declined"] = "invite.declined"
    user_id: int
    role: str | None


class RoleChanged(EventData):
    """Role is host, cohost, speaker or listener."""

    type: Literal["role.changed"] = "role.changed"
    user_id: int
    role: str
    by: int


class MuteChanged(EventData):
    """Someone on stage muted or unmuted (themselves), or a moderator muted them."""

    type: Literal["mute.changed"] = "mute.changed"
    user_id: int
    muted: bool
    by: int


class ReactionSent(EventData):
    """One of the fixed reactions."""

    type: Literal["reaction"] = "reaction"
    user_id: int
    emoji: str


class StageLocked(EventData):
    """A host or co-host locked the stage (no new raised hands) or opened it again."""

    type: Literal["stage.locked"] = "stage.locked"
    locked: bool
    by: int


class Levels(EventData):
    """Speaking levels, 0..1, by user id (strings in JSON); from the media plane; volatile."""

    type: Literal["levels"] = "levels"
    levels: dict[str, float]


class MediaMoved(EventData):
    """These members' media connection is gone or must move (media workers): make a new
    offer. Volatile."""

    type: Literal["media.moved"] = "media.moved"
    user_ids: list[int]
    reason: Literal["worker_lost", "promoted"]


class ListenersCount(EventData):
    """How many people listen now."""

    type: Literal["listeners.count"] = "listeners.count"
    count: int


class RecordingChanged(EventData):
    """The host started (`on: true`) or paused recording; the media plane applies it."""

    type: Literal["recording.changed"] = "recording.changed"
    on: bool
    by: int


class CaptionsChanged(EventData):
    """The host switched captions (or clips) or the language; or, with `paused`, this
    node's recogniser died (`paused: true`, captions wait) or is back (`paused: false`)."""

    type: Literal["captions.changed"] = "captions.changed"
    on: bool
    language: str
    clips: bool | None = None
    by: int | None = None
    paused: bool | None = None


class Caption(EventData):
    """Live captions of one utterance: partial texts (`final: false`) are replaced by later
    ones of the same `utterance`; the final one ends it. Times in ms from the space's
    start. Volatile (the transcript keeps the final ones)."""

    type: Literal["caption"] = "caption"
    user_id: int
    text: str
    final: bool
    start_ms: int
    end_ms: int
    utterance: int | str


SpaceEventData = Annotated[
    SpaceStarted
    | SpaceUpdated
    | SpaceEnded
    | MemberJoined
    | MemberLeft
    | MemberRemoved
    | HandRaised
    | HandLowered
    | InviteSent
    | InviteDeclined
    | RoleChanged
    | MuteChanged
    | ReactionSent
    | StageLocked
    | Levels
    | MediaMoved
    | ListenersCount
    | RecordingChanged
    | CaptionsChanged
    | Caption,
    Field(discriminator="type"),
]
"""Any event's data, told apart by `type`."""

SPACE_EVENT_DATA: TypeAdapter[SpaceEventData] = TypeAdapter(SpaceEventData)


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

    @classmethod
    def of(cls, space_id: str, data: EventData) -> Event:
        """The event that carries `data` in `space_id` (not yet stamped by the bus)."""
        return cls(type=data.type, space_id=space_id, data=data.to_data())

    def payload(self) -> SpaceEventData | None:
        """The event's data as its model; None for an unknown type or malformed data.

        Read once per event however many subscribers ask (one published event reaches
        every subscriber of the space as the same object)."""
        cached: tuple[SpaceEventData | None] | None = self.__dict__.get("_payload")
        if cached is None:
            try:
                value = SPACE_EVENT_DATA.validate_python({**self.data, "type": self.type})
            except ValidationError:
                value = None
            cached = (value,)
            object.__setattr__(self, "_payload", cached)  # a cache, not a field
        return cached[0]

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
