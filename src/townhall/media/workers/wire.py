"""The channel between the API and a media worker: typed messages, length-prefixed JSON.

One stream (a socketpair made by the pool) carries both directions. Requests carry an
`id` and are answered by a `Reply` with the same id; everything else is one-way. The API
sends offers, disconnects and state changes and relays the bus to the worker (its
subscriptions, its publications, presence); the worker asks for room states and access
checks and reports members gone, rooms closed and members that must move.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import struct
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

log = logging.getLogger(__name__)

MAX_FRAME_BYTES = 1 << 20
REQUEST_TIMEOUT = 30.0
_HEADER = struct.Struct("!I")


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- API -> worker ------------------------------------------------------------------


class Start(_Msg):
    kind: Literal["start"] = "start"
    settings: dict[str, Any]
    index: int
    relay_key: str = ""
    relay_dir: str = ""


class Offer(_Msg):
    kind: Literal["offer"] = "offer"
    id: int = 0
    space_id: str
    user_id: int
    sdp: str
    type: str
    on_stage: bool
    muted: bool
    credential: int | None = None
    edge: bool = False


class Disconnect(_Msg):
    kind: Literal["disconnect"] = "disconnect"
    space_id: str
    user_id: int


class SetMember(_Msg):
    kind: Literal["set_member"] = "set_member"
    space_id: str
    user_id: int
    on_stage: bool | None = None
    muted: bool | None = None


class SetRecording(_Msg):
    kind: Literal["set_recording"] = "set_recording"
    space_id: str
    on: bool


class Delivered(_Msg):
    """One item of a subscription the worker made (an event's JSON, or a user push)."""

    kind: Literal["delivered"] = "delivered"
    sub: int
    event: str | None = None
    push: dict[str, Any] | None = None


class SubEnded(_Msg):
    kind: Literal["sub_ended"] = "sub_ended"
    sub: int
    lagged: bool


class RelayTo(_Msg):
    """Origin: send (or stop sending) the space's encoded mix to an edge worker."""

    kind: Literal["relay_to"] = "relay_to"
    space_id: str
    edge: int | str  # a worker's index, or a media node's id
    on: bool


class StatsRequest(_Msg):
    kind: Literal["stats"] = "stats"
    id: int = 0


# -- worker -> API ------------------------------------------------------------------


class Subscribe(_Msg):
    """Follow a space's events (`space_id`) or a user's channel (`user_id`)."""

    kind: Literal["subscribe"] = "subscribe"
    id: int = 0
    sub: int
    space_id: str | None = None
    user_id: int | None = None


class Unsubscribe(_Msg):
    kind: Literal["unsubscribe"] = "unsubscribe"
    sub: int


class Ask(_Msg):
    """A question to the API: a room's state, whether a connection may stay, a bus ping."""

    kind: Literal["ask"] = "ask"
    id: int = 0
    what: Literal["room_state", "allowed", "ping"]
    space_id: str = ""
    user_id: int = 0
    credential: int | None = None


class Publish(_Msg):
    kind: Literal["publish"] = "publish"
    event: str


class PublishUser(_Msg):
    kind: Literal["publish_user"] = "publish_user"
    user_id: int
    payload: dict[str, Any]


class HlsStart(_Msg):
    """The origin's HLS packager began a stream (the API's hub serves it)."""

    kind: Literal["hls_start"] = "hls_start"
    space_id: str
    stream: str
    init: str  # base64


class HlsPart(_Msg):
    kind: Literal["hls_part"] = "hls_part"
    space_id: str
    stream: str
    msn: int
    index: int
    duration: float
    segment_start: float
    data: str  # base64


class HlsEnd(_Msg):
    kind: Literal["hls_end"] = "hls_end"
    space_id: str
    stream: str


class Presence(_Msg):
    kind: Literal["presence"] = "presence"
    space_id: str
    user_id: int
    client_id: str
    present: bool
    ttl: float | None = None


class MemberGone(_Msg):
    kind: Literal["member_gone"] = "member_gone"
    space_id: str
    user_id: int


class RoomClosed(_Msg):
    kind: Literal["room_closed"] = "room_closed"
    space_id: str


class Moved(_Msg):
    """A member of an edge was promoted: they must connect to the origin."""

    kind: Literal["moved"] = "moved"
    space_id: str
    user_id: int


class Ready(_Msg):
    kind: Literal["ready"] = "ready"
    pid: int


# -- both ----------------------------------------------------------------------------


class Refusal(_Msg):
    """A domain error to raise again on the other side."""

    error: Literal["invalid", "conflict", "rate_limited", "unavailable"]
    code: str
    message: str
    field: str | None = None


class Reply(_Msg):
    kind: Literal["reply"] = "reply"
    id: int
    value: Any = None
    refusal: Refusal | None = None


Message = Annotated[
    Start
    | Offer
    | Disconnect
    | SetMember
    | SetRecording
    | Delivered
    | SubEnded
    | RelayTo
    | StatsRequest
    | Subscribe
    | Unsubscribe
    | Ask
    | Publish
    | PublishUser
    | HlsStart
    | HlsPart
    | HlsEnd
    | Presence
    | MemberGone
    | RoomClosed
    | Moved
    | Ready
    | Reply,
    Field(discriminator="kind"),
]
_ADAPTER: TypeAdapter[Message] = TypeAdapter(Message)


class ChannelLike(Protocol):
    """What a worker's side needs of its channel (a media node's set of API channels too)."""

    def send(self, message: _Msg) -> None: ...

    async def request(self, message: _Msg, timeout: float = REQUEST_TIMEOUT) -> Any: ...


class Refused(Exception):
    """The other side answered a request with a refusal."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


class ChannelClosed(ConnectionError):
    """The other side is gone."""


def encode(message: _Msg) -> bytes:
    body = message.model_dump_json().encode()
    if len(body) > MAX_FRAME_BYTES:
        raise ValueError(f"message of {len(body)} bytes is too large")
    return _HEADER.pack(len(body)) + body


async def read_message(reader: asyncio.StreamReader) -> Message:
    """The next message; raises ChannelClosed at the end of the stream or on garbage."""
    try:
        header = await reader.readexactly(_HEADER.size)
        (size,) = _HEADER.unpack(header)
        if size > MAX_FRAME_BYTES:
            raise ChannelClosed(f"frame of {size} bytes")
        body = await reader.readexactly(size)
    except (asyncio.IncompleteReadError, ConnectionError) as exc:
        raise ChannelClosed(str(exc)) from exc
    try:
        return _ADAPTER.validate_json(body)
    except ValidationError as exc:
        raise ChannelClosed(f"unreadable message ({exc.error_count()} errors)") from exc


Handler = Callable[[Message], Awaitable[Any] | None]
"""Handles one incoming non-reply message: a coroutine's result answers a request."""


class Channel:
    """Requests with replies and one-way messages over one stream, both ways."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.closed = False

    def send(self, message: _Msg) -> None:
        """Queue one message (never blocks; dropped when the channel is closed)."""
        if self.closed:
            return
        try:
            self._writer.write(encode(message))
        except (ConnectionError, RuntimeError) as exc:
            log.debug("channel send failed: %s", exc)

    async def request(self, message: _Msg, timeout: float = REQUEST_TIMEOUT) -> Any:
        """Send a request (its `id` is set here) and wait for its reply's value."""
        if self.closed:
            raise ChannelClosed("the channel is closed")
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        try:
            self.send(message.model_copy(update={"id": request_id}))
            async with asyncio.timeout(timeout):
                return await future
        finally:
            self._waiting.pop(request_id, None)

    async def serve(self, handler: Handler) -> None:
        """Read until the stream ends: replies resolve requests; other messages go to
        `handler` (in order; a coroutine it returns runs as a task and, for a request,
        its result or refusal is the reply)."""
        try:
            while True:
                message = await read_message(self._reader)
                if isinstance(message, Reply):
                    future = self._waiting.get(message.id)
                    if future is not None and not future.done():
                        if message.refusal is not None:
                            future.set_exception(Refused(message.refusal))
                        else:
                            future.set_result(message.value)
                    continue
                try:
                    result = handler(message)
                except Exception:
                    log.exception("handling %s failed", message.kind)
                    continue
                if result is not None:
                    task = asyncio.ensure_future(self._answer(message, result))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
        except ChannelClosed as exc:
            log.debug("channel ended: %s", exc)
        finally:
            self.close()

    async def _answer(self, message: Message, work: Awaitable[Any]) -> None:
        request_id = getattr(message, "id", 0)
        try:
            value = await work
        except Refused as exc:
            self.send(Reply(id=request_id, refusal=exc.refusal))
        except Exception as exc:
            if request_id:
                log.warning("%s failed: %s", message.kind, exc)
                self.send(
                    Reply(
                        id=request_id,
                        refusal=Refusal(
                            error="unavailable",
                            code="media_error",
                            message=str(exc) or type(exc).__name__,
                        ),
                    )
                )
            else:
                log.exception("%s failed", message.kind)
        else:
            if request_id:
                self.send(Reply(id=request_id, value=value))

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(ChannelClosed("the other side is gone"))
        with contextlib.suppress(Exception):
            self._writer.close()
        for task in list(self._tasks):
            task.cancel()
