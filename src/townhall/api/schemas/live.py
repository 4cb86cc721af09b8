"""What WebSocket clients send (`/api/v1/ws`): subscribe, unsubscribe, ping.

`CLIENT_MESSAGE` validates a decoded message; `client_message` turns its failures into the
error codes clients know (`unknown_op`, `invalid_space_id`, `invalid_last_seq`). Unknown
fields are ignored."""

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
