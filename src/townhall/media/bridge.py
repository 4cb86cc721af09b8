"""Keeps the media plane in step with a space's events on the bus.

The API decides (roles, mutes, removals) and publishes events; the bridge applies them to
the MediaServer: `role.changed` promotes or demotes, `mute.changed` mutes, `member.removed`
and `member.left` close the member's connection, `recording.changed` starts or pauses the
recording of the room's mix, `space.ended` ends the room (and finishes its recording).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol

from townhall.bus.base import Subscription, SubscriptionClosed, SubscriptionLagged
from townhall.bus.events import (
    MEMBER_LEFT,
    MEMBER_REMOVED,
    MUTE_CHANGED,
    RECORDING_CHANGED,
    ROLE_CHANGED,
    SPACE_ENDED,
    Event,
)
from townhall.media.server import MediaServer

log = logging.getLogger(__name__)

STAGE_ROLES = frozenset({"host", "cohost", "speaker"})


class SubscribingBus(Protocol):
    async def subscribe(self, space_id: str) -> Subscription[Event]: ...


def _user_id(data: dict[str, Any]) -> int | None:
    value = data.get("user_id")
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    try:
        return int(value)
    except ValueError:
        return None


class MediaBridge:
    """One bus subscription per space that has live audio on this node."""

    def __init__(self, bus: SubscribingBus, media: MediaServer) -> None:
        self._bus = bus
        self._media = media
        self._watching: dict[str, asyncio.Task[None]] = {}
        self._starting: dict[str, asyncio.Future[None]] = {}
        media.on_room_closed(self._room_closed)

    def watching(self, space_id: str) -> bool:
        return space_id in self._watching

    async def watch(self, space_id: str) -> None:
        """Follow a space's events from now on (idempotent). Call before connecting members."""
        if space_id in self._watching:
            return
        starting = self._starting.get(space_id)
        if starting is not None:
            await asyncio.shield(starting)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._starting[space_id] = future
        try:
            subscription = await self._bus.subscribe(space_id)
            self._watching[space_id] = asyncio.create_task(
                self._run(space_id, subscription), name=f"townhall-media-bridge-{space_id}"
            )
        finally:
            del self._starting[space_id]
            future.set_result(None)

    async def unwatch(self, space_id: str) -> None:
        task = self._watching.pop(space_id, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def close(self) -> None:
        for space_id in list(self._watching):
            await self.unwatch(space_id)

    async def apply(self, event: Event) -> None:
        """Apply one event to the media server (unknown or malformed events are ignored)."""
        space_id, data = event.space_id, event.data if isinstance(event.data, dict) else {}
        if event.type == SPACE_ENDED:
            await self._media.end_space(space_id)
            return
        if event.type == RECORDING_CHANGED:
            self._media.set_recording(space_id, data.get("on") is True)
            return
        user_id = _user_id(data)
        if user_id is None:
            if event.type in (ROLE_CHANGED, MUTE_CHANGED, MEMBER_REMOVED, MEMBER_LEFT):
                log.warning("ignoring %s without a user_id in %s", event.type, space_id)
            return
        if event.type == ROLE_CHANGED:
            self._media.set_on_stage(space_id, user_id, data.get("role") in STAGE_ROLES)
        elif event.type == MUTE_CHANGED:
            self._media.set_muted(space_id, user_id, data.get("muted") is not False)
        elif event.type in (MEMBER_REMOVED, MEMBER_LEFT):
            await self._media.disconnect(space_id, user_id)

    async def _run(self, space_id: str, subscription: Subscription[Event]) -> None:
        try:
            for _ in range(1_000):  # bounded resubscriptions after lag
                try:
                    async for event in subscription:
                        try:
                            await self.apply(event)
                        except Exception:
                            log.exception("media bridge failed on %s in %s", event.type, space_id)
                        if self._watching.get(space_id) is not asyncio.current_task():
                            return  # the room closed (ended, or its last member left)
                    return
                except SubscriptionLagged:
                    log.warning("media bridge lagged on %s; resubscribing", space_id)
                    await subscription.close()
                    subscription = await self._bus.subscribe(space_id)
                except SubscriptionClosed:
                    return
        finally:
            with contextlib.suppress(Exception):
                await subscription.close()
            if self._watching.get(space_id) is asyncio.current_task():
                del self._watching[space_id]

    def _room_closed(self, space_id: str) -> None:
        task = self._watching.pop(space_id, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
