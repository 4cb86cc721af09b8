"""The API's side of the media workers: start and supervise them, place and route.

`WorkerPool` stands where the in-process `MediaServer` stands for the API (answer,
disconnect, stage and mute switches, listener counts). Each worker is a child process
with a socketpair channel (`wire.py`); the pool serves its questions (the bus relayed,
room states, access checks) and supervises it: one that dies is started again, and the
members it held are told on their WebSocket (`media.moved`) to make a new offer.

Placement (`placement.py`): a space's first connection picks its origin (the worker with
the fewest connections); speakers always go to the origin, listeners too until it holds
`TOWNHALL_MEDIA_LISTENERS_PER_WORKER` of them, then to edges, which the origin relays
its encoded mix to (`relay.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

from townhall.bus.base import SubscriptionClosed, SubscriptionLagged
from townhall.bus.events import MEDIA_MOVED, Event, EventFormatError
from townhall.config import Settings
from townhall.domain.errors import Conflict, Invalid, RateLimited, Unavailable
from townhall.media.hls.hub import HlsHub
from townhall.media.room_state import RoomStateSource
from townhall.media.workers.hls import replay_into
from townhall.media.workers.placement import Placement
from townhall.media.workers.proxy import room_state_to_wire
from townhall.media.workers.stats import WorkerReport, WorkerStats, report_of
from townhall.media.workers.wire import (
    Ask,
    Channel,
    ChannelClosed,
    Delivered,
    Disconnect,
    HlsEnd,
    HlsPart,
    HlsStart,
    MemberGone,
    Message,
    Moved,
    Offer,
    Presence,
    Publish,
    PublishUser,
    Ready,
    Refused,
    RelayTo,
    RoomClosed,
    SetMember,
    SetRecording,
    Start,
    StatsRequest,
    SubEnded,
    Subscribe,
    Unsubscribe,
)

log = logging.getLogger(__name__)

Allowed = Callable[[str, int, int | None], Awaitable[bool]]
START_TIMEOUT = 30.0
RESTART_FIRST_SECONDS = 0.2
RESTART_MAX_SECONDS = 10.0
STABLE_SECONDS = 30.0
LISTENERS_MOVE_AFTER = 0.5
"""Seconds between telling a lost worker's speakers and its listeners to offer again."""


class WorkerLink:
    """One worker process and its channel."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.proc: asyncio.subprocess.Process | None = None
        self.channel: Channel | None = None
        self.ready = asyncio.Event()
        self.pid = 0
        self.started_at = 0.0
        self.restarts = 0
        self.subs: dict[int, asyncio.Task[None]] = {}
        self.last_stats: WorkerStats | None = None

    @property
    def alive(self) -> bool:
        return (
            self.ready.is_set()
            and self.channel is not None
            and not self.channel.closed
            and self.proc is not None
            and self.proc.returncode is None
        )


class WorkerPool:
    """`count` supervised media worker processes behind the MediaServer's interface."""

    def __init__(
        self,
        settings: Settings,
        bus: Any,
        states: RoomStateSource,
        allowed: Allowed,
        *,
        count: int,
        listeners_per_worker: int,
        hls: HlsHub | None = None,
    ) -> None:
        self._settings = settings
        self._bus = bus
        self._states = states
        self._allowed = allowed
        self._hls = hls  # the API's hub: serves what the origins package
        self.links = [WorkerLink(i) for i in range(count)]
        self.placement = Placement(count, listeners_per_worker)
        self._key = secrets.token_bytes(32)
        self._relay_dir = tempfile.mkdtemp(prefix="townhall-relay-")
        self._supervisors: list[asyncio.Task[None]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self._publish_failing = False

    # -- life ---------------------------------------------------------------

    async def start(self) -> None:
        """Start every worker; returns once they are ready (or START_TIMEOUT passed)."""
        for link in self.links:
            self._supervisors.append(
                asyncio.create_task(self._supervise(link), name=f"townhall-worker-{link.index}")
            )
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(START_TIMEOUT):
                await asyncio.gather(*(link.ready.wait() for link in self.links))

    async def _supervise(self, link: WorkerLink) -> None:
        delay = RESTART_FIRST_SECONDS
        while not self._closed:
            try:
                await self._run(link)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("media worker %s failed", link.index)
            if self._closed:
                return
            self._lost(link)
            if time.monotonic() - link.started_at > STABLE_SECONDS:
                delay = RESTART_FIRST_SECONDS
            log.warning("media worker %s is gone; starting it again in %.1f s", link.index, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RESTART_MAX_SECONDS)
            link.restarts += 1

    async def _run(self, link: WorkerLink) -> None:
        parent, child = socket.socketpair()
        try:
            link.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "townhall.media.workers.worker",
                str(child.fileno()),
                pass_fds=(child.fileno(),),
            )
        finally:
            child.close()
        link.started_at = time.monotonic()
        reader, writer = await asyncio.open_unix_connection(sock=parent)
        channel = link.channel = Channel(reader, writer)
        channel.send(
            Start(
                settings=self._settings.model_dump(mode="json"),
                index=link.index,
                relay_key=self._key.hex(),
                relay_dir=self._relay_dir,
            )
        )
        serving = asyncio.ensure_future(channel.serve(lambda m: self._handle(link, m)))
        try:
            await serving
        finally:
            channel.close()
            link.ready.clear()
            proc = link.proc
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
            await proc.wait()

    def _lost(self, link: WorkerLink) -> None:
        """A worker died: forget what it held and tell its members to offer again."""
        for task in link.subs.values():
            task.cancel()
        link.subs.clear()
        moved, relays = self.placement.worker_lost(link.index)
        for space_id, origin, edge in relays:
            self._send(origin, RelayTo(space_id=space_id, edge=edge, on=False))
        for space_id, (stage, listeners) in moved.items():
            # Speakers first: the space is heard again once they are back; listeners
            # offer a moment later, so that their handshakes do not delay the speakers'.
            self._tell_moved(space_id, sorted(stage), "worker_lost")
            self._spawn(self._tell_later(space_id, sorted(listeners), LISTENERS_MOVE_AFTER))

    def _tell_moved(self, space_id: str, user_ids: list[int], reason: str) -> None:
        if not user_ids:
            return
        event = Event(MEDIA_MOVED, space_id, {"user_ids": user_ids, "reason": reason})
        self._spawn(self._publish(event))

    async def _tell_later(self, space_id: str, user_ids: list[int], delay: float) -> None:
        await asyncio.sleep(delay if user_ids else 0)
        self._tell_moved(space_id, user_ids, "worker_lost")

    async def close(self) -> None:
        """Stop every worker: each closes its rooms (finishing recordings) and exits."""
        self._closed = True
        for link in self.links:
            if link.channel is not None:
                link.channel.close()  # the worker sees the end of its channel
        procs = [link.proc for link in self.links if link.proc is not None]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.5):
                await asyncio.gather(*(p.wait() for p in procs), return_exceptions=True)
        for proc in procs:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
        for task in [*self._supervisors, *self._tasks]:
            task.cancel()
        for task in [*self._supervisors, *self._tasks]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for link in self.links:
            for sub in link.subs.values():
                sub.cancel()
        shutil.rmtree(self._relay_dir, ignore_errors=True)

    # -- the MediaServer's interface ------------------------------------------

    def room(self, space_id: str) -> None:
        """Rooms live in the workers (the API-side bridge has nothing to follow)."""
        return None

    def webrtc_listeners(self, space_id: str, except_user: int | None = None) -> int:
        return self.placement.listeners(space_id, except_user)

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
        """Place the member and have their worker answer; raises like MediaServer.answer."""
        if self._closed:
            raise Conflict("media_closed", "the media server is shutting down")
        if not isinstance(sdp, str) or not isinstance(type, str):
            raise Invalid("bad_sdp", "sdp and type must be strings", field="sdp")
        alive = {link.index for link in self.links if link.alive}
        seat = self.placement.place(space_id, user_id, on_stage, alive)
        if seat is None:
            raise Unavailable("media_unavailable", "no media worker is running; retry shortly")
        if seat.previous is not None and seat.previous != seat.worker:
            self._send(seat.previous, Disconnect(space_id=space_id, user_id=user_id))
        for edge in seat.new_relays:
            self._send(seat.origin, RelayTo(space_id=space_id, edge=edge, on=True))
        link = self.links[seat.worker]
        channel = link.channel
        try:
            if channel is None:
                raise ChannelClosed("no channel")
            value = await channel.request(
                Offer(
                    space_id=space_id,
                    user_id=user_id,
                    sdp=sdp,
                    type=type,
                    on_stage=on_stage,
                    muted=muted,
                    credential=credential,
                    edge=seat.edge,
                )
            )
        except Refused as exc:
            self.placement.unseat(space_id, user_id, seat.worker, seat.token)
            refusal = exc.refusal
            error_class = {"invalid": Invalid, "rate_limited": RateLimited}.get(
                refusal.error, Conflict if refusal.error == "conflict" else Unavailable
            )
            raise error_class(refusal.code, refusal.message, field=refusal.field) from exc
        except (ChannelClosed, TimeoutError) as exc:
            self.placement.unseat(space_id, user_id, seat.worker, seat.token)
            raise Unavailable("media_unavailable", "the media worker did not answer") from exc
        return str(value["sdp"]), str(value["type"])

    async def disconnect(self, space_id: str, user_id: int) -> None:
        worker = self.placement.worker_of(space_id, user_id)
        if worker is not None:
            channel = self.links[worker].channel
            if channel is not None and not channel.closed:
                with contextlib.suppress(Refused, ChannelClosed, TimeoutError):
                    await channel.request(Disconnect(space_id=space_id, user_id=user_id), 5.0)

    def set_on_stage(self, space_id: str, user_id: int, on_stage: bool) -> None:
        worker = self.placement.set_on_stage(space_id, user_id, on_stage)
        if worker is not None:
            self._send(worker, SetMember(space_id=space_id, user_id=user_id, on_stage=on_stage))

    def set_muted(self, space_id: str, user_id: int, muted: bool) -> None:
        worker = self.placement.worker_of(space_id, user_id)
        if worker is not None:
            self._send(worker, SetMember(space_id=space_id, user_id=user_id, muted=muted))

    def set_recording(self, space_id: str, on: bool) -> None:
        origin = self.placement.origin_of(space_id)
        if origin is not None:
            self._send(origin, SetRecording(space_id=space_id, on=on))

    def set_captions(self, space_id: str, on: bool, language: str = "en") -> None:
        """Captions run only with the in-process media plane (TOWNHALL_MEDIA_WORKERS=0)."""

    async def stats(self) -> list[WorkerReport]:
        """Per worker: pid, restarts, spaces (with role, members, listeners), packets/s,
        CPU share since the last call, relay loss."""
        return await asyncio.gather(*(self._stats_of(link) for link in self.links))

    async def _stats_of(self, link: WorkerLink) -> WorkerReport:
        down = WorkerReport(index=link.index, alive=False, pid=link.pid, restarts=link.restarts)
        channel = link.channel
        if not link.alive or channel is None:
            return down
        try:
            reply = await channel.request(StatsRequest(), timeout=3.0)
        except (Refused, ChannelClosed, TimeoutError):
            return down
        now = WorkerStats.model_validate(reply)
        before, link.last_stats = link.last_stats, now
        return report_of(link.index, link.restarts, now, before)

    # -- what workers ask -----------------------------------------------------

    def _send(self, worker: int, message: Any) -> None:
        channel = self.links[worker].channel
        if channel is not None:
            channel.send(message)

    def _spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _handle(self, link: WorkerLink, message: Message) -> Any:
        if isinstance(message, Ready):
            link.pid = message.pid
            link.ready.set()
            log.info("media worker %s ready (pid %s)", link.index, message.pid)
        elif isinstance(message, Subscribe):
            return self._subscribe(link, message)
        elif isinstance(message, Unsubscribe):
            task = link.subs.pop(message.sub, None)
            if task is not None:
                task.cancel()
        elif isinstance(message, Ask):
            return self._ask(message)
        elif isinstance(message, Publish):
            try:
                self._spawn(self._publish(Event.from_json(message.event)))
            except EventFormatError:
                log.warning("media worker %s published a malformed event", link.index)
        elif isinstance(message, HlsStart | HlsPart | HlsEnd):
            if self._hls is not None:
                replay_into(self._hls, message)
        elif isinstance(message, PublishUser):
            self._spawn(self._publish_user(message))
        elif isinstance(message, Presence):
            return self._presence(message)
        elif isinstance(message, MemberGone):
            self.placement.gone(message.space_id, message.user_id, link.index)
        elif isinstance(message, RoomClosed):
            for origin, edge in self.placement.room_closed(message.space_id, link.index):
                self._send(origin, RelayTo(space_id=message.space_id, edge=edge, on=False))
        elif isinstance(message, Moved):
            self._tell_moved(message.space_id, [message.user_id], "promoted")
        return None

    async def _publish(self, event: Event) -> None:
        try:
            await self._bus.publish(event)
        except Exception as exc:
            if not self._publish_failing:
                self._publish_failing = True
                log.warning("media workers: publishing on the bus failed (%s)", exc)
            return
        if self._publish_failing:
            self._publish_failing = False
            log.warning("media workers: publishing on the bus works again")

    async def _publish_user(self, message: PublishUser) -> None:
        try:
            await self._bus.publish_user(message.user_id, message.payload)
        except Exception as exc:
            log.warning("media workers: publishing to user %s failed (%s)", message.user_id, exc)

    async def _presence(self, message: Presence) -> None:
        with contextlib.suppress(Exception):
            if message.present:
                await self._bus.touch(
                    message.space_id, message.user_id, message.client_id, message.ttl
                )
            else:
                await self._bus.leave(message.space_id, message.user_id, message.client_id)

    async def _ask(self, message: Ask) -> Any:
        if message.what == "ping":
            return bool(await self._bus.ping())
        if message.what == "room_state":
            return room_state_to_wire(await self._states.room_state(message.space_id))
        return await self._allowed(message.space_id, message.user_id, message.credential)

    async def _subscribe(self, link: WorkerLink, message: Subscribe) -> bool:
        if message.space_id is not None:
            sub = await self._bus.subscribe(message.space_id)
        elif message.user_id is not None:
            sub = await self._bus.subscribe_user(message.user_id)
        else:
            return False
        link.subs[message.sub] = asyncio.create_task(
            self._forward(link, message.sub, sub, message.space_id is not None),
            name=f"townhall-worker-{link.index}-sub-{message.sub}",
        )
        return True

    async def _forward(self, link: WorkerLink, sub_id: int, sub: Any, events: bool) -> None:
        channel = link.channel
        lagged = False
        try:
            async for item in sub:
                if channel is None or channel.closed:
                    return
                if events:
                    channel.send(Delivered(sub=sub_id, event=item.to_json()))
                else:
                    channel.send(Delivered(sub=sub_id, push=item))
        except SubscriptionLagged:
            lagged = True
        except SubscriptionClosed:
            pass
        finally:
            with contextlib.suppress(Exception):
                await sub.close()
            if link.subs.get(sub_id) is asyncio.current_task():
                del link.subs[sub_id]
                if channel is not None:
                    channel.send(SubEnded(sub=sub_id, lagged=lagged))
