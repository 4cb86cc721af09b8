"""Keeps the media plane in step with a space's events on the bus.

The API decides (roles, mutes, removals) and publishes events; the bridge applies them to
the MediaServer: `role.changed` promotes or demotes, `mute.changed` mutes, `member.removed`
and `member.left` close the member's connection, `recording.changed` starts or pauses the
recording of the room's mix, `captions.changed` hands the speakers to captions or
stops, `space.ended` ends the room (and finishes its recording).

Events can be lost (Redis restarted, a node lagged, a change committed but never
published), so the bridge never trusts the stream alone: whenever its subscription had to
be made again, it reconciles the room with a `RoomStateSource` (see `room_state.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from typing import Protocol

from townhall.bus.base import Subscription, SubscriptionClosed, SubscriptionLagged
from townhall.bus.events import (
    CAPTIONS_CHANGED,
    MEMBER_LEFT,
    MEMBER_REMOVED,
    MUTE_CHANGED,
    RECORDING_CHANGED,
    ROLE_CHANGED,
    SPACE_ENDED,
    CaptionsChanged,
    Event,
    MemberLeft,
    MemberRemoved,
    MuteChanged,
    RecordingChanged,
    RoleChanged,
    SpaceEnded,
)
from townhall.domain.roles import STAGE_ROLES
from townhall.media.room_state import RoomStateSource
from townhall.media.server import MediaServer

log = logging.getLogger(__name__)


class SubscribingBus(Protocol):
    async def subscribe(self, space_id: str) -> Subscription[Event]: ...

    async def ping(self) -> bool: ...


PROBE_INTERVAL = 0.5
"""While subscriptions fail, how often one probe asks whether the bus answers again."""


_MEDIA_TYPES = frozenset(
    {
        SPACE_ENDED,
        RECORDING_CHANGED,
        CAPTIONS_CHANGED,
        ROLE_CHANGED,
        MUTE_CHANGED,
        MEMBER_REMOVED,
        MEMBER_LEFT,
    }
)
"""The event types the media plane acts on."""


def backoff_delay(
    attempt: int,
    *,
    base: float = 0.25,
    cap: float = 5.0,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry number `attempt` (1, 2, ...): doubling from `base`,
    never more than `cap`, with jitter (between half and all of it) so that many rooms,
    or many nodes, do not retry in step."""
    if attempt <= 0:
        return 0.0
    ceiling = min(cap, base * 2 ** min(attempt - 1, 30))
    return float(ceiling * (0.5 + 0.5 * rand()))


class MediaBridge:
    """One bus subscription per space that has live audio on this node.

    A subscription that breaks (the bus lost its connection, or this node lagged) is made
    again with backoff for as long as the room lives; events may have been missed, so
    once it is back, and at every retry while it is not, the room is reconciled with
    `states` (the database, on the API side): what it says is what is heard.
    """

    def __init__(
        self,
        bus: SubscribingBus,
        media: MediaServer,
        states: RoomStateSource | None = None,
        *,
        backoff: Callable[[int], float] = backoff_delay,
    ) -> None:
        self._bus = bus
        self._media = media
        self._states = states
        self._backoff = backoff
        self._back = asyncio.Event()  # set by the probe when the bus answers again
        self._probe: asyncio.Task[None] | None = None
        self._watching: dict[str, asyncio.Task[None]] = {}
        self._starting: dict[str, asyncio.Future[None]] = {}
        self._following: set[str] = set()  # spaces whose subscription is up
        self.reconciled = 0  # rooms reconciled (diagnostics and tests)
        media.on_room_closed(self._room_closed)

    def watching(self, space_id: str) -> bool:
        return space_id in self._watching

    def following(self, space_id: str) -> bool:
        """Is the space's subscription up (its events arrive as they are published)?"""
        return space_id in self._following

    async def watch(self, space_id: str) -> None:
        """Follow a space's events from now on (idempotent). Call before connecting members.

        When the bus cannot be reached, the space is still watched: the subscription is
        retried in the background and the room reconciled meanwhile."""
        if space_id in self._watching:
            return
        starting = self._starting.get(space_id)
        if starting is not None:
            await asyncio.shield(starting)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._starting[space_id] = future
        try:
            subscription: Subscription[Event] | None
            try:
                subscription = await self._bus.subscribe(space_id)
            except Exception as exc:
                log.warning("media bridge: cannot follow %s yet (%s); retrying", space_id, exc)
                subscription = None
            self._watching[space_id] = asyncio.create_task(
                self._run(space_id, subscription), name=f"townhall-media-bridge-{space_id}"
            )
        finally:
            del self._starting[space_id]
            future.set_result(None)

    async def unwatch(self, space_id: str) -> None:
        task = self._watching.pop(space_id, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def close(self) -> None:
        for space_id in list(self._watching):
            await self.unwatch(space_id)
        probe, self._probe = self._probe, None
        if probe is not None:
            probe.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await probe

    async def reconcile(self, space_id: str) -> bool:
        """Make the space's room match its state source now; False when that failed (or
        there is no source)."""
        states = self._states
        if states is None:
            return False
        try:
            await self._media.reconcile(space_id, lambda: states.room_state(space_id))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("media bridge: reconciling %s failed (%s)", space_id, exc)
            return False
        self.reconciled += 1
        return True

    async def apply(self, event: Event) -> None:
        """Apply one event to the media server (unknown or malformed events are ignored)."""
        space_id, data = event.space_id, event.payload()
        if data is None:
            if event.type in _MEDIA_TYPES:
                log.warning("ignoring a malformed %s in %s", event.type, space_id)
            return
        match data:
            case SpaceEnded():
                await self._media.end_space(space_id)
            case RecordingChanged(on=on):
                self._media.set_recording(space_id, on)
            case CaptionsChanged(on=on, language=language):
                self._media.set_captions(space_id, on, language)
            case RoleChanged(user_id=user_id, role=role):
                self._media.set_on_stage(space_id, user_id, role in STAGE_ROLES)
            case MuteChanged(user_id=user_id, muted=muted):
                self._media.set_muted(space_id, user_id, muted)
            case MemberRemoved(user_id=user_id) | MemberLeft(user_id=user_id):
                await self._media.disconnect(space_id, user_id)

    def _current(self, space_id: str) -> bool:
        return self._watching.get(space_id) is asyncio.current_task()

    async def _run(self, space_id: str, subscription: Subscription[Event] | None) -> None:
        failures = 0  # in a row: subscriptions that could not be made or broke at once
        try:
            while self._current(space_id):
                if subscription is None:
                    try:
                        subscription = await self._bus.subscribe(space_id)
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:
                        failures += 1
                        if failures == 1:
                            log.warning(
                                "media bridge: lost the events of %s (%s); retrying",
                                space_id,
                                exc,
                            )
                        await self.reconcile(space_id)  # the database still knows
                        if self._current(space_id):
                            await self._retry_after(failures)
                        continue
                    # Subscribed: every later event arrives; what was missed is in the state.
                    if self._states is not None and not await self.reconcile(space_id):
                        failures += 1
                        await _close(subscription)
                        subscription = None
                        await self._retry_after(failures)
                        continue
                    if failures:
                        log.info("media bridge: following %s again", space_id)
                    failures = 0
                self._following.add(space_id)
                try:
                    async for event in subscription:
                        failures = 0
                        try:
                            await self.apply(event)
                        except Exception:
                            log.exception("media bridge failed on %s in %s", event.type, space_id)
                        if not self._current(space_id):
                            return  # the room closed (ended, or its last member left)
                    return  # closed by us
                except SubscriptionLagged:
                    log.warning("media bridge: events of %s interrupted; resubscribing", space_id)
                except SubscriptionClosed:
                    return  # the bus is shutting down
                finally:
                    self._following.discard(space_id)
                await _close(subscription)
                subscription = None
                failures += 1
                if failures > 1:
                    await self._retry_after(failures - 1)
        finally:
            if subscription is not None:
                await _close(subscription)
            if self._current(space_id):
                del self._watching[space_id]

    async def _retry_after(self, failures: int) -> None:
        """Wait the backoff, or less: until the bus answers again (one probe for all rooms),
        then a random moment within a spread that grows with the number of rooms, so that
        their reconciliations do not all reach the database at once."""
        if self._probe is None or self._probe.done():
            self._back.clear()
            self._probe = asyncio.create_task(self._wait_for_bus(), name="townhall-bridge-probe")
        back = self._back
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(back.wait(), self._backoff(failures))
            spread = min(2.0, len(self._watching) / 500)
            await asyncio.sleep(random.uniform(0, spread))

    async def _wait_for_bus(self) -> None:
        if await self._bus.ping():
            return  # it answers: the failure is elsewhere, rooms wait their full backoff
        try:
            while not await self._bus.ping():
                await asyncio.sleep(PROBE_INTERVAL * (0.5 + random.random()))
        finally:
            self._back.set()

    def _room_closed(self, space_id: str) -> None:
        task = self._watching.pop(space_id, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()


async def _close(subscription: Subscription[Event]) -> None:
    with contextlib.suppress(Exception):
        await subscription.close()
