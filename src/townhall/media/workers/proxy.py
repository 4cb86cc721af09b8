"""The worker's view of the API: the bus, room states and access checks over the channel.

On one node the bus lives in the API process (in memory, or its Redis connection), so a
worker reaches it through the API: subscriptions are relayed item by item (`Delivered`,
then `SubEnded` when the API's subscription lagged or closed), publications and presence
are forwarded. The media plane's own classes (`MediaServer`, `MediaBridge`,
`MediaAccess`) run unchanged on top of these.
"""

from __future__ import annotations

import itertools
from typing import Any

from townhall.bus.base import BusUnavailable, Subscription
from townhall.bus.events import Event, EventFormatError
from townhall.media.room_state import RoomState
from townhall.media.workers.wire import (
    Ask,
    ChannelLike,
    Delivered,
    Presence,
    Publish,
    PublishUser,
    Refused,
    SubEnded,
    Subscribe,
    Unsubscribe,
)


class ChannelBus:
    """Subscribe, publish, presence and ping: through the API's bus."""

    def __init__(self, channel: ChannelLike, presence_ttl: float) -> None:
        self._channel = channel
        self.presence_ttl = presence_ttl
        self._ids = itertools.count(1)
        self._subs: dict[int, Subscription[Any]] = {}
        self._events: set[int] = set()  # subscriptions of events (the others: user pushes)

    async def subscribe(self, space_id: str) -> Subscription[Event]:
        sub: Subscription[Event] = await self._open(Subscribe(sub=0, space_id=space_id), True)
        return sub

    async def subscribe_user(self, user_id: int) -> Subscription[dict[str, Any]]:
        sub: Subscription[dict[str, Any]] = await self._open(
            Subscribe(sub=0, user_id=user_id), False
        )
        return sub

    async def _open(self, request: Subscribe, events: bool) -> Subscription[Any]:
        sub_id = next(self._ids)
        name = f"worker-sub-{sub_id}"

        async def closed(_sub: Subscription[Any]) -> None:
            if self._subs.pop(sub_id, None) is not None:
                self._events.discard(sub_id)
                self._channel.send(Unsubscribe(sub=sub_id))

        sub: Subscription[Any] = Subscription(name, closed)
        self._subs[sub_id] = sub
        if events:
            self._events.add(sub_id)
        try:
            await self._channel.request(request.model_copy(update={"sub": sub_id}), timeout=5.0)
        except (Refused, ConnectionError, TimeoutError) as exc:
            self._subs.pop(sub_id, None)
            self._events.discard(sub_id)
            raise BusUnavailable(str(exc)) from exc
        return sub

    def deliver(self, message: Delivered) -> None:
        sub = self._subs.get(message.sub)
        if sub is None:
            return
        if message.sub in self._events and message.event is not None:
            try:
                sub.deliver(Event.from_json(message.event))
            except EventFormatError:
                return
        elif message.push is not None:
            sub.deliver(message.push)

    def ended(self, message: SubEnded) -> None:
        sub = self._subs.pop(message.sub, None)
        self._events.discard(message.sub)
        if sub is not None:
            if message.lagged:
                sub.interrupt()
            else:
                sub.fail()

    def channel_lost(self) -> None:
        for sub in list(self._subs.values()):
            sub.fail()
        self._subs.clear()

    async def ping(self) -> bool:
        try:
            return bool(await self._channel.request(Ask(what="ping"), timeout=3.0))
        except (Refused, ConnectionError, TimeoutError):
            return False

    async def publish(self, event: Event) -> Event:
        self._channel.send(Publish(event=event.to_json()))
        return event

    async def publish_user(self, user_id: int, payload: dict[str, Any]) -> None:
        self._channel.send(PublishUser(user_id=user_id, payload=payload))

    async def touch(
        self, space_id: str, user_id: int, client_id: str = "", ttl: float | None = None
    ) -> None:
        self._channel.send(
            Presence(space_id=space_id, user_id=user_id, client_id=client_id, present=True, ttl=ttl)
        )

    async def leave(self, space_id: str, user_id: int, client_id: str = "") -> None:
        self._channel.send(
            Presence(space_id=space_id, user_id=user_id, client_id=client_id, present=False)
        )


class ChannelRoomStates:
    """The `RoomStateSource` of a worker: the API reads the database for it."""

    def __init__(self, channel: ChannelLike) -> None:
        self._channel = channel

    async def room_state(self, space_id: str) -> RoomState:
        raw = await self._channel.request(Ask(what="room_state", space_id=space_id), timeout=10.0)
        return room_state_from_wire(raw)


def room_state_to_wire(state: RoomState) -> dict[str, Any]:
    return {
        "ended": state.ended,
        "members": sorted(state.members),
        "on_stage": sorted(state.on_stage),
        "muted": sorted(state.muted),
        "recording": state.recording,
        "captions": state.captions,
        "captions_language": state.captions_language,
    }


def room_state_from_wire(raw: Any) -> RoomState:
    if not isinstance(raw, dict):
        raise ValueError("a room state must be an object")
    return RoomState(
        ended=bool(raw["ended"]),
        members=frozenset(int(u) for u in raw.get("members", [])),
        on_stage=frozenset(int(u) for u in raw.get("on_stage", [])),
        muted=frozenset(int(u) for u in raw.get("muted", [])),
        recording=bool(raw.get("recording", False)),
        captions=bool(raw.get("captions", False)),
        captions_language=str(raw.get("captions_language", "en")),
    )


def access_check(channel: ChannelLike) -> Any:
    """`allowed(space_id, user_id, credential)` for `MediaAccess`, asked of the API."""

    async def allowed(space_id: str, user_id: int, credential: int | None) -> bool:
        value = await channel.request(
            Ask(what="allowed", space_id=space_id, user_id=user_id, credential=credential),
            timeout=10.0,
        )
        return bool(value)

    return allowed
