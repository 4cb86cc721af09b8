"""The API's request and response models, one module per area.

Requests refuse unknown fields (`Body`). Responses are what the services return; their
times are written as Python's `isoformat()` (`IsoTime`), as the API always has.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    PlainSerializer,
    SerializerFunctionWrapHandler,
    model_serializer,
)

IsoTime = Annotated[
    datetime, PlainSerializer(lambda d: d.isoformat(), return_type=str, when_used="json")
]


class Body(BaseModel):
    """A request body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    """A response. Optional fields that do not apply are left unset, and then not sent
    (e.g. a space's `end_reason` before it ends): the API's answers keep their shape.

    Only a model with optional fields keeps the serializer that leaves them out: the
    others (most: a snapshot's hundred listeners) serialize without calling back into
    Python for each instance."""

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if all(f.is_required() for f in cls.__pydantic_fields__.values()):
            # Every field is always set: drop `_omit_unset` from this class's schema
            # (a subclass that adds an optional field gets it back from Out).
            cls.__pydantic_decorators__.model_serializers.clear()
            cls.model_rebuild(force=True, raise_errors=False)

    # No return annotation: the JSON schema stays the model's own.
    @model_serializer(mode="wrap")
    def _omit_unset(self, handler: SerializerFunctionWrapHandler):  # type: ignore[no-untyped-def]
        data = handler(self)
        for name in type(self).__pydantic_fields__.keys() - self.__pydantic_fields_set__:
            data.pop(name, None)
        return data
