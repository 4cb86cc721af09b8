"""The registry of media nodes in Redis: who is up, where, with what capacity and load.

Each node writes its entry every `HEARTBEAT_SECONDS` under `<prefix>media:node:<id>` with
an expiry of `EXPIRY_SECONDS` (a few missed beats) and adds its id to `<prefix>media:nodes`.
An entry carries an HMAC-SHA256 of its fields with the deployment's shared secret
(`TOWNHALL_MEDIA_SECRET`): an entry that does not verify, does not parse or holds values
out of bounds is ignored (a lying or broken node, or anyone else who can write to Redis,
cannot make an API node fail). The relay key of a node is derived from the secret and
its id (`relay_key`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

import redis.asyncio as aioredis
from pydantic import BaseModel, ConfigDict, Field, ValidationError

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 2.0
EXPIRY_SECONDS = 7.0
"""An entry lives this long after its last beat: three missed beats and it is gone."""
NODE_ID = r"^[A-Za-z0-9_.:\[\]-]{1,80}$"


class NodeEntry(BaseModel):
    """What a node says about itself (all of it signed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=NODE_ID)
    address: str = Field(min_length=1, max_length=64)
    port: int = Field(ge=1, le=65535)  # the control channel (TCP)
    relay_port: int = Field(ge=1, le=65535)  # the relay (UDP)
    capacity: int = Field(ge=1, le=1_000_000)  # connections it takes
    load: int = Field(ge=0, le=1_000_000)  # connections it holds
    pid: int = Field(0, ge=0)
    beat: int = Field(0, ge=0)  # counts its heartbeats (a new one means fresh load)


def redis_client(url: str, name: str) -> Any:
    """A client for the registry and placement: a bounded pool that callers wait on (a
    burst of offers waits its turn instead of failing with "Too many connections")."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=32,
        timeout=5.0,
        decode_responses=True,
        client_name=name,
        socket_connect_timeout=3.0,
        # No socket_timeout (see bus/redis.py: on Python 3.11 it can swallow a
        # cancellation); callers bound their calls with asyncio.timeout instead.
        socket_timeout=None,
    )
    return aioredis.Redis.from_pool(pool)


def _mac(secret: bytes, fields: dict[str, Any]) -> str:
    body = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(secret, b"node-entry:" + body, hashlib.sha256).hexdigest()


def sign(secret: bytes, entry: NodeEntry) -> str:
    fields = entry.model_dump()
    return json.dumps({"entry": fields, "mac": _mac(secret, fields)})


def verify(secret: bytes, raw: str | bytes | None) -> NodeEntry | None:
    """The entry, or None for anything unsigned, malformed or out of bounds."""
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
        fields, mac = doc["entry"], doc["mac"]
        if not isinstance(fields, dict) or not isinstance(mac, str):
            return None
        if not hmac.compare_digest(mac, _mac(secret, fields)):
            return None
        return NodeEntry.model_validate(fields)
    except (ValueError, TypeError, KeyError, ValidationError, RecursionError):
        return None


def relay_key(secret: bytes, node_id: str) -> bytes:
    """The key that seals the relay packets a node sends."""
    return hmac.digest(secret, b"relay:" + node_id.encode(), hashlib.sha256)


class Registry:
    """Reads and writes the entries (one Redis client, `decode_responses` off or on)."""

    def __init__(self, redis: Any, prefix: str, secret: bytes) -> None:
        self._redis = redis
        self._index = f"{prefix}media:nodes"
        self._prefix = f"{prefix}media:node:"
        self._secret = secret
        self.rejected = 0  # entries seen that did not verify
        self._warned: set[str] = set()

    def key(self, node_id: str) -> str:
        return self._prefix + node_id

    async def beat(self, entry: NodeEntry) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(self.key(entry.id), sign(self._secret, entry), px=int(EXPIRY_SECONDS * 1000))
            pipe.sadd(self._index, entry.id)
            await pipe.execute()

    async def leave(self, node_id: str) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.delete(self.key(node_id))
            pipe.srem(self._index, node_id)
            await pipe.execute()

    async def alive(self) -> dict[str, NodeEntry]:
        """Every registered node whose entry has not expired and verifies."""
        ids = sorted(_text(i) for i in await self._redis.smembers(self._index))
        if not ids:
            return {}
        raws = await self._redis.mget([self.key(i) for i in ids])
        nodes: dict[str, NodeEntry] = {}
        expired = []
        for node_id, raw in zip(ids, raws, strict=True):
            if raw is None:
                expired.append(node_id)
                continue
            entry = verify(self._secret, raw)
            if entry is None or entry.id != node_id:
                self.rejected += 1
                if node_id not in self._warned:  # once per node id, not at every read
                    self._warned.add(node_id)
                    log.warning("media node registry: ignoring the entry of %r", node_id[:80])
                continue
            nodes[node_id] = entry
        if expired:  # stale: its beats stopped (it may come back and add itself again)
            await self._redis.srem(self._index, *expired)
        return nodes


def _text(value: str | bytes) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value
