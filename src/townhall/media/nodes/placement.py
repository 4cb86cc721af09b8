"""Where a space mixes (its origin node) and which nodes relay it (its edges), in Redis.

Shared by every API node, so that two of them placing the same space at once agree:
`claim_origin` is one compare-and-set (a Lua script, atomic in Redis) that installs a
candidate only when the origin is still what the caller saw (none, or a node that is no
longer registered), and otherwise returns the origin that won. The edges of a space (the
relay subscriptions) are a set its origin node reads at every heartbeat. Keys expire a
day after the last placement or heartbeat of a node holding the space's room (nodes
renew them), so those of finished spaces do not stay.

`choose_origin`, `choose_new_origin` and `choose_seat` are the rules (no I/O): the least
loaded node under its ceiling (its capacity); speakers always on the origin; listeners on
the origin until it is full, then on the least loaded of the space's edges that has room,
then on any node that has room.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

KEY_TTL_SECONDS = 86400

_CLAIM = """
local current = redis.call('GET', KEYS[1])
if current == false then current = '' end
if current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return ARGV[2]
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return current
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(frozen=True)
class NodeLoad:
    id: str
    load: int
    capacity: int

    @property
    def full(self) -> bool:
        return self.load >= self.capacity

    @property
    def share(self) -> float:
        return self.load / self.capacity


def _least(nodes: list[NodeLoad]) -> NodeLoad | None:
    open_ = [n for n in nodes if not n.full]
    return min(open_, key=lambda n: (n.share, n.load, n.id)) if open_ else None


def choose_origin(nodes: Mapping[str, NodeLoad]) -> str | None:
    """A new space's origin: the least loaded node with room (None: all are full)."""
    best = _least(list(nodes.values()))
    return best.id if best is not None else None


def choose_new_origin(edges: set[str], nodes: Mapping[str, NodeLoad], on_stage: bool) -> str | None:
    """A space without a live origin: one of its edges (it takes over the mix and keeps
    its listeners) with room, else any node with room; for a speaker, the least loaded
    of its edges even when full (its speakers must be mixed somewhere)."""
    live_edges = {i: n for i, n in nodes.items() if i in edges}
    found = choose_origin(live_edges) or choose_origin(nodes)
    if found is None and on_stage and live_edges:
        found = min(live_edges.values(), key=lambda n: (n.share, n.id)).id
    return found


def choose_seat(
    origin: str, edges: set[str], nodes: Mapping[str, NodeLoad], on_stage: bool
) -> str | None:
    """The node for one connection to a space whose origin is `origin` (None: no room)."""
    here = nodes.get(origin)
    if on_stage or (here is not None and not here.full):
        return origin
    best = _least([n for i, n in nodes.items() if i in edges and i != origin])
    if best is None:
        best = _least([n for i, n in nodes.items() if i != origin])
    return best.id if best is not None else None


class RedisPlacement:
    def __init__(self, redis: Any, prefix: str) -> None:
        self._redis = redis
        self._prefix = f"{prefix}media:"
        self._claim = redis.register_script(_CLAIM)
        self._release = redis.register_script(_RELEASE)

    def _origin_key(self, space_id: str) -> str:
        return f"{self._prefix}origin:{space_id}"

    def _edges_key(self, space_id: str) -> str:
        return f"{self._prefix}edges:{space_id}"

    async def origin(self, space_id: str) -> str | None:
        value = await self._redis.get(self._origin_key(space_id))
        if value is None:
            return None
        return _text(value) or None

    async def claim_origin(self, space_id: str, seen: str | None, candidate: str) -> str:
        """Make `candidate` the origin if it is still `seen`; returns the origin now."""
        won = await self._claim(
            keys=[self._origin_key(space_id)], args=[seen or "", candidate, KEY_TTL_SECONDS]
        )
        return _text(won)

    async def release_origin(self, space_id: str, node_id: str) -> None:
        """The origin's room closed: forget it (only if it is still that node)."""
        await self._release(keys=[self._origin_key(space_id)], args=[node_id])

    async def edges(self, space_id: str) -> set[str]:
        return {_text(e) for e in await self._redis.smembers(self._edges_key(space_id))}

    async def add_edge(self, space_id: str, node_id: str) -> bool:
        """True when the node was not an edge of the space yet."""
        key = self._edges_key(space_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.sadd(key, node_id)
            pipe.expire(key, KEY_TTL_SECONDS)
            added, _ = await pipe.execute()
        return bool(added)

    async def drop_edge(self, space_id: str, node_id: str) -> None:
        await self._redis.srem(self._edges_key(space_id), node_id)


def _text(value: str | bytes) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
