"""The single-node bus: everything in this process's memory."""

from __future__ import annotations

from collections import OrderedDict, defaultdict, deque
from collections.abc import Sequence
from typing import Any

from townhall.bus.base import (
    DEFAULT_PRESENCE_TTL,
    PUSH_KEY_TTL_SECONDS,
    REPLAY_BUFFER_SIZE,
    Subscription,
    UserPush,
)
from townhall.bus.events import SPACE_ENDED, Event
from townhall.clock import SYSTEM_CLOCK, Clock

ENDED_RETENTION_SECONDS = 3600.0
"""How long an ended space's counter and replay buffer are kept (for late reconnects)."""

PUSH_KEYS_KEPT = 100_000
"""At most this many relayed push keys are remembered (besides their time limit)."""


class MemoryBus:
    """In-process Bus. Sequence numbers restart with the process (clients then resnapshot)."""

    def __init__(
        self,
        replay_size: int = REPLAY_BUFFER_SIZE,
        presence_ttl: float = DEFAULT_PRESENCE_TTL,
        ended_retention: float = ENDED_RETENTION_SECONDS,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._clock = clock
        self.presence_ttl = presence_ttl
        self._ended_retention = ended_retention
        self._ended: dict[str, float] = {}  # space_id -> when space.ended was published
        self._next_prune = 0.0
        self._replay_size = replay_size
        self._seq: dict[str, int] = defaultdict(int)
        self._buffers: dict[str, deque[Event]] = {}
        self._space_subs: dict[str, set[Subscription[Event]]] = defaultdict(set)
        self._user_subs: dict[int, set[Subscription[dict[str, Any]]]] = defaultdict(set)
        self._pushed: OrderedDict[str, float] = OrderedDict()  # push key -> when relayed
        # space_id -> (user_id, client_id) -> expiry (monotonic clock)
        self._presence: dict[str, dict[tuple[int, str], float]] = defaultdict(dict)

    # -- space events -----------------------------------------------------

    async def publish(self, event: Event) -> Event:
        if event.volatile:  # live only: no new seq, not buffered
            stamped = event.stamped(self._seq.get(event.space_id, 0), self._clock.time())
            for sub in list(self._space_subs.get(event.space_id, ())):
                sub.deliver(stamped)
            return stamped
        seq = self._seq[event.space_id] + 1
        stamped = event.stamped(seq, self._clock.time())
        self._keep(stamped)
        return stamped

    async def relay(self, items: Sequence[Event | UserPush]) -> list[bool]:
        sent: list[bool] = []
        for item in items:
            if isinstance(item, UserPush):
                sent.append(self._push_once(item))
            elif item.volatile or item.seq <= self._seq.get(item.space_id, 0):
                sent.append(False)
            else:
                self._keep(item)
                sent.append(True)
        return sent

    def _push_once(self, push: UserPush) -> bool:
        now = self._clock.monotonic()
        while self._pushed and (
            len(self._pushed) > PUSH_KEYS_KEPT
            or next(iter(self._pushed.values())) < now - PUSH_KEY_TTL_SECONDS
        ):
            self._pushed.popitem(last=False)
        if push.key in self._pushed:
            return False
        self._pushed[push.key] = now
        for sub in list(self._user_subs.get(push.user_id, ())):
            sub.deliver(push.payload)
        return True

    def _keep(self, stamped: Event) -> None:
        """Count, buffer and fan out a kept event carrying its (new) seq."""
        self._seq[stamped.space_id] = stamped.seq
        event = stamped
        buffer = self._buffers.get(event.space_id)
        if buffer is None:
            buffer = self._buffers[event.space_id] = deque(maxlen=self._replay_size)
        buffer.append(stamped)
        for sub in list(self._space_subs.get(event.space_id, ())):
            sub.deliver(stamped)
        self._forget_ended(event)

    def _forget_ended(self, event: Event) -> None:
        """Drop counters and buffers of spaces that ended long ago (memory stays bounded)."""
        now = self._clock.monotonic()
        if event.type == SPACE_ENDED:
            self._ended[event.space_id] = now
        else:
            self._ended.pop(event.space_id, None)
        if now < self._next_prune:
            return
        self._next_prune = now + min(self._ended_retention, 60.0)
        for space_id, ended_at in list(self._ended.items()):
            if now - ended_at >= self._ended_retention:
                del self._ended[space_id]
                self._seq.pop(space_id, None)
                self._buffers.pop(space_id, None)

    async def subscribe(self, space_id: str) -> Subscription[Event]:
        sub: Subscription[Event] = Subscription(space_id, self._drop_space_sub)
        self._space_subs[space_id].add(sub)
        return sub

    async def _drop_space_sub(self, sub: Subscription[Event]) -> None:
        subs = self._space_subs.get(sub.channel)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._space_subs[sub.channel]

    async def replay(self, space_id: str, after_seq: int) -> list[Event] | None:
        last = self._seq.get(space_id, 0)
        if after_seq > last or after_seq < 0:
            return None
        if after_seq == last:
            return []
        buffer = self._buffers.get(space_id)
        if not buffer or buffer[0].seq > after_seq + 1:
            return None
        return [event for event in buffer if event.seq > after_seq]

    async def last_seq(self, space_id: str) -> int:
        return self._seq.get(space_id, 0)

    # -- user channels ----------------------------------------------------

    async def publish_user(self, user_id: int, payload: dict[str, Any]) -> None:
        for sub in list(self._user_subs.get(user_id, ())):
            sub.deliver(payload)

    async def subscribe_user(self, user_id: int) -> Subscription[dict[str, Any]]:
        sub: Subscription[dict[str, Any]] = Subscription(str(user_id), self._drop_user_sub)
        self._user_subs[user_id].add(sub)
        return sub

    async def _drop_user_sub(self, sub: Subscription[dict[str, Any]]) -> None:
        user_id = int(sub.channel)
        subs = self._user_subs.get(user_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._user_subs[user_id]

    # -- presence ---------------------------------------------------------

    async def touch(
        self, space_id: str, user_id: int, client_id: str = "", ttl: float | None = None
    ) -> None:
        lifetime = self.presence_ttl if ttl is None else ttl
        self._presence[space_id][(user_id, client_id)] = self._clock.monotonic() + lifetime

    async def leave(self, space_id: str, user_id: int, client_id: str = "") -> None:
        entries = self._presence.get(space_id)
        if entries is not None:
            entries.pop((user_id, client_id), None)
            if not entries:
                del self._presence[space_id]

    async def present(self, space_id: str) -> set[int]:
        entries = self._presence.get(space_id)
        if not entries:
            return set()
        now = self._clock.monotonic()
        for key in [key for key, expiry in entries.items() if expiry <= now]:
            del entries[key]
        if not entries:
            del self._presence[space_id]
            return set()
        return {user_id for user_id, _ in entries}

    async def is_present(self, space_id: str, user_id: int) -> bool:
        return user_id in await self.present(space_id)

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        for subs in list(self._space_subs.values()):
            for sub in list(subs):
                sub.fail()
        for user_subs in list(self._user_subs.values()):
            for user_sub in list(user_subs):
                user_sub.fail()
        self._space_subs.clear()
        self._user_subs.clear()
