"""Closes media connections whose credential or access ended.

For every user with a media connection on this node, one subscription to that user's bus
channel (so on every node, whichever node made the change) acts on `AccessChange`s:
`token_revoked` closes the connections opened with that token, `account_deleted` all of
the user's, `space` re-checks (with `allowed`) the connection to that space and closes it
if the user may no longer be in it. When the channel lagged (changes may be lost, e.g. a
Redis outage), every connection of the user is re-checked. The subscription ends with the
user's last connection on this node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from townhall.bus.base import Subscription, SubscriptionClosed, SubscriptionLagged
from townhall.bus.events import AccessChange
from townhall.media.server import MediaServer

log = logging.getLogger(__name__)

RETRY_FIRST_SECONDS = 0.25
RETRY_MAX_SECONDS = 5.0

Allowed = Callable[[str, int, int | None], Awaitable[bool]]
"""`allowed(space_id, user_id, credential)`: may this connection stay open?"""


class UserChannelBus(Protocol):
    async def subscribe_user(self, user_id: int) -> Subscription[dict[str, Any]]: ...


class MediaAccess:
    """One user-channel subscription per user connected to this node's media server."""

    def __init__(self, bus: UserChannelBus, media: MediaServer, allowed: Allowed) -> None:
        self._bus = bus
        self._media = media
        self._allowed = allowed
        self._following: dict[int, asyncio.Task[None]] = {}
        self._starting: dict[int, asyncio.Future[None]] = {}
        media.on_member_gone(self._member_gone)

    def following(self, user_id: int) -> bool:
        return user_id in self._following

    async def track(self, user_id: int) -> None:
        """Follow the user's channel from now on (idempotent); call once the connection is
        registered, then check it once more: a change made before this returns may have
        been missed. While the bus is away the connection is not refused: a background
        task subscribes as soon as the bus answers, then checks the connections again."""
        task = self._following.get(user_id)
        if task is not None and not task.done():
            return
        starting = self._starting.get(user_id)
        if starting is not None:
            await asyncio.shield(starting)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._starting[user_id] = future
        try:
            subscription: Subscription[dict[str, Any]] | None
            try:
                subscription = await self._bus.subscribe_user(user_id)
            except Exception as exc:
                log.warning("media access: cannot follow user %s yet (%s); retrying", user_id, exc)
                subscription = None
            self._following[user_id] = asyncio.create_task(
                self._run(user_id, subscription), name=f"townhall-media-access-{user_id}"
            )
        finally:
            del self._starting[user_id]
            future.set_result(None)

    async def _subscribe(self, user_id: int) -> Subscription[dict[str, Any]] | None:
        """Subscribe again, retrying with jittered backoff while the bus is away and the
        user still has a connection here, then re-check their connections (changes made
        meanwhile were missed). None once they have no connection left."""
        delay = RETRY_FIRST_SECONDS
        while self._media.connections_of(user_id):
            try:
                subscription = await self._bus.subscribe_user(user_id)
            except Exception:
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, RETRY_MAX_SECONDS)
                continue
            try:
                await self.recheck(user_id)
            except Exception:
                log.exception("media access: re-checking user %s failed", user_id)
            return subscription
        return None

    async def apply(self, user_id: int, change: AccessChange) -> None:
        """Close the user's connections on this node that `change` ends."""
        for space_id, credential in self._media.connections_of(user_id):
            ends = change.ends_credential(credential) or (
                change.space_id == space_id and not await self._allowed(space_id, user_id, None)
            )
            if ends:
                await self._media.disconnect(space_id, user_id)

    async def recheck(self, user_id: int) -> None:
        """Check every connection of the user again (after changes may have been lost)."""
        for space_id, credential in self._media.connections_of(user_id):
            if not await self._allowed(space_id, user_id, credential):
                await self._media.disconnect(space_id, user_id)

    async def _run(self, user_id: int, subscription: Subscription[dict[str, Any]] | None) -> None:
        try:
            while True:
                if subscription is None:
                    subscription = await self._subscribe(user_id)
                    if subscription is None:
                        return
                try:
                    async for payload in subscription:
                        change = AccessChange.from_payload(payload)
                        if change is None:
                            continue
                        try:
                            await self.apply(user_id, change)
                        except Exception:
                            log.exception("media access: applying %s failed", change)
                        if not self._media.connections_of(user_id):
                            return  # their last connection here closed
                    return
                except SubscriptionLagged:
                    with contextlib.suppress(Exception):
                        await subscription.close()
                    subscription = None  # subscribed again (with retries) and re-checked
                except SubscriptionClosed:
                    return
        finally:
            # Forgotten before anything is awaited: a connection made from now on is
            # tracked by a new subscription.
            if self._following.get(user_id) is asyncio.current_task():
                del self._following[user_id]
            if subscription is not None:
                with contextlib.suppress(Exception):
                    await subscription.close()

    def _member_gone(self, space_id: str, user_id: int) -> None:
        if self._media.connections_of(user_id):
            return
        task = self._following.get(user_id)
        if task is not None and task is not asyncio.current_task():
            del self._following[user_id]
            task.cancel()

    async def close(self) -> None:
        tasks = list(self._following.values())
        self._following.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
