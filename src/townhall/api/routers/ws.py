"""The one WebSocket per client: live space events and notifications."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from townhall.api.ws import serve_client

router = APIRouter(tags=["live"])


@router.websocket("/api/v1/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    """Auth by `?token=`, Bearer header or session cookie; protocol in docs/EVENTS.md."""
    await serve_client(websocket)
