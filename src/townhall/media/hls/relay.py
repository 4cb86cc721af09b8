"""HLS across nodes through Redis: the packaging node publishes, every other node mirrors.

Keys under `{prefix}hls:{space}:`: `init` (the stream's init segment), `log` (the last
parts and the end, capped at `LOG_LENGTH` entries, about 32 s) and the channel
`{prefix}hls:{space}` on which each entry is also published. An entry is one JSON header
line followed by the bytes. Keys expire when the packager stops refreshing them.

A node asked for a space it does not package subscribes to its channel, loads the log
into a local `HlsWindow`, and keeps it current from the channel until nobody asked for
it for `IDLE_SECONDS`. When Redis goes away, publishing drops parts (logged) and the
mirrors resubscribe and reload the log once it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from townhall.media.hls.window import HlsWindow, PartRecord

log = logging.getLogger(__name__)

LOG_LENGTH = 64
KEY_TTL_SECONDS = 60
IDLE_SECONDS = 60.0
QUEUE_LIMIT = 256
RETRY_SECONDS = 0.5
MISS_SECONDS = 1.0  # a space with no stream in Redis is not asked again for this long


def encode_entry(header: dict[str, Any], data: bytes = b"") -> bytes:
    return json.dumps(header, separators=(",", ":")).encode() + b"\n" + data


def decode_entry(raw: bytes) -> tuple[dict[str, Any], bytes]:
    head, _, data = raw.partition(b"\n")
    header = json.loads(head)
    if not isinstance(header, dict):
        raise ValueError("not an HLS relay entry")
    return header, data


def record_of(header: dict[str, Any], data: bytes) -> PartRecord:
    return PartRecord(
        stream=str(header["s"]),
        msn=int(header["m"]),
        index=int(header["i"]),
        duration=float(header["d"]),
        segment_start=float(header["t"]),
        data=data,
    )


@dataclass
class _Mirror:
    space_id: str
    window: HlsWindow | None = None
    used: float = field(default_factory=time.monotonic)
    loaded: asyncio.Event = field(default_factory=asyncio.Event)


class RedisHlsRelay:
    def __init__(self, url: str, prefix: str = "townhall:") -> None:
        self._prefix = f"{prefix}hls:"
        self._redis = aioredis.Redis.from_url(url, client_name=f"{prefix}hls")
        self._queue: asyncio.Queue[tuple[str, bytes, bool]] = asyncio.Queue(QUEUE_LIMIT)
        self._writer: asyncio.Task[None] | None = None
        self._inits: dict[str, bytes] = {}  # init entries of the streams packaged here
        self._mirrors: dict[str, _Mirror] = {}
        self._misses: dict[str, float] = {}
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    def _key(self, space_id: str, name: str) -> str:
        return f"{self._prefix}{space_id}:{name}"

    def _channel(self, space_id: str) -> str:
        return f"{self._prefix}{space_id}"

    # -- publishing (the packaging node) ------------------------------------------

    def start_stream(self, space_id: str, stream: str, init: bytes) -> None:
        entry = encode_entry({"k": "init", "s": stream}, init)
        self._inits[space_id] = entry
        self._enqueue(space_id, entry, True)

    def publish_part(self, space_id: str, record: PartRecord) -> None:
        header = {
            "k": "part",
            "s": record.stream,
            "m": record.msn,
            "i": record.index,
            "d": record.duration,
            "t": record.segment_start,
        }
        self._enqueue(space_id, encode_entry(header, record.data), False)

    def end_stream(self, space_id: str, stream: str) -> None:
        self._inits.pop(space_id, None)
        self._enqueue(space_id, encode_entry({"k": "end", "s": stream}), False)

    def _enqueue(self, space_id: str, entry: bytes, is_init: bool) -> None:
        if self._closed:
            return
        try:
            self._queue.put_nowait((space_id, entry, is_init))
        except asyncio.QueueFull:
            log.warning("HLS relay: Redis is behind; a part of %s is dropped", space_id)
            return
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="townhall-hls-relay-writer")

    async def _write(self) -> None:
        while not self._queue.empty():
            space_id, entry, is_init = self._queue.get_nowait()
            init_key, log_key = self._key(space_id, "init"), self._key(space_id, "log")
            try:
                async with self._redis.pipeline(transaction=True) as pipe:
                    if is_init:
                        pipe.set(init_key, entry, ex=KEY_TTL_SECONDS)
                        pipe.delete(log_key)
                    else:
                        pipe.rpush(log_key, entry)
                        pipe.ltrim(log_key, -LOG_LENGTH, -1)
                        pipe.expire(log_key, KEY_TTL_SECONDS)
                        init = self._inits.get(space_id)
                        if init is not None:  # rewritten: back at once after a Redis restart
                            pipe.set(init_key, init, ex=KEY_TTL_SECONDS)
                        else:
                            pipe.expire(init_key, KEY_TTL_SECONDS)
                    pipe.publish(self._channel(space_id), entry)
                    await pipe.execute()
            except (RedisError, OSError) as exc:
                log.warning("HLS relay: publishing to Redis failed (%s); part dropped", exc)

    # -- mirroring (every other node) -----------------------------------------------

    async def mirror(self, space_id: str) -> HlsWindow | None:
        if self._closed:
            return None
        self._reap()
        mirror = self._mirrors.get(space_id)
        if mirror is None:
            missed = self._misses.get(space_id)
            if missed is not None and time.monotonic() - missed < MISS_SECONDS:
                return None
            mirror = self._mirrors[space_id] = _Mirror(space_id)
            try:
                await self._subscribe(space_id)
                await self._load(mirror)
            except (RedisError, OSError) as exc:
                log.warning("HLS relay: cannot mirror %s (%s)", space_id, exc)
                await self._forget(space_id)
                return None
            if mirror.window is None:
                await self._forget(space_id)
                self._misses[space_id] = time.monotonic()
                return None
        mirror.used = time.monotonic()
        return mirror.window

    async def _subscribe(self, space_id: str) -> None:
        async with self._lock:
            if self._pubsub is None:
                self._pubsub = self._redis.pubsub()
            await self._pubsub.subscribe(self._channel(space_id))
            if self._reader is None or self._reader.done():
                self._reader = asyncio.create_task(self._read(), name="townhall-hls-relay-reader")

    async def _forget(self, space_id: str) -> None:
        self._mirrors.pop(space_id, None)
        with contextlib.suppress(RedisError, OSError):
            async with self._lock:
                if self._pubsub is not None:
                    await self._pubsub.unsubscribe(self._channel(space_id))

    async def _load(self, mirror: _Mirror) -> None:
        """(Re)build the mirror from Redis: the init segment, then the log."""
        init_raw = await self._redis.get(self._key(mirror.space_id, "init"))
        entries = await self._redis.lrange(self._key(mirror.space_id, "log"), 0, -1)
        if not isinstance(init_raw, bytes):
            return
        header, init = decode_entry(init_raw)
        stream = str(header.get("s"))
        if mirror.window is None or mirror.window.stream != stream:
            if mirror.window is not None:
                mirror.window.end()
            mirror.window = HlsWindow(mirror.space_id, stream, init)
        for raw in entries:
            if isinstance(raw, bytes):
                self._apply(mirror, raw)
        mirror.loaded.set()

    def _apply(self, mirror: _Mirror, raw: bytes) -> None:
        try:
            header, data = decode_entry(raw)
            kind = header.get("k")
            if kind == "init":
                if mirror.window is not None:
                    mirror.window.end()
                mirror.window = HlsWindow(mirror.space_id, str(header["s"]), data)
            elif mirror.window is None or header.get("s") != mirror.window.stream:
                return
            elif kind == "part":
                mirror.window.add(record_of(header, data))
            elif kind == "end":
                mirror.window.end()
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("HLS relay: bad entry for %s (%s)", mirror.space_id, exc)

    async def _read(self) -> None:
        while not self._closed:
            try:
                pubsub = self._pubsub
                if pubsub is None or not self._mirrors:
                    return
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is None:
                    continue
                channel = message["channel"]
                if isinstance(channel, bytes):
                    channel = channel.decode()
                mirror = self._mirrors.get(str(channel).removeprefix(self._prefix))
                if mirror is not None and isinstance(message["data"], bytes):
                    self._apply(mirror, message["data"])
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.warning("HLS relay: lost Redis (%s); resubscribing", exc)
                while not self._closed and not await self._resubscribe():
                    await asyncio.sleep(RETRY_SECONDS)

    async def _resubscribe(self) -> bool:
        """A fresh subscription to every mirrored space, and each mirror reloaded from
        the log; False while Redis cannot be reached."""
        await asyncio.sleep(RETRY_SECONDS)
        try:
            async with self._lock:
                old, self._pubsub = self._pubsub, self._redis.pubsub()
                if old is not None:
                    with contextlib.suppress(Exception):
                        await old.aclose()
                channels = [self._channel(s) for s in self._mirrors]
                if channels:
                    await self._pubsub.subscribe(*channels)
            for mirror in list(self._mirrors.values()):
                await self._load(mirror)
        except (RedisError, OSError):
            return False
        return True

    def _reap(self) -> None:
        now = time.monotonic()
        for space_id, mirror in list(self._mirrors.items()):
            if now - mirror.used > IDLE_SECONDS:
                self._mirrors.pop(space_id, None)
                if self._pubsub is not None:
                    task = asyncio.ensure_future(self._forget(space_id))
                    task.add_done_callback(lambda t: t.exception())

    async def close(self) -> None:
        self._closed = True
        for task in (self._writer, self._reader):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
        with contextlib.suppress(Exception):
            await self._redis.aclose()
