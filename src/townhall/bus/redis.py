"""The many-node bus on Redis: INCR sequences, capped replay lists, pub/sub, presence zsets.

Keys (all under `prefix`): `seq:{space}` counter, `log:{space}` list of the last
events as JSON (oldest first), channels `space:{space}` and `user:{id}`, and
`presence:{space}` a sorted set of "user_id:client_id" scored by expiry time.
Publishing is one Lua script, so the counter, the log and the channel always
agree on order across nodes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from typing import Any

import redis.asyncio as aioredis
import redis.exceptions

from townhall.bus.base import (
    DEFAULT_PRESENCE_TTL,
    PUSH_KEY_TTL_SECONDS,
    REPLAY_BUFFER_SIZE,
    BusUnavailable,
    Subscription,
    UserPush,
)
from townhall.bus.events import SPACE_ENDED, Event, EventFormatError

log = logging.getLogger(__name__)

KEY_TTL_SECONDS = 7 * 24 * 3600
"""Idle spaces' counters and logs are forgotten after this long."""

ENDED_KEY_TTL_SECONDS = 3600
"""An ended space's counter and log are kept this long (for late reconnects)."""

SUBSCRIBE_TIMEOUT = 5.0
PING_TIMEOUT = 1.0
COMMAND_TIMEOUT = 3.0
"""Longest a Redis call may take (a frozen or partitioned Redis): then RedisUnavailable."""
CONNECT_TIMEOUT = 2.0


class RedisUnavailable(redis.exceptions.ConnectionError, BusUnavailable):
    """Redis did not answer (refused, dropped or timed out); the bus logged the outage."""


_OUTAGE_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


class _Outage:
    """Logs that Redis stopped answering once, and that it answers again once."""

    def __init__(self) -> None:
        self.since: float | None = None

    def failed(self, exc: BaseException) -> None:
        if self.since is None:
            self.since = time.monotonic()
            log.error("redis bus: Redis does not answer (%s); retrying until it does", _why(exc))

    def ok(self) -> None:
        if self.since is not None:
            down = time.monotonic() - self.since
            self.since = None
            log.warning("redis bus: Redis answers again (after %.1f s)", down)


def _why(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


# KEYS: seq, log, channel. ARGV: event JSON without seq (starts with "{"), replay size, key ttl.
_PUBLISH = """
local seq = redis.call('INCR', KEYS[1])
local body = '{"seq":' .. seq .. ',' .. string.sub(ARGV[1], 2)
redis.call('RPUSH', KEYS[2], body)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('PUBLISH', KEYS[3], body)
return seq
"""

# Relayed events carry their seq (from the outbox): kept and published only when the
# space's counter is below it, so a retry or a second node's relay of a seq is dropped.
# KEYS: seq, log, channel. ARGV: event JSON (with seq), seq, replay size, key ttl.
_RELAY = """
local seq = tonumber(ARGV[2])
if seq <= tonumber(redis.call('GET', KEYS[1]) or '0') then
  return 0
end
redis.call('SET', KEYS[1], seq, 'EX', ARGV[4])
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('PUBLISH', KEYS[3], ARGV[1])
return 1
"""

# A relayed user push goes out once per key. KEYS: key marker, channel. ARGV: payload JSON,
# marker ttl.
_PUSH_ONCE = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[2]) then
  redis.call('PUBLISH', KEYS[2], ARGV[1])
  return 1
end
return 0
"""

# Volatile events: published with the current seq, never counted nor logged.
# KEYS: seq, channel. ARGV: event JSON without seq (starts with "{").
_PUBLISH_VOLATILE = """
local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
local body = '{"seq":' .. seq .. ',' .. string.sub(ARGV[1], 2)
redis.call('PUBLISH', KEYS[2], body)
return seq
"""


POOL_CONNECTIONS = 64
"""Redis connections a bus opens at most (the pub/sub reader holds one)."""

REPLAY_MARGIN = 16
"""Extra log entries read by a replay, for events logged since its seq was read."""


class RedisBus:
    """Bus shared by every node connected to the same Redis (and key prefix)."""

    def __init__(
        self,
        url: str,
        prefix: str = "townhall:",
        replay_size: int = REPLAY_BUFFER_SIZE,
        presence_ttl: float = DEFAULT_PRESENCE_TTL,
    ) -> None:
        self.presence_ttl = presence_ttl
        self.prefix = prefix
        self._replay_size = replay_size
        # No socket_timeout: redis-py then bounds each send with asyncio.wait_for, which on
        # Python 3.11 swallows a cancellation arriving as the send completes (CPython
        # gh-86296), so a cancelled task could go on forever. Every call is bounded by
        # asyncio.timeout(COMMAND_TIMEOUT) in _call() instead.
        # A blocking pool: under a crowd, calls wait for one of its connections (within
        # their own bound) instead of failing with "Too many connections" past 100.
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=POOL_CONNECTIONS,
            timeout=None,
            decode_responses=True,
            client_name=f"{prefix}bus",
            socket_timeout=None,
            socket_connect_timeout=CONNECT_TIMEOUT,
        )
        self._redis = aioredis.Redis.from_pool(pool)  # owns the pool: aclose closes it
        self._publish_script = self._redis.register_script(_PUBLISH)
        self._publish_volatile_script = self._redis.register_script(_PUBLISH_VOLATILE)
        self._relay_script = self._redis.register_script(_RELAY)
        self._push_once_script = self._redis.register_script(_PUSH_ONCE)
        self._pubsub = self._redis.pubsub()
        self._subs: dict[str, set[Subscription[Any]]] = defaultdict(set)
        self._confirmations: dict[str, asyncio.Future[None]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._closed = False
        self.outage = _Outage()

    @contextlib.asynccontextmanager
    async def _call(self, timeout: float = COMMAND_TIMEOUT) -> AsyncIterator[None]:
        """Bound one Redis call; turn its failure into RedisUnavailable (logged once)."""
        try:
            async with asyncio.timeout(timeout):
                yield
        except (*_OUTAGE_ERRORS, TimeoutError) as exc:
            self.outage.failed(exc)
            raise RedisUnavailable(f"Redis does not answer ({_why(exc)})") from exc
        self.outage.ok()

    # -- keys -------------------------------------------------------------

    def _seq_key(self, space_id: str) -> str:
        return f"{self.prefix}seq:{space_id}"

    def _log_key(self, space_id: str) -> str:
        return f"{self.prefix}log:{space_id}"

    def _space_channel(self, space_id: str) -> str:
        return f"{self.prefix}space:{space_id}"

    def _user_channel(self, user_id: int) -> str:
        return f"{self.prefix}user:{user_id}"

    def _presence_key(self, space_id: str) -> str:
        return f"{self.prefix}presence:{space_id}"

    def _pushed_key(self, key: str) -> str:
        return f"{self.prefix}pushed:{key}"

    # -- space events -----------------------------------------------------

    async def publish(self, event: Event) -> Event:
        at = time.time()
        body = json.dumps(
            {"type": event.type, "space_id": event.space_id, "data": event.data, "at": at},
            separators=(",", ":"),
        )
        if event.volatile:
            async with self._call():
                seq = await self._publish_volatile_script(
                    keys=[self._seq_key(event.space_id), self._space_channel(event.space_id)],
                    args=[body],
                )
            return event.stamped(int(seq), at)
        async with self._call():
            seq = await self._publish_script(
                keys=[
                    self._seq_key(event.space_id),
                    self._log_key(event.space_id),
                    self._space_channel(event.space_id),
                ],
                args=[
                    body,
                    self._replay_size,
                    ENDED_KEY_TTL_SECONDS if event.type == SPACE_ENDED else KEY_TTL_SECONDS,
                ],
            )
        return event.stamped(int(seq), at)

    async def relay(self, items: Sequence[Event | UserPush]) -> list[bool]:
        sendable = [i for i in items if isinstance(i, UserPush) or not i.volatile]
        if not sendable:
            return [False] * len(items)
        async with self._redis.pipeline(transaction=False) as pipe:
            for item in sendable:
                if isinstance(item, UserPush):
                    await self._push_once_script(
                        keys=[self._pushed_key(item.key), self._user_channel(item.user_id)],
                        args=[json.dumps(item.payload), PUSH_KEY_TTL_SECONDS],
                        client=pipe,
                    )
                    continue
                body = json.dumps(
                    {
                        "seq": item.seq,
                        "type": item.type,
                        "space_id": item.space_id,
                        "data": item.data,
                        "at": item.at,
                    },
                    separators=(",", ":"),
                )
                ttl = ENDED_KEY_TTL_SECONDS if item.type == SPACE_ENDED else KEY_TTL_SECONDS
                await self._relay_script(
                    keys=[
                        self._seq_key(item.space_id),
                        self._log_key(item.space_id),
                        self._space_channel(item.space_id),
                    ],
                    args=[body, item.seq, self._replay_size, ttl],
                    client=pipe,
                )
            results = iter(await pipe.execute())
        return [
            (isinstance(i, UserPush) or not i.volatile) and bool(int(next(results))) for i in items
        ]

    async def subscribe(self, space_id: str) -> Subscription[Event]:
        return await self._subscribe(self._space_channel(space_id))

    async def replay(self, space_id: str, after_seq: int) -> list[Event] | None:
        async with self._call():
            last = int(await self._redis.get(self._seq_key(space_id)) or 0)
        if after_seq > last or after_seq < 0:
            return None
        if after_seq == last:
            return []
        # The log holds consecutive seqs in order: read (and parse) only its tail, with a
        # margin for events appended meanwhile; the whole log when that tail falls short.
        count = last - after_seq + REPLAY_MARGIN
        raw = await self._log_tail(space_id, count)
        events = _events_after(raw, after_seq)
        if events is None and len(raw) >= count:
            events = _events_after(await self._log_tail(space_id, 0), after_seq)
        return events

    async def _log_tail(self, space_id: str, count: int) -> list[Any]:
        """The last `count` entries of the space's log (0: all of them)."""
        async with self._call():
            return list(
                await self._redis.lrange(self._log_key(space_id), -count if count else 0, -1)
            )

    async def last_seq(self, space_id: str) -> int:
        async with self._call():
            return int(await self._redis.get(self._seq_key(space_id)) or 0)

    # -- user channels ----------------------------------------------------

    async def publish_user(self, user_id: int, payload: dict[str, Any]) -> None:
        async with self._call():
            await self._redis.publish(self._user_channel(user_id), json.dumps(payload))

    async def subscribe_user(self, user_id: int) -> Subscription[dict[str, Any]]:
        return await self._subscribe(self._user_channel(user_id))

    # -- presence ---------------------------------------------------------

    async def touch(
        self, space_id: str, user_id: int, client_id: str = "", ttl: float | None = None
    ) -> None:
        lifetime = self.presence_ttl if ttl is None else ttl
        key = self._presence_key(space_id)
        async with self._call(), self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {f"{user_id}:{client_id}": time.time() + lifetime})
            # The set lives as long as its longest-lived entry.
            pipe.expire(key, int(lifetime) + 1, nx=True)
            pipe.expire(key, int(lifetime) + 1, gt=True)
            await pipe.execute()

    async def leave(self, space_id: str, user_id: int, client_id: str = "") -> None:
        async with self._call():
            await self._redis.zrem(self._presence_key(space_id), f"{user_id}:{client_id}")

    async def present(self, space_id: str) -> set[int]:
        key = self._presence_key(space_id)
        async with self._call(), self._redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, "-inf", time.time())
            pipe.zrange(key, 0, -1)
            _, members = await pipe.execute()
        return {int(member.split(":", 1)[0]) for member in members}

    async def is_present(self, space_id: str, user_id: int) -> bool:
        return user_id in await self.present(space_id)

    async def ping(self) -> bool:
        try:
            async with self._call(PING_TIMEOUT):
                return bool(await self._redis.ping())
        except Exception:
            return False

    # -- pub/sub plumbing -------------------------------------------------

    async def _subscribe(self, channel: str) -> Subscription[Any]:
        if self._closed:
            raise RuntimeError("the bus is closed")
        sub: Subscription[Any] = Subscription(channel, self._unsubscribe)
        async with self._lock:
            first = not self._subs[channel]
            self._subs[channel].add(sub)
            if first:
                confirmed = asyncio.get_running_loop().create_future()
                self._confirmations[channel] = confirmed
                try:
                    async with self._call():
                        await self._pubsub.subscribe(channel)
                except BaseException:
                    # Redis unreachable: forget the channel entirely, so that the next
                    # attempt subscribes again (rather than waiting on this one).
                    self._subs[channel].discard(sub)
                    if not self._subs[channel]:
                        del self._subs[channel]
                        self._confirmations.pop(channel, None)
                    raise
                self._ensure_reader()
            else:
                confirmed = self._confirmations.get(channel) or _done_future()
        # Events published after the confirmation are certain to reach this node.
        try:
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT):
                await asyncio.shield(confirmed)
        except BaseException:
            await sub.close()
            raise
        return sub

    async def _unsubscribe(self, sub: Subscription[Any]) -> None:
        async with self._lock:
            subs = self._subs.get(sub.channel)
            if subs is None:
                return
            subs.discard(sub)
            if not subs:
                del self._subs[sub.channel]
                self._confirmations.pop(sub.channel, None)
                if not self._closed:
                    with contextlib.suppress(Exception):
                        async with self._call():
                            await self._pubsub.unsubscribe(sub.channel)

    def _ensure_reader(self) -> None:
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read_loop(), name="townhall-redis-bus")

    async def _read_loop(self) -> None:
        """Read pub/sub messages for as long as the bus lives, across Redis restarts.

        When the connection breaks, every local subscriber is interrupted (messages may
        have been lost: each must resynchronise), and reading is retried; redis-py
        reconnects and subscribes again to every channel still wanted. The outage is
        logged once and its end once."""
        failing = False
        while not self._closed:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not failing:
                    self.outage.failed(exc)
                    failing = True
                # Messages may have been lost: every local subscriber must resynchronise.
                for subs in list(self._subs.values()):
                    for sub in list(subs):
                        sub.interrupt()
                await asyncio.sleep(0.5)
                continue
            if failing:
                self.outage.ok()
                failing = False
            if message is not None:
                self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        channel = message.get("channel")
        if not isinstance(channel, str):
            return
        if message["type"] == "subscribe":
            confirmed = self._confirmations.get(channel)
            if confirmed is not None and not confirmed.done():
                confirmed.set_result(None)
            elif confirmed is not None:
                # Subscribed again without asking: the connection was re-established and
                # messages may have been lost meanwhile. Subscribers must resynchronise.
                for sub in list(self._subs.get(channel, ())):
                    sub.interrupt()
            return
        if message["type"] != "message":
            return
        try:
            item: Any
            if channel.startswith(f"{self.prefix}space:"):
                item = Event.from_json(message["data"])
            else:
                item = json.loads(message["data"])
        except (EventFormatError, json.JSONDecodeError):
            log.warning("redis bus: dropped a malformed message on %s", channel)
            return
        for sub in list(self._subs.get(channel, ())):
            sub.deliver(item)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for subs in list(self._subs.values()):
            for sub in list(subs):
                sub.fail()
        self._subs.clear()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        with contextlib.suppress(Exception):
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        await self._redis.aclose()


async def reachable(url: str, timeout: float = 3.0) -> str | None:
    """None when the Redis at `url` answers PING within `timeout` s, else why not (one line)."""
    client = aioredis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=None)
    try:
        async with asyncio.timeout(timeout):
            await client.ping()
    except Exception as exc:
        return str(exc) or type(exc).__name__
    finally:
        with contextlib.suppress(Exception):
            await client.aclose()
    return None


def _done_future() -> asyncio.Future[None]:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    future.set_result(None)
    return future


def _events_after(raw_log: list[Any], after_seq: int) -> list[Event] | None:
    """The logged events after `after_seq`; None when the entries do not reach back to it."""
    events = [Event.from_json(item) for item in raw_log]
    if not events or events[0].seq > after_seq + 1:
        return None
    return [event for event in events if event.seq > after_seq]
