"""The API's side of the media nodes: find them in Redis, connect, place and route.

`NodePool` stands where the in-process `MediaServer` (or the `WorkerPool`) stands for the
API. Every second it reads the registry (`registry.py`): a node it does not know yet is
connected to (TCP, mutually authenticated with the shared secret, `auth.py`); a node whose
entry expired or whose channel ended is dropped, and the members this API node placed on
it are told to offer again (`media.moved`); a node that registers again is connected to
again and placed on. Placement (`placement.py`) is in Redis, shared by every API node:
the origin of a space is claimed atomically, its edges are a set its origin relays to.
A node's load is what it last reported, or the connections this API node seated on it if
more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from dataclasses import replace
from typing import Any

from pydantic import ValidationError
from redis.exceptions import RedisError

from townhall.bus.events import Event
from townhall.client.media import MEDIA_MOVED
from townhall.config import Settings
from townhall.domain.errors import Conflict, Invalid, RateLimited, Unavailable
from townhall.media.nodes import auth
from townhall.media.nodes.placement import (
    NodeLoad,
    RedisPlacement,
    choose_new_origin,
    choose_seat,
)
from townhall.media.nodes.registry import NodeEntry, Registry, redis_client
from townhall.media.room_state import RoomStateSource
from townhall.media.workers.pool import LISTENERS_MOVE_AFTER, Allowed
from townhall.media.workers.proxy import room_state_to_wire
from townhall.media.workers.stats import WorkerReport, WorkerStats, report_of
from townhall.media.workers.wire import (
    Ask,
    Channel,
    ChannelClosed,
    Disconnect,
    MemberGone,
    Message,
    Offer,
    Ready,
    Refused,
    RelayTo,
    RoomClosed,
    SetMember,
    SetRecording,
    StatsRequest,
)

log = logging.getLogger(__name__)

REFRESH_SECONDS = 1.0
CONNECT_TIMEOUT = 5.0
REDIS_TIMEOUT = 5.0


class NodeLink:
    """One registered media node and this API node's channel to it."""

    def __init__(self, entry: NodeEntry, index: int) -> None:
        self.entry = entry
        self.index = index  # for the overview and metrics (in order of discovery)
        self.channel: Channel | None = None
        self.task: asyncio.Task[None] | None = None
        self.ready = False
        self.lost = False  # its channel ended: dead to this API node until it is back
        self.pid = 0
        self.restarts = 0  # times connected again after losing it
        self.last_stats: WorkerStats | None = None

    @property
    def id(self) -> str:
        return self.entry.id

    @property
    def alive(self) -> bool:
        return self.ready and self.channel is not None and not self.channel.closed

    def seen(self, entry: NodeEntry) -> None:
        self.entry = entry

    def load(self, seated: int) -> NodeLoad:
        """Its load: what it last reported, or the connections this API node seated on it
        if more (those placed since its last beat; other API nodes' show at its next)."""
        return NodeLoad(self.id, max(self.entry.load, seated), self.entry.capacity)


class NodePool:
    """The media nodes registered in Redis, behind the MediaServer's interface."""

    def __init__(
        self,
        settings: Settings,
        bus: Any,
        states: RoomStateSource,
        allowed: Allowed,
    ) -> None:
        self._bus = bus
        self._states = states
        self._allowed = allowed
        self._secret = settings.media_secret.encode()
        self._redis = redis_client(settings.redis_url, f"{settings.redis_prefix}api")
        self.registry = Registry(self._redis, settings.redis_prefix, self._secret)
        self.placement = RedisPlacement(self._redis, settings.redis_prefix)
        self.links: dict[str, NodeLink] = {}
        self.registered: dict[str, NodeEntry] = {}
        self.seats: dict[str, dict[int, tuple[str, bool]]] = {}  # space: user: (node, stage)
        self.origins: dict[str, str] = {}  # as last placed through this API node
        self._indexes = 0
        self._watcher: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self._failing = False

    # -- life ---------------------------------------------------------------

    async def start(self) -> None:
        """Find the registered nodes and connect to them (returns within a few seconds)."""
        await self.refresh()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CONNECT_TIMEOUT):
                while self.links and not all(link.alive for link in self.links.values()):
                    await asyncio.sleep(0.05)
        self._watcher = asyncio.create_task(self._watch(), name="townhall-media-nodes")

    async def _watch(self) -> None:
        while not self._closed:
            await asyncio.sleep(REFRESH_SECONDS)
            await self.refresh()

    async def refresh(self) -> None:
        """Read the registry: connect to new nodes, drop expired ones."""
        try:
            async with asyncio.timeout(REDIS_TIMEOUT):
                entries = await self.registry.alive()
        except Exception as exc:
            if not self._failing:
                log.warning("media nodes: reading the registry failed (%s)", exc)
            self._failing = True
            return
        self._failing = False
        self.registered = entries
        for node_id, entry in entries.items():
            link = self.links.get(node_id)
            if link is None:
                link = self.links[node_id] = NodeLink(entry, self._indexes)
                self._indexes += 1
            else:
                link.seen(entry)
            if link.task is None or link.task.done():
                link.task = asyncio.create_task(
                    self._connect(link), name=f"townhall-node-{node_id}"
                )
        for node_id in [i for i in self.links if i not in entries]:
            link = self.links.pop(node_id)
            log.warning("media node %s expired (no heartbeat)", node_id)
            if link.channel is not None:
                link.channel.close()
            if link.task is not None:
                link.task.cancel()

    async def _connect(self, link: NodeLink) -> None:
        entry = link.entry
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                reader, writer = await asyncio.open_connection(entry.address, entry.port)
            await auth.api_side(reader, writer, self._secret, entry.id)
        except (OSError, TimeoutError, auth.NotAuthenticated) as exc:
            log.warning("media node %s: cannot connect (%s)", entry.id, exc)
            await asyncio.sleep(REFRESH_SECONDS)
            return
        channel = link.channel = Channel(reader, writer)
        try:
            await channel.serve(lambda m: self._handle(link, m))
        finally:
            channel.close()
            was_ready, link.ready = link.ready, False
            if was_ready and not self._closed:
                link.lost = True
                self._lost(link)

    def _lost(self, link: NodeLink) -> None:
        """A node's channel ended: tell the members placed on it to offer again."""
        log.warning("media node %s is gone", link.id)
        for space_id, seats in self.seats.items():
            gone = {u: stage for u, (node, stage) in seats.items() if node == link.id}
            for user_id in gone:
                del seats[user_id]
            speakers = sorted(u for u, stage in gone.items() if stage)
            listeners = sorted(u for u, stage in gone.items() if not stage)
            self._tell_moved(space_id, speakers)
            self._spawn(self._tell_later(space_id, listeners))

    def _tell_moved(self, space_id: str, user_ids: list[int]) -> None:
        if user_ids:
            data = {"user_ids": user_ids, "reason": "worker_lost"}
            self._spawn(self._publish(Event(MEDIA_MOVED, space_id, data)))

    async def _tell_later(self, space_id: str, user_ids: list[int]) -> None:
        if user_ids:
            await asyncio.sleep(LISTENERS_MOVE_AFTER)
            self._tell_moved(space_id, user_ids)

    async def close(self) -> None:
        self._closed = True
        for link in self.links.values():
            if link.channel is not None:
                link.channel.close()
        tasks = [t for t in (self._watcher, *(link.task for link in self.links.values())) if t]
        for task in [*tasks, *self._tasks]:
            task.cancel()
        for task in [*tasks, *self._tasks]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._redis.aclose()

    # -- the MediaServer's interface ------------------------------------------

    def room(self, space_id: str) -> None:
        """Rooms live in the nodes."""
        return None

    def webrtc_listeners(self, space_id: str, except_user: int | None = None) -> int:
        """Listeners this API node placed (each node enforces nothing more)."""
        seats = self.seats.get(space_id, {})
        return sum(1 for u, (_n, stage) in seats.items() if not stage and u != except_user)

    async def answer(
        self,
        space_id: str,
        user_id: int,
        sdp: object,
        type: object,
        *,
        on_stage: bool,
        muted: bool,
        credential: int | None = None,
    ) -> tuple[str, str]:
        """Place the member on a node and have it answer; raises like MediaServer.answer."""
        if self._closed:
            raise Conflict("media_closed", "the media server is shutting down")
        if not isinstance(sdp, str) or not isinstance(type, str):
            raise Invalid("bad_sdp", "sdp and type must be strings", field="sdp")
        try:
            async with asyncio.timeout(REDIS_TIMEOUT):
                origin, target = await self._place(space_id, on_stage)
        except (RedisError, ConnectionError, TimeoutError, OSError) as exc:  # Redis is down
            raise Unavailable("media_unavailable", "media placement is unavailable") from exc
        link = self.links[target]
        previous = self.seats.get(space_id, {}).get(user_id)
        if previous is not None and previous[0] != target:
            self._send(previous[0], Disconnect(space_id=space_id, user_id=user_id))
        self.seats.setdefault(space_id, {})[user_id] = (target, on_stage)
        self.origins[space_id] = origin
        offer = Offer(
            space_id=space_id,
            user_id=user_id,
            sdp=sdp,
            type=type,
            on_stage=on_stage,
            muted=muted,
            credential=credential,
            edge=target != origin,
        )
        try:
            if link.channel is None:
                raise ChannelClosed("no channel")
            value = await link.channel.request(offer)
            answer = (str(value["sdp"]), str(value["type"]))
        except Refused as exc:
            self._unseat(space_id, user_id, target)
            refusal = exc.refusal
            error_class = {"invalid": Invalid, "rate_limited": RateLimited}.get(
                refusal.error, Conflict if refusal.error == "conflict" else Unavailable
            )
            raise error_class(refusal.code, refusal.message, field=refusal.field) from exc
        except (ChannelClosed, TimeoutError, KeyError, TypeError) as exc:
            self._unseat(space_id, user_id, target)
            raise Unavailable("media_unavailable", "the media node did not answer") from exc
        return answer

    async def _place(self, space_id: str, on_stage: bool) -> tuple[str, str]:
        """(origin, the node for this connection); raises Unavailable."""
        seated: dict[str, int] = {}
        for seats in self.seats.values():
            for node_id, _stage in seats.values():
                seated[node_id] = seated.get(node_id, 0) + 1
        nodes = {i: link.load(seated.get(i, 0)) for i, link in self.links.items() if link.alive}
        if not nodes:
            raise Unavailable("media_unavailable", "no media node is running; retry shortly")
        origin = await self.placement.origin(space_id)
        edges = await self.placement.edges(space_id)
        if origin is None or (origin not in nodes and self._dead(origin)):
            # None yet, or it died: claim one (one of its edges if it has any).
            candidate = choose_new_origin(edges, nodes, on_stage)
            if candidate is None:
                raise Unavailable("media_full", "every media node is full; retry shortly")
            won = await self.placement.claim_origin(space_id, origin, candidate)
            if not won:  # the dead origin was released meanwhile: claim the free key
                won = await self.placement.claim_origin(space_id, None, candidate)
            if won == candidate and candidate in edges:
                await self.placement.drop_edge(space_id, candidate)
                edges.discard(candidate)
                for edge in sorted(edges & set(nodes)):
                    self._send(candidate, RelayTo(space_id=space_id, edge=edge, on=True))
            origin = won
        if origin not in nodes:
            raise Unavailable("media_unavailable", "the space's media node is not reachable yet")
        target = choose_seat(origin, edges, nodes, on_stage)
        if target is None:
            raise Unavailable("media_full", "every media node is full; retry shortly")
        if target != origin:
            await self.placement.add_edge(space_id, target)
            # The origin also reads its edges from Redis at each beat; this starts it now.
            self._send(origin, RelayTo(space_id=space_id, edge=target, on=True))
        return origin, target

    def _dead(self, node_id: str) -> bool:
        """Expired, or killed: this API node lost its channel (before the entry expires)."""
        link = self.links.get(node_id)
        return node_id not in self.registered or (link is not None and link.lost)

    def _unseat(self, space_id: str, user_id: int, node_id: str) -> None:
        seats = self.seats.get(space_id, {})
        if seats.get(user_id, ("", False))[0] == node_id:
            del seats[user_id]

    async def disconnect(self, space_id: str, user_id: int) -> None:
        seat = self.seats.get(space_id, {}).get(user_id)
        if seat is None:
            return
        link = self.links.get(seat[0])
        if link is not None and link.channel is not None and not link.channel.closed:
            with contextlib.suppress(Refused, ChannelClosed, TimeoutError):
                await link.channel.request(Disconnect(space_id=space_id, user_id=user_id), 5.0)

    def set_on_stage(self, space_id: str, user_id: int, on_stage: bool) -> None:
        seat = self.seats.get(space_id, {}).get(user_id)
        if seat is not None:
            self.seats[space_id][user_id] = (seat[0], on_stage)
            self._send(seat[0], SetMember(space_id=space_id, user_id=user_id, on_stage=on_stage))

    def set_muted(self, space_id: str, user_id: int, muted: bool) -> None:
        seat = self.seats.get(space_id, {}).get(user_id)
        if seat is not None:
            self._send(seat[0], SetMember(space_id=space_id, user_id=user_id, muted=muted))

    def set_recording(self, space_id: str, on: bool) -> None:
        origin = self.origins.get(space_id)
        if origin is not None:
            self._send(origin, SetRecording(space_id=space_id, on=on))

    def set_captions(self, space_id: str, on: bool, language: str = "en") -> None:
        """Captions need the in-process media plane."""

    async def stats(self) -> list[WorkerReport]:
        links = sorted(self.links.values(), key=lambda link: link.index)
        return list(await asyncio.gather(*(self._stats_of(link) for link in links)))

    async def _stats_of(self, link: NodeLink) -> WorkerReport:
        down = WorkerReport(
            index=link.index, node=link.id, alive=False, pid=link.pid, restarts=link.restarts
        )
        if not link.alive or link.channel is None:
            return down
        try:
            reply = await link.channel.request(StatsRequest(), timeout=3.0)
            now = WorkerStats.model_validate(reply)
        except (Refused, ChannelClosed, TimeoutError):
            return down
        except ValidationError:  # garbage from the node
            link.last_stats = None
            return replace(down, alive=True)
        before, link.last_stats = link.last_stats, now
        return replace(report_of(link.index, link.restarts, now, before), node=link.id)

    # -- what nodes tell ------------------------------------------------------

    def _send(self, node_id: str, message: Any) -> None:
        link = self.links.get(node_id)
        if link is not None and link.channel is not None:
            link.channel.send(message)

    def _spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _handle(self, link: NodeLink, message: Message) -> Any:
        if isinstance(message, Ready):
            link.pid = message.pid
            link.ready = True
            if link.lost:  # back after its channel was lost
                link.restarts += 1
            link.lost = False
            log.info("media node %s connected (pid %s)", link.id, message.pid)
        elif isinstance(message, Ask):
            return self._ask(message)
        elif isinstance(message, MemberGone):
            self._unseat(message.space_id, message.user_id, link.id)
        elif isinstance(message, RoomClosed):
            seats = self.seats.get(message.space_id, {})
            for user_id in [u for u, (node, _s) in seats.items() if node == link.id]:
                del seats[user_id]
            if not seats:
                self.seats.pop(message.space_id, None)
                self.origins.pop(message.space_id, None)
        return None

    async def _publish(self, event: Event) -> None:
        try:
            await self._bus.publish(event)
        except Exception as exc:
            log.warning("media nodes: publishing on the bus failed (%s)", exc)

    async def _ask(self, message: Ask) -> Any:
        if message.what == "ping":
            return bool(await self._bus.ping())
        if message.what == "room_state":
            return room_state_to_wire(await self._states.room_state(message.space_id))
        return await self._allowed(message.space_id, message.user_id, message.credential)
