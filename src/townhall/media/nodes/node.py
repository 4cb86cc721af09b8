"""A media-only node: `townhall media --redis URL --advertise IP`.

One process with one `MediaServer` (its own event loop, UDP sockets and WebRTC state),
for another machine (run several on a machine with many cores, each with its own ports).
It:

- registers in Redis every 2 s with its address, ports, capacity and load
  (`registry.py`); a node that stops beating expires and is no longer placed on;
- serves the API nodes that connect to its control port (TCP, mutually authenticated
  with the shared secret, `auth.py`; then the workers' wire protocol): offers, disconnects,
  stage and mute switches, recording, stats. Room states and access checks are asked of
  any connected API node (they read the database); members gone and rooms closed are
  told to all of them;
- follows the bus itself (Redis: levels, presence, stage changes, removals), packages HLS
  into Redis, publishes `media.moved` for a member promoted on an edge;
- relays the mix of the spaces it is the origin of to their edge nodes over UDP
  (`relay.py`), to the edges listed in Redis (re-read at every beat), and accepts relay
  packets only from registered nodes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from dataclasses import dataclass
from typing import Any

from townhall.bus import create_bus
from townhall.bus.events import Event
from townhall.client.media import MEDIA_MOVED
from townhall.config import Settings
from townhall.media.hls.hub import HlsHub
from townhall.media.hls.relay import RedisHlsRelay
from townhall.media.nodes import auth
from townhall.media.nodes.placement import RedisPlacement
from townhall.media.nodes.registry import HEARTBEAT_SECONDS, NodeEntry, Registry, redis_client
from townhall.media.nodes.relay import NodeRelay
from townhall.media.workers.relay import RelayEndpoint
from townhall.media.workers.stats import WorkerStats
from townhall.media.workers.wire import (
    REQUEST_TIMEOUT,
    Channel,
    ChannelClosed,
    Ready,
    Start,
    _Msg,
)
from townhall.media.workers.worker import Worker

log = logging.getLogger("townhall.media.node")


@dataclass(frozen=True)
class NodeOptions:
    advertise: str  # the address other machines reach this node at (ICE, control, relay)
    listen: str  # the address its control and relay sockets bind
    port: int  # control channel (TCP); 0: any free port
    relay_port: int  # relay (UDP); 0: any free port
    capacity: int
    node_id: str = ""  # default: advertise:port


class ApiChannels:
    """The API nodes connected to this node: a question goes to one, a report to all."""

    def __init__(self) -> None:
        self.channels: list[Channel] = []

    def send(self, message: _Msg) -> None:
        for channel in list(self.channels):
            channel.send(message)

    async def request(self, message: _Msg, timeout: float = REQUEST_TIMEOUT) -> Any:
        for channel in list(self.channels):
            if channel.closed:
                continue
            with contextlib.suppress(ChannelClosed):
                return await channel.request(message, timeout)
        raise ChannelClosed("no API node is connected")


class NodeWorker(Worker):
    """A worker wired to Redis instead of one API's channel."""

    def __init__(
        self,
        apis: ApiChannels,
        settings: Settings,
        options: NodeOptions,
        node_id: str,
        secret: bytes,
        redis: Any,
    ) -> None:
        self.options = options
        self.node_id = node_id
        self.secret = secret
        self.redis = redis
        self.apis = apis
        self.placement = RedisPlacement(redis, settings.redis_prefix)
        self.registry = Registry(redis, settings.redis_prefix, secret)
        self._tasks: set[asyncio.Task[Any]] = set()
        super().__init__(apis, Start(settings=settings.model_dump(mode="json"), index=0))

    def _make_bus(self) -> Any:
        return create_bus(self.settings)

    def _make_hls(self) -> HlsHub:
        return HlsHub(RedisHlsRelay(self.settings.redis_url, self.settings.redis_prefix))

    def _make_relay(self, start: Start) -> RelayEndpoint:
        self.node_relay = NodeRelay(
            self.node_id, self.secret, self.media, self.options.listen, self.options.relay_port
        )
        return self.node_relay

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _moved(self, space_id: str, user_id: int) -> None:
        event = Event(MEDIA_MOVED, space_id, {"user_ids": [user_id], "reason": "promoted"})
        self._spawn(self._publish(event))

    async def _publish(self, event: Event) -> None:
        try:
            await self.bus.publish(event)
        except Exception as exc:
            log.warning("media node: publishing %s failed (%s)", event.type, exc)

    def _room_closed(self, space_id: str) -> None:
        edge = space_id in self.media.edges
        super()._room_closed(space_id)
        self._spawn(self._forget(space_id, edge))

    async def _forget(self, space_id: str, edge: bool) -> None:
        try:
            async with asyncio.timeout(HEARTBEAT_SECONDS * 2):
                if edge:
                    await self.placement.drop_edge(space_id, self.node_id)
                else:
                    await self.placement.release_origin(space_id, self.node_id)
        except Exception as exc:
            log.warning("media node: forgetting %s in Redis failed (%s)", space_id, exc)

    async def _stats(self) -> WorkerStats:
        stats = await super()._stats()
        return stats.model_copy(update={"node": self.node_id})

    def load(self) -> int:
        rooms = (self.media.room(s) for s in self.media.space_ids())
        return sum(len(room.participants) for room in rooms if room is not None)

    # -- heartbeat ------------------------------------------------------------

    async def heartbeat(self, control_port: int) -> None:
        beat = 0
        failing = False
        while True:
            beat += 1
            entry = NodeEntry(
                id=self.node_id,
                address=self.options.advertise,
                port=control_port,
                relay_port=self.node_relay.port,
                capacity=self.options.capacity,
                load=self.load(),
                pid=os.getpid(),
                beat=beat,
            )
            try:
                async with asyncio.timeout(HEARTBEAT_SECONDS * 2):
                    await self.registry.beat(entry)
                    peers = await self.registry.alive()
                    self.node_relay.set_peers(
                        {i: (e.address, e.relay_port) for i, e in peers.items()}
                    )
                    await self._reconcile_relays(set(peers))
                if failing:
                    log.warning("media node %s: Redis answers again", self.node_id)
                failing = False
            except Exception as exc:
                if not failing:
                    log.warning("media node %s: heartbeat failed (%s)", self.node_id, exc)
                failing = True
            await asyncio.sleep(HEARTBEAT_SECONDS)

    async def _reconcile_relays(self, alive: set[str]) -> None:
        """Keep this node's rooms in Redis (their keys' expiry renewed, and put back when
        Redis lost them) and relay each space it is the origin of to its listed edges."""
        for space_id in self.media.space_ids():
            if space_id in self.media.edges:
                await self.placement.add_edge(space_id, self.node_id)
                continue
            if await self.placement.claim_origin(space_id, None, self.node_id) != self.node_id:
                continue  # another node is the origin now (this room is left to close)
            wanted = (await self.placement.edges(space_id) & alive) - {self.node_id}
            current = {str(e) for e in self.relay.edges_of(space_id)}
            for edge in wanted - current:
                self.relay.relay_to(space_id, edge, True)
            for edge in current - wanted:
                self.relay.relay_to(space_id, edge, False)


async def run(settings: Settings, options: NodeOptions) -> None:
    """Serve until SIGTERM or SIGINT; then leave the registry and close the rooms."""
    secret = settings.media_secret.encode()
    redis = redis_client(settings.redis_url, f"{settings.redis_prefix}node")
    apis = ApiChannels()
    worker: NodeWorker | None = None

    async def serve_api(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await auth.node_side(reader, writer, secret, node_id)
        except (auth.NotAuthenticated, ConnectionError) as exc:
            log.warning("media node %s: refused a control connection (%s)", node_id, exc)
            writer.close()
            return
        if worker is None:
            writer.close()
            return
        channel = Channel(reader, writer)
        apis.channels.append(channel)
        channel.send(Ready(pid=os.getpid()))
        try:
            await channel.serve(worker.handle)
        finally:
            with contextlib.suppress(ValueError):
                apis.channels.remove(channel)

    # Connections are handled by tasks that start after this function's next await, by
    # when the worker below exists.
    server = await asyncio.start_server(serve_api, host=options.listen, port=options.port)
    control_port = int(server.sockets[0].getsockname()[1])
    node_id = options.node_id or f"{options.advertise}:{control_port}"
    worker = NodeWorker(apis, settings, options, node_id, secret, redis)
    await worker.relay.open()
    worker.evidence.start()
    beating = asyncio.create_task(worker.heartbeat(control_port), name="townhall-node-beat")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    relay_port = worker.node_relay.port
    print(f"townhall media node {node_id} (control {control_port}/tcp, relay {relay_port}/udp)")
    await stop.wait()
    beating.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await beating
    with contextlib.suppress(Exception):
        await worker.registry.leave(node_id)
    server.close()
    for channel in list(apis.channels):
        channel.close()
    try:
        async with asyncio.timeout(3.0):
            await worker.close()
            await worker.bus.close()
    except (TimeoutError, Exception):
        log.exception("media node %s: closing took too long or failed", node_id)
    await redis.aclose()
