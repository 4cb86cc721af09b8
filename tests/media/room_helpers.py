"""Helpers for media tests: connect a real aiortc client straight to a MediaServer."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from townhall.client.media import MediaClient, connect
from townhall.media.server import MediaServer


async def join(
    server: MediaServer,
    space_id: str,
    user_id: int,
    clients: list[MediaClient],
    *,
    on_stage: bool,
    muted: bool = False,
    track: Any = None,
) -> MediaClient:
    """Connect one aiortc client straight to `server.answer` and wait until it is up."""
    answer = functools.partial(server.answer, space_id, user_id, on_stage=on_stage, muted=muted)
    client = await connect(answer, track=track)
    clients.append(client)
    await client.wait_connected()
    return client


async def server_side_connected(server: MediaServer, space_id: str, user_id: int) -> None:
    """Wait (bounded) until the server's end of a member's connection is connected too."""
    for _ in range(100):
        room = server.room(space_id)
        participant = room.participants.get(user_id) if room else None
        if participant is not None and participant.pc.connectionState == "connected":
            return
        await asyncio.sleep(0.02)
    raise TimeoutError(f"user {user_id} never connected on the server side")
