"""One media worker process: `python -m townhall.media.workers.worker <fd>`.

The pool starts it with one end of a socketpair (file descriptor `fd`); the first message
is `Start` (the settings, its index, the relay key). It then runs a `MediaServer` with its
own bridge and access tracker over the channel (`proxy.py`) and answers offers. It owns
its UDP sockets; nothing of WebRTC is shared with another process. When the channel ends
(the API stopped or died) it closes its rooms (finishing recordings) and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import Any, Literal

from townhall.config import Settings
from townhall.domain.errors import Conflict, DomainError, Invalid, RateLimited
from townhall.logs import configure as configure_logging
from townhall.media.access import MediaAccess
from townhall.media.bridge import MediaBridge
from townhall.media.evidence import EvidenceDesk
from townhall.media.hls.hub import HlsHub
from townhall.media.server import MediaServer
from townhall.media.workers.hls import ChannelHlsRelay
from townhall.media.workers.proxy import ChannelBus, ChannelRoomStates, access_check
from townhall.media.workers.relay import RelayEndpoint
from townhall.media.workers.stats import SpaceStats, WorkerStats
from townhall.media.workers.wire import (
    Channel,
    ChannelLike,
    Delivered,
    Disconnect,
    MemberGone,
    Message,
    Moved,
    Offer,
    Ready,
    Refusal,
    Refused,
    RelayTo,
    RoomClosed,
    SetMember,
    SetRecording,
    Start,
    StatsRequest,
    SubEnded,
    read_message,
)

log = logging.getLogger("townhall.media.worker")


def refusal_of(exc: DomainError) -> Refusal:
    kind: Literal["invalid", "conflict", "rate_limited", "unavailable"] = "unavailable"
    if isinstance(exc, Invalid):
        kind = "invalid"
    elif isinstance(exc, RateLimited):
        kind = "rate_limited"
    elif isinstance(exc, Conflict):
        kind = "conflict"
    return Refusal(error=kind, code=exc.code, message=exc.message, field=exc.field)


class WorkerMediaServer(MediaServer):
    """A worker's MediaServer: on an edge, a member promoted to the stage must move to
    the origin (it is told to, through `on_moved`) instead of being mixed here."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.edges: set[str] = set()  # spaces this worker serves as an edge
        self.on_moved: Callable[[str, int], None] | None = None

    def set_on_stage(self, space_id: str, user_id: int, on_stage: bool) -> None:
        if on_stage and space_id in self.edges:
            room = self.room(space_id)
            if room is not None and user_id in room.participants and self.on_moved:
                self.on_moved(space_id, user_id)
            return
        super().set_on_stage(space_id, user_id, on_stage)


class Worker:
    """A MediaServer driven by the channel (a media node overrides how it is wired)."""

    def __init__(self, channel: ChannelLike, start: Start) -> None:
        self.channel = channel
        self.index = start.index
        self.settings = Settings(**start.settings)
        self.bus = self._make_bus()
        # The origin packages HLS; the parts go to the API's hub, which serves them.
        hls = self._make_hls() if self.settings.hls else None
        self.hls = hls
        self.media = WorkerMediaServer(self.settings, self.bus, hls=hls)
        self.media.on_moved = self._moved
        self.bridge = MediaBridge(self.bus, self.media, ChannelRoomStates(channel))
        self.access = MediaAccess(self.bus, self.media, access_check(channel))
        self.relay = self._make_relay(start)
        self.media.on_member_gone(self._member_gone)
        self.media.on_room_closed(self._room_closed)
        # The origin keeps its rooms' evidence (requests and results go over the bus).
        self.evidence = EvidenceDesk(self.bus, self.settings.data_dir)
        self.media.evidence = self.evidence
        self.media.on_room_closed(self.evidence.room_closed)

    def _make_bus(self) -> Any:
        return ChannelBus(self.channel, self.settings.presence_ttl_seconds)

    def _make_hls(self) -> HlsHub:
        return HlsHub(ChannelHlsRelay(self.channel))

    def _make_relay(self, start: Start) -> RelayEndpoint:
        return RelayEndpoint(
            start.relay_dir, start.index, bytes.fromhex(start.relay_key), self.media
        )

    def _moved(self, space_id: str, user_id: int) -> None:
        self.channel.send(Moved(space_id=space_id, user_id=user_id))

    def _member_gone(self, space_id: str, user_id: int) -> None:
        self.channel.send(MemberGone(space_id=space_id, user_id=user_id))

    def _room_closed(self, space_id: str) -> None:
        self.media.edges.discard(space_id)
        self.relay.forget(space_id)
        self.channel.send(RoomClosed(space_id=space_id))

    def handle(self, message: Message) -> Any:
        if isinstance(message, Delivered):
            self.bus.deliver(message)
        elif isinstance(message, SubEnded):
            self.bus.ended(message)
        elif isinstance(message, Offer):
            return self._offer(message)
        elif isinstance(message, Disconnect):
            return self.media.disconnect(message.space_id, message.user_id)
        elif isinstance(message, SetMember):
            if message.on_stage is not None:
                self.media.set_on_stage(message.space_id, message.user_id, message.on_stage)
            if message.muted is not None:
                self.media.set_muted(message.space_id, message.user_id, message.muted)
        elif isinstance(message, SetRecording):
            self.media.set_recording(message.space_id, message.on)
        elif isinstance(message, RelayTo):
            self.relay.relay_to(message.space_id, message.edge, message.on)
        elif isinstance(message, StatsRequest):
            return self._stats()
        return None

    async def _offer(self, offer: Offer) -> dict[str, str]:
        if offer.edge:
            self.media.edges.add(offer.space_id)
        elif offer.space_id in self.media.edges:  # the origin is gone: this edge takes over
            self.media.edges.discard(offer.space_id)
            room = self.media.room(offer.space_id)
            if room is not None:
                room.become_origin()
        await self.bridge.watch(offer.space_id)
        try:
            sdp, type_ = await self.media.answer(
                offer.space_id,
                offer.user_id,
                offer.sdp,
                offer.type,
                on_stage=offer.on_stage and not offer.edge,
                muted=offer.muted,
                credential=offer.credential,
                relayed=offer.edge,
            )
            await self.access.track(offer.user_id)
            if not offer.edge:
                self.relay.attach(offer.space_id)
        except DomainError as exc:
            if self.media.room(offer.space_id) is None:
                await self.bridge.unwatch(offer.space_id)
            raise Refused(refusal_of(exc)) from exc
        except BaseException:
            if self.media.room(offer.space_id) is None:
                await self.bridge.unwatch(offer.space_id)
            raise
        return {"sdp": sdp, "type": type_}

    async def _stats(self) -> WorkerStats:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        spaces = {}
        for space_id in self.media.space_ids():
            room = self.media.room(space_id)
            if room is None:
                continue
            spaces[space_id] = SpaceStats(
                edge=space_id in self.media.edges,
                members=len(room.participants),
                listeners=self.media.webrtc_listeners(space_id),
                listener_packets=room.listener_packets,
            )
        return WorkerStats(
            index=self.index,
            pid=os.getpid(),
            cpu_seconds=usage.ru_utime + usage.ru_stime,
            time=time.monotonic(),
            spaces=spaces,
            relay=self.relay.stats(),
        )

    async def close(self) -> None:
        await self.bridge.close()
        await self.access.close()
        await self.media.close()
        await self.evidence.close()
        self.relay.close()
        if self.hls is not None:
            await self.hls.close()


async def run(fd: int) -> None:
    sock = socket.socket(fileno=fd)
    reader, writer = await asyncio.open_unix_connection(sock=sock)
    channel = Channel(reader, writer)
    first = await read_message(reader)
    if not isinstance(first, Start):
        raise SystemExit("the first message must be start")
    configure_logging(str(first.settings.get("log_level", "info")))
    worker = Worker(channel, first)
    await worker.relay.open()
    worker.evidence.start()
    loop = asyncio.get_running_loop()
    serving = asyncio.ensure_future(channel.serve(worker.handle))
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, serving.cancel)
    channel.send(Ready(pid=os.getpid()))
    with contextlib.suppress(asyncio.CancelledError):
        await serving
    worker.bus.channel_lost()
    try:
        async with asyncio.timeout(3.0):
            await worker.close()
    except (TimeoutError, Exception):
        log.exception("media worker %s: closing took too long or failed", worker.index)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: python -m townhall.media.workers.worker <fd>", file=sys.stderr)
        return 2
    asyncio.run(run(int(argv[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
