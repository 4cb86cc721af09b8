"""Liveness: is the database up, is the bus up."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from townhall.api.schemas.health import HealthOut

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthOut)
async def healthz(request: Request) -> JSONResponse:
    """200 when the database and the bus answer, 503 with which one is down otherwise."""
    state = request.app.state
    db_up = await state.db.ping()
    bus = getattr(state, "bus", None)
    ping = getattr(bus, "ping", None)
    bus_up = bus is not None and (ping is None or bool(await ping()))
    body = HealthOut(
        status="ok" if db_up and bus_up else "degraded",
        database="up" if db_up else "down",
        bus="up" if bus_up else "down",
        version=request.app.version,
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if db_up and bus_up else 503)
