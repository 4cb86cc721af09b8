"""Liveness."""

from __future__ import annotations

from typing import Literal

from townhall.api.schemas import Out


class HealthOut(Out):
    status: Literal["ok", "degraded"]
    database: Literal["up", "down"]
    bus: Literal["up", "down"]
    version: str
