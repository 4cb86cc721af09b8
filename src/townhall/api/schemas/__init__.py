"""The API's request and response models, one module per area.

Requests refuse unknown fields (`Body`). Responses are what the services return; their
times are written as Python's `isoformat()` (`IsoTime`), as the API always has.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar

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
    (e.g. a space's `end_reason` before it ends): the API's answers keep their shape."""

    _optional: ClassVar[frozenset[str]] = frozenset()
    """The fields with a default: the only ones that can be unset (computed per class)."""

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        fields = cls.__pydantic_fields__
        cls._optional = frozenset(name for name, f in fields.items() if not f.is_required())

    # No return annotation: the JSON schema stays the model's own.
    @model_serializer(mode="wrap")
    def _omit_unset(self, handler: SerializerFunctionWrapHandler):  # type: ignore[no-untyped-def]
        data = handler(self)
        if self._optional:  # most models have none: nothing to look at
            for name in self._optional - self.__pydantic_fields_set__:
                data.pop(name, None)
        return data
