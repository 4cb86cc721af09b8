"""The bus contract: space events with sequence numbers and replay, user channels, presence."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from townhall.bus.events import Event

T = TypeVar("T")
log = logging.getLogger(__name__)

REPLAY_BUFFER_SIZE = 500
"""Events kept per space for reconnecting clients."""

SUBSCRIPTION_QUEUE_SIZE = 1000
"""Undelivered items one subscriber may hold before it is declared lagged."""

DEFAULT_PRESENCE_TTL = 60.0
"""Seconds a presence entry lives without being touched again."""


PUSH_KEY_TTL_SECONDS = 3600
"""How long the bus remembers a relayed user push's key (a second relay is dropped)."""


@dataclass(frozen=True)
class UserPush:
    """A payload for one user's channel, relayed from the outbox. `key` is unique per
    push: relaying the same key again (a retry, another node) delivers nothing."""

    user_id: int
    payload: dict[str, Any]
    key: str


class SubscriptionLagged(Exception):
    """The subscriber fell too far behind and missed items; it must resynchronise."""


class BusUnavailable(Exception):
    """The service behind the bus (Redis) does not answer; the bus has logged the outage
    (once), so callers retry or tell their client without logging it again."""


class SubscriptionClosed(Exception):
    """The bus shut down under the subscriber (raised instead of a silent stop)."""


class Subscription(Generic[T]):
    """A stream of items for one channel. Iterate with `async for`; always `close()` it.

    Iteration stops after `close()`. When the subscriber falls more than
    SUBSCRIPTION_QUEUE_SIZE items behind, the items already queued are delivered
    and then `SubscriptionLagged` is raised.

    Delivery is the fan-out's inner loop (once per item per local subscriber), so it is
    a deque append and, only when the consumer is waiting, one wake-up: a consumer busy
    or pacing itself (the WebSocket relay) is not woken per item, and takes what has
    queued meanwhile with `ready()`.
    """

    def __init__(
        self,
        channel: str,
        on_close: Callable[[Subscription[T]], Awaitable[None]],
        maxsize: int = SUBSCRIPTION_QUEUE_SIZE,
    ) -> None:
        self.channel = channel
        self._items: deque[T] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._maxsize = maxsize
        self._on_close = on_close
        self._closed = False
        self._lagged = False
        self._failed = False
        self.direct: Callable[[T], bool] | None = None
        """Set by a consumer that can act on an item synchronously (the WebSocket relay
        writing a frame): while the consumer waits with nothing queued, `deliver` offers
        it the item first, and queues it (waking the consumer) only if it returns False.
        So an idle consumer costs no wake-up per item, and order is kept: nothing is
        offered while anything is queued or the consumer is busy."""

    @property
    def closed(self) -> bool:
        return self._closed

    def _waiting(self) -> bool:
        """The consumer is waiting in `__anext__` (not busy, not pacing, not gone)."""
        return self._waiter is not None and not self._waiter.done()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def deliver(self, item: T) -> None:
        """Queue one item (called by the bus; never blocks)."""
        if self._closed or self._lagged or self._failed:
            return
        direct = self.direct
        if direct is not None and not self._items and self._waiting():
            try:
                if direct(item):
                    return
            except Exception:
                log.exception("bus: a subscriber's direct delivery failed; queued instead")
        if len(self._items) >= self._maxsize:
            self._lagged = True
        else:
            self._items.append(item)
        if self._waiter is not None:
            self._wake()

    def interrupt(self) -> None:
        """Declare the stream broken (e.g. the bus lost its connection): the subscriber
        gets SubscriptionLagged after the queued items and must resynchronise."""
        if not self._closed and not self._lagged and not self._failed:
            self._lagged = True
            self._wake()

    def fail(self) -> None:
        """End the stream with SubscriptionClosed (the bus is closing)."""
        if not self._closed and not self._failed:
            self._failed = True
            self._wake()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._wake()
        await self._on_close(self)

    def __aiter__(self) -> Subscription[T]:
        return self

    async def __anext__(self) -> T:
        while True:
            if self._items:
                return self._items.popleft()
            if self._closed:
                raise StopAsyncIteration
            if self._lagged:
                raise SubscriptionLagged(self.channel)
            if self._failed:
                raise SubscriptionClosed(self.channel)
            # One consumer per subscription: a cancelled wait leaves a done future, and
            # the next call makes a fresh one.
            if self._waiter is None or self._waiter.done():
                self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter

    def ready(self) -> list[T]:
        """The items already queued, taken without waiting (a relay sends them at once);
        the end of the stream, if reached, stays for the next `__anext__`."""
        items = list(self._items)
        self._items.clear()
        return items

    async def get(self, timeout: float) -> T:
        """The next item, or TimeoutError after `timeout` seconds (handy in tests)."""
        async with asyncio.timeout(timeout):
            return await self.__anext__()

    async def __aenter__(self) -> Subscription[T]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class Bus(Protocol):
    """What API nodes (and the media plane) use to share live state."""

    presence_ttl: float

    async def publish(self, event: Event) -> Event:
        """Assign the next per-space seq and the time, buffer it, fan it out; return it.

        A volatile event (`event.volatile`, e.g. levels) is only fanned out: it carries
        the space's current seq and is neither buffered nor counted."""
        ...

    async def relay(self, items: Sequence[Event | UserPush]) -> list[bool]:
        """Publish, in order, items that already carry their identity (from the outbox).

        An Event carries its seq: it is buffered and fanned out like `publish` unless the
        space's seq is already at or past it (published before, by this node or another),
        then it is dropped. A UserPush is sent unless its key was relayed before. Returns,
        per item, whether it went out. Idempotent: retrying a batch is always safe."""
        ...

    async def subscribe(self, space_id: str) -> Subscription[Event]:
        """Events of one space published from now on (on every node sharing the bus).

        A few events published just before may arrive too (in flight on a shared
        connection): consumers skip seqs they already have."""
        ...

    async def replay(self, space_id: str, after_seq: int) -> list[Event] | None:
        """Buffered events with seq > after_seq, in order; None if some are gone (or
        after_seq is ahead of the space): the caller must take a fresh snapshot."""
        ...

    async def last_seq(self, space_id: str) -> int:
        """The seq of the latest event published in the space (0 if none)."""
        ...

    async def publish_user(self, user_id: int, payload: dict[str, Any]) -> None:
        """Send a payload to every live subscriber of one user's channel."""
        ...

    async def subscribe_user(self, user_id: int) -> Subscription[dict[str, Any]]:
        """Payloads for one user published from now on."""
        ...

    async def touch(
        self, space_id: str, user_id: int, client_id: str = "", ttl: float | None = None
    ) -> None:
        """Mark a user's client as present in a space for `ttl` (default presence_ttl) s."""
        ...

    async def leave(self, space_id: str, user_id: int, client_id: str = "") -> None:
        """Remove one client's presence at once (a clean goodbye)."""
        ...

    async def present(self, space_id: str) -> set[int]:
        """Ids of users with at least one unexpired client in the space."""
        ...

    async def is_present(self, space_id: str, user_id: int) -> bool:
        """Whether the user has at least one unexpired client in the space."""
        ...

    async def ping(self) -> bool:
        """Whether the bus answers (health checks); never raises."""
        ...

    async def close(self) -> None:
        """Stop background work; open subscriptions end with SubscriptionClosed."""
        ...
