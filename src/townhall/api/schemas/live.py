"""What WebSocket clients send (`/api/v1/ws`): subscribe, unsubscribe, ping; and what the
server answers besides events: snapshot, subscribed, unsubscribed, error, pong.

`CLIENT_MESSAGE` validates a decoded message; `client_message` turns its failures into the
error codes clients know (`unknown_op`, `invalid_space_id`, `invalid_last_seq`). Unknown
fields are ignored. Server messages leave out the optional fields they do not set."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
)

from townhall.api.schemas import Out
from townhall.api.schemas.spaces import Snapshot

MAX_SPACE_ID_CHARS = 64


def _encodable(text: str) -> str:
    """Refuse text with lone surrogates (valid in JSON, not in UTF-8 or the database)."""
    text.encode("utf-8")  # UnicodeEncodeError is a ValueError: a validation error
    return text


SpaceId = Annotated[
    StrictStr,
    Field(min_length=1, max_length=MAX_SPACE_ID_CHARS, description="a space's id"),
    AfterValidator(_encodable),
]


class Subscribe(BaseModel):
    """Watch a space: a snapshot then every event, or (`last_seq`) what was missed."""

    op: Literal["subscribe"]
    space_id: SpaceId
    last_seq: Annotated[StrictInt, Field(ge=0)] | None = None


class Unsubscribe(BaseModel):
    op: Literal["unsubscribe"]
    space_id: SpaceId


class Ping(BaseModel):
    """Keep the connection (and presence in every watched space) alive."""

    op: Literal["ping"]


ClientMessage = Annotated[Subscribe | Unsubscribe | Ping, Field(discriminator="op")]
CLIENT_MESSAGE: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)

_FIELD_ERRORS = {
    "space_id": ("invalid_space_id", "space_id must be a space's id string"),
    "last_seq": ("invalid_last_seq", "last_seq must be a non-negative integer"),
}
UNKNOWN_OP = ("unknown_op", "op must be one of subscribe, unsubscribe, ping")


class InvalidMessage(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def client_message(raw: dict[str, Any]) -> ClientMessage:
    """The message as its model, or `InvalidMessage` naming the first field at fault."""
    try:
        return CLIENT_MESSAGE.validate_python(raw)
    except ValidationError as exc:
        fields = {str(e["loc"][1]) for e in exc.errors() if len(e["loc"]) > 1}
        for name, (code, message) in _FIELD_ERRORS.items():
            if name in fields:
                raise InvalidMessage(code, message) from None
        raise InvalidMessage(*UNKNOWN_OP) from None


# -- server -> client (besides events) -------------------------------------------------


class _ServerMessage(Out):
    """Sent with its `type` always (a default, but never left out as unset)."""

    def model_post_init(self, context: Any, /) -> None:
        self.model_fields_set.add("type")


class SnapshotMessage(_ServerMessage):
    """The space as it is at `seq` (after a subscribe without a usable `last_seq`)."""

    type: Literal["snapshot"] = "snapshot"
    seq: int
    space_id: str
    data: Snapshot


class Subscribed(_ServerMessage):
    """Watching the space from `seq` on; `replayed`: events resent, -1 after a snapshot."""

    type: Literal["subscribed"] = "subscribed"
    space_id: str
    seq: int
    replayed: int


class Unsubscribed(_ServerMessage):
    """No longer watching the space; `reason` when the server ended it (removed, ...)."""

    type: Literal["unsubscribed"] = "unsubscribed"
    space_id: str
    reason: str | None = None


class ErrorBody(Out):
    code: str
    message: str


class ErrorMessage(_ServerMessage):
    """A message could not be acted on (docs/EVENTS.md lists the codes)."""

    type: Literal["error"] = "error"
    error: ErrorBody
    space_id: str | None = None


class Pong(_ServerMessage):
    type: Literal["pong"] = "pong"


ServerMessage = SnapshotMessage | Subscribed | Unsubscribed | ErrorMessage | Pong
