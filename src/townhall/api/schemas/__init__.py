"""The API's request and response models, one module per area.

Requests refuse unknown fields (`Body`). Responses are what the services return; their
times are written as Python's `isoformat()` (`IsoTime`), as the API always has.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, PlainSerializer

IsoTime = Annotated[
    datetime, PlainSerializer(lambda d: d.isoformat(), return_type=str, when_used="json")
]


class Body(BaseModel):
    """A request body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    """A response."""
