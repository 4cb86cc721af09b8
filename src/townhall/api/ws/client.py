"""One WebSocket per client: subscriptions to spaces, replay on reconnect, presence, pushes.

Client → server (validated by `api/schemas/live.py`): {"op": "subscribe", "space_id",
"last_seq"?}, {"op": "unsubscribe", "space_id"}, {"op": "ping"}. Server → client:
{"type": "snapshot", "seq", "space_id", "data"}, {"type": <event type>, "seq", "space_id",
"data", "at"}, {"type": "subscribed", "space_id", "seq", "replayed"}, {"type":
"unsubscribed", "space_id", "reason"?}, {"type": "notification", "data"}, {"type":
"error", "error": {code, message}, "space_id"?}, {"type": "pong"}. See docs/EVENTS.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from townhall.api.auth_tokens import Tokens, presented_token
from townhall.api.errors import unavailable_error
from townhall.api.schemas.live import (
    ErrorBody,
    ErrorMessage,
    InvalidMessage,
    Ping,
    Pong,
    ServerMessage,
    SnapshotMessage,
    Subscribe,
    Subscribed,
    Unsubscribe,
    Unsubscribed,
    client_message,
)
from townhall.api.services import accounts, spaces
from townhall.api.ws.pacing import FramePacer
from townhall.api.ws.wire import FrameWriter, frame_writer, text_frame
from townhall.bus import (
    Bus,
    BusUnavailable,
    Event,
    Subscription,
    SubscriptionClosed,
    SubscriptionLagged,
)
from townhall.bus.events import (
    ACCESS,
    ACCOUNT_DELETED,
    MEMBER_REMOVED,
    TOKEN_REVOKED,
    AccessChange,
    MemberRemoved,
)
from townhall.domain.errors import DomainError, Unauthorized
from townhall.store.db import Database, Trouble
from townhall.store.models import User
from townhall.tasks import TaskScope, cancel_and_wait, raise_if_cancelling

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 4096
MAX_SUBSCRIPTIONS = 20
CLOSE_UNAUTHORIZED = 4401
"""No valid credentials, or they ended while connected (signed out, token revoked,
account deleted): sign in again; reconnecting with the same credentials will not help."""
CLOSE_RESYNC_FAILED = 1011
CLOSE_TRY_AGAIN_LATER = 1013
CLEANUP_SECONDS = 5.0
"""Bound on a closed connection's goodbyes (unsubscribing, leaving presence)."""


class BadMessage(Exception):
    """A client message that cannot be acted on; the client gets an error, not a close."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class _Watch:
    """One subscribed space: the bus subscription and the task relaying it."""

    subscription: Subscription[Event]
    task: asyncio.Task[None] | None = None
    cursor: int = 0
    saw_removal: bool = False  # a replayed event removed this user
    cut_at: int | None = None  # removed: stop once the client has every event up to this
    paced: bool = False  # counted by the node's FramePacer
    framed_at: float | None = None  # when the last frame of events went out (paced)


@dataclass
class LiveClient:
    """The server side of one WebSocket connection."""

    websocket: WebSocket
    user: User
    db: Database
    bus: Bus
    token_id: int | None = None
    """The credential (token row) the socket was opened with: its revocation closes it."""
    client_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    watches: dict[str, _Watch] = field(default_factory=dict)
    scope: TaskScope = field(init=False)
    ended: bool = False
    """The credential ended: nothing more is sent, the socket is closing."""
    batched: bool = False
    """The client asked for batches (`?batch=1`): events already waiting go out together
    as one JSON array, so a busy space costs one frame per wake-up, not one per event."""
    wire: FrameWriter | None = None
    """The connection's transport, for frames made once per event (api/ws/wire.py)."""
    pacer: FramePacer | None = None
    """The node's frame pacer, for a batched client: at most one frame per interval."""
    _access_epoch: int = 0  # bumped by every access change, so subscribe can re-check
    _send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        # Every task of this connection (relays, notifications, presence) lives in the
        # scope: it is cancelled and awaited when the socket ends, and a task that
        # fails ends the connection (the client reconnects and resynchronises).
        self.scope = TaskScope(f"townhall-ws-{self.client_id[:12]}", self._task_failed)

    def _task_failed(self, task: asyncio.Task[Any], exc: BaseException) -> None:
        if self.websocket.client_state != WebSocketState.CONNECTED:
            return  # it failed because the client had left
        if isinstance(exc, BusUnavailable):
            code, reason = CLOSE_TRY_AGAIN_LATER, "live events unavailable"
        else:
            log.error("live: %s failed; closing the connection", task.get_name(), exc_info=exc)
            code, reason = CLOSE_RESYNC_FAILED, "internal error"
        with contextlib.suppress(RuntimeError):  # the scope is closing anyway
            self.scope.start(self._close(code, reason), "close")

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self.websocket.close(code, reason)

    async def send(self, message: ServerMessage) -> None:
        await self.send_text(message.model_dump_json())

    async def send_text(self, text: str) -> None:
        async with self._send_lock:
            if self.ended:
                return
            if self.websocket.client_state == WebSocketState.CONNECTED:
                await self.websocket.send_text(text)

    async def send_events(self, events: list[Event]) -> None:
        """Send event messages: one array frame to a batched client, else one by one.
        Straight to the transport when the server allows (`api/ws/wire.py`), each
        single event's frame made once for every socket."""
        if not events:
            return
        together = self.batched and len(events) > 1
        if self.wire is None:
            texts = [event_text(event) for event in events]
            for text in ["[" + ",".join(texts) + "]"] if together else texts:
                await self.send_text(text)
            return
        if together:
            joined = b",".join(event_bytes(event) for event in events)
            frames = [text_frame(b"[" + joined + b"]")]
        else:
            frames = [event_frame(event) for event in events]
        async with self._send_lock:
            if self.ended or self.websocket.client_state != WebSocketState.CONNECTED:
                return
            for frame in frames:
                if not self.wire.write(frame):
                    return

    async def error(self, code: str, message: str, space_id: str | None = None) -> None:
        body = ErrorMessage(error=ErrorBody(code=code, message=message))
        if space_id is not None:
            body.space_id = space_id
        await self.send(body)

    # -- operations -------------------------------------------------------

    async def handle(self, text: str) -> None:
        """Act on one client message."""
        try:
            message = client_message(_parse(text))
        except InvalidMessage as exc:
            raise BadMessage(exc.code, exc.message) from None
        match message:
            case Ping():
                await self.touch_all()
                await self.send(Pong())
            case Subscribe(space_id=space_id, last_seq=last_seq):
                await self.subscribe(space_id, last_seq)
            case Unsubscribe(space_id=space_id):
                await self.unsubscribe(space_id)
                await self.send(Unsubscribed(space_id=space_id))

    async def subscribe(self, space_id: str, last_seq: int | None) -> None:
        if space_id not in self.watches and len(self.watches) >= MAX_SUBSCRIPTIONS:
            raise BadMessage("too_many_subscriptions", f"at most {MAX_SUBSCRIPTIONS} spaces")
        epoch = self._access_epoch
        async with self.db.session() as session:
            if not await self._credential_live(session):
                await self.end_session(TOKEN_REVOKED)  # found dead on a re-check
                return
            refusal = await spaces.watch_refusal(session, space_id, self.user.id)
        if refusal == "removed_from_space":
            await self.error(refusal, "you were removed from this space", space_id)
            return
        if refusal is not None:
            await self.error("not_found", "no such space, or not visible to you", space_id)
            return
        await self.unsubscribe(space_id, goodbye=False)
        subscription = await self.bus.subscribe(space_id)
        watch = _Watch(subscription)
        self._offer_direct(watch)
        self.watches[space_id] = watch
        if self.pacer is not None:
            self.pacer.subscriptions += 1
            watch.paced = True
        try:
            replayed = await self._catch_up(space_id, watch, last_seq)
            if self._access_epoch != epoch:  # access changed since it was checked
                await self.recheck(space_id)
        except BaseException:
            await self.unsubscribe(space_id)
            raise
        if self.ended or self.watches.get(space_id) is not watch:
            return  # dropped meanwhile (access lost, credential ended), and told so
        await self.bus.touch(space_id, self.user.id, self.client_id)
        await self.send(Subscribed(space_id=space_id, seq=watch.cursor, replayed=replayed))
        watch.task = self.scope.start(self._relay(space_id, watch), f"relay-{space_id}")

    async def _catch_up(self, space_id: str, watch: _Watch, last_seq: int | None) -> int:
        """Send what the client missed since last_seq, or a fresh snapshot; -1 = snapshot."""
        if last_seq is not None:
            missed = await self.bus.replay(space_id, last_seq)
            if missed is not None:
                await self.send_events(missed)
                for event in missed:
                    if _removed_user(event) == self.user.id:
                        watch.saw_removal = True
                watch.cursor = missed[-1].seq if missed else last_seq
                return len(missed)
        # The seq is the database's (the outbox numbers events at commit), read in one
        # consistent read with the snapshot: the snapshot holds exactly the events up to
        # it, those committed but not yet relayed included.
        on_bus = await self.bus.last_seq(space_id)
        async with self.db.session() as session:
            committed, data = await spaces.seq_and_snapshot(session, space_id, self.user.id)
        seq = max(on_bus, committed)
        await self.send(SnapshotMessage(seq=seq, space_id=space_id, data=data))
        watch.cursor = seq
        return -1

    async def _relay(self, space_id: str, watch: _Watch) -> None:
        """Forward a space's events in seq order; resynchronise when too slow."""
        while True:
            try:
                async for first in watch.subscription:
                    waiting: list[Event] = []
                    if self.pacer is not None:
                        await self.pacer.wait_turn(watch.framed_at)
                        waiting = watch.subscription.ready()
                    events, removed = self._to_send(watch, [first, *waiting])
                    if events:
                        await self.send_events(events)
                        if self.pacer is not None:
                            watch.framed_at = self.pacer.now()
                    if removed:
                        await self._removed(space_id, watch)
                        return
                return
            except SubscriptionLagged:
                await watch.subscription.close()
                try:
                    watch.subscription = await self.bus.subscribe(space_id)
                    self._offer_direct(watch)
                    await self._catch_up(space_id, watch, watch.cursor)
                    async with self.db.session() as session:
                        refusal = await spaces.watch_refusal(session, space_id, self.user.id)
                        committed = await spaces.event_seq(session, space_id)
                    # Removed while we were catching up: cut off once the client has
                    # everything committed up to now (the removal among it); what the
                    # relay has not published yet is still to come live.
                    if refusal == "removed_from_space":
                        if watch.saw_removal or watch.cursor >= committed:
                            await self._removed(space_id, watch)
                            return
                        watch.cut_at = committed
                except BusUnavailable:  # the bus logged the outage
                    await self.error("unavailable", "reconnect with last_seq", space_id)
                    await self.websocket.close(CLOSE_TRY_AGAIN_LATER)
                    return
                except Exception:
                    log.exception("live: could not resynchronise %s", space_id)
                    await self.error("resync_failed", "reconnect with last_seq", space_id)
                    await self.websocket.close(CLOSE_RESYNC_FAILED)
                    return
            except SubscriptionClosed:
                await self.error("bus_closed", "the server is shutting down", space_id)
                return

    def _offer_direct(self, watch: _Watch) -> None:
        """Let the bus hand this watch's events straight to the socket while its relay is
        idle (`Subscription.direct`): no task wakes per event per socket."""
        if self.wire is not None:
            watch.subscription.direct = lambda event: self._send_direct(watch, event)

    def _send_direct(self, watch: _Watch, event: Event) -> bool:
        """Write one event's frame now, if that is exactly what the relay would do: the
        relay is idle (the bus checks), nothing is being sent, the pacer allows a frame,
        and the event does not end the watch (a removal goes the relay's way). False:
        the bus queues it for the relay instead."""
        wire = self.wire
        if wire is None or self.ended or watch.cut_at is not None or self._send_lock.locked():
            return False
        if event.volatile:
            if event.seq < watch.cursor:
                return True  # stale: the relay would drop it too
        elif event.seq <= watch.cursor:
            return True  # already sent by replay or contained in the snapshot
        elif event.type == MEMBER_REMOVED:
            return False
        pacer = self.pacer
        if pacer is not None and pacer.delay(watch.framed_at) > 0:
            return False
        if not wire.write(event_frame(event)):
            return False  # closing: the relay finds out
        if not event.volatile:
            watch.cursor = event.seq
        if pacer is not None:
            watch.framed_at = pacer.now()
        return True

    def _to_send(self, watch: _Watch, events: list[Event]) -> tuple[list[Event], bool]:
        """The messages of these events the client still needs (the cursor moves past
        them), and whether one of them removed this user (nothing after it is sent)."""
        out: list[Event] = []
        for event in events:
            if event.volatile:
                # Live only, carrying the seq of the latest kept event: older ones
                # predate what the client has (replay or snapshot) and are stale.
                if event.seq >= watch.cursor:
                    out.append(event)
                continue
            if event.seq <= watch.cursor:
                continue  # already sent by replay or contained in the snapshot
            out.append(event)
            watch.cursor = event.seq
            if watch.cut_at is not None:
                if watch.cursor >= watch.cut_at:
                    return out, True
            elif _removed_user(event) == self.user.id:
                return out, True
        return out, False

    # -- access changes ---------------------------------------------------

    async def _credential_live(self, session: Any) -> bool:
        return self.token_id is None or await accounts.credential_is_live(session, self.token_id)

    async def on_access(self, change: AccessChange) -> None:
        """Act on an access change of this user (from their bus channel, any node)."""
        self._access_epoch += 1
        if change.ends_credential(self.token_id):
            await self.end_session(change.reason)
        elif change.space_id is not None and change.space_id in self.watches:
            await self.recheck(change.space_id)

    async def recheck(self, space_id: str) -> None:
        """Stop relaying a watched space the user may no longer see."""
        watch = self.watches.get(space_id)
        if watch is None:
            return
        async with self.db.session() as session:
            refusal = await spaces.watch_refusal(session, space_id, self.user.id)
            committed = await spaces.event_seq(session, space_id)
        if refusal is None or self.watches.get(space_id) is not watch:
            return
        if (
            refusal == "removed_from_space"
            and watch.task is not None
            and not watch.task.done()
            and not watch.saw_removal
            and watch.cursor < committed
        ):
            # Removed, and the news (committed with the removal) is still on its way to
            # the relay, which may be slower than this user's channel: let the relay
            # deliver everything up to it, the removal among it, then cut the space off.
            watch.cut_at = committed if watch.cut_at is None else min(watch.cut_at, committed)
            return
        del self.watches[space_id]
        self._forget(watch)
        if watch.task is not None and watch.task is not asyncio.current_task():
            watch.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watch.task
        await watch.subscription.close()
        await self.bus.leave(space_id, self.user.id, self.client_id)
        reason = "removed" if refusal == "removed_from_space" else "no_access"
        await self.send(Unsubscribed(space_id=space_id, reason=reason))

    async def recheck_all(self) -> None:
        """After access changes may have been missed (the user channel lagged): check the
        credential and every watched space again."""
        self._access_epoch += 1
        async with self.db.session() as session:
            live = await self._credential_live(session)
        if not live:
            await self.end_session(TOKEN_REVOKED)  # found dead on a re-check
            return
        for space_id in list(self.watches):
            await self.recheck(space_id)

    async def end_session(self, reason: str) -> None:
        """The credential ended: stop every space at once, say why, close with 4401."""
        if self.ended:
            return
        # Every space stops now (not the connection's other tasks: this may run in one).
        await self._goodbyes()
        code = "account_deleted" if reason == ACCOUNT_DELETED else "session_ended"
        await self.error(code, "your session ended (signed out, revoked or deleted)")
        self.ended = True
        with contextlib.suppress(Exception):
            await self.websocket.close(CLOSE_UNAUTHORIZED)

    async def _removed(self, space_id: str, watch: _Watch) -> None:
        """The user was removed (or blocked) while watching: stop relaying the space.

        Runs in the watch's own relay task, so it ends the watch without cancelling it."""
        if self.watches.get(space_id) is watch:
            del self.watches[space_id]
        await watch.subscription.close()
        await self.bus.leave(space_id, self.user.id, self.client_id)
        await self.send(Unsubscribed(space_id=space_id, reason="removed"))

    async def unsubscribe(self, space_id: str, goodbye: bool = True) -> None:
        watch = self.watches.pop(space_id, None)
        if watch is not None:
            self._forget(watch)
            if watch.task is not None and watch.task is not asyncio.current_task():
                await cancel_and_wait([watch.task])
            await watch.subscription.close()
        if goodbye:
            await self.bus.leave(space_id, self.user.id, self.client_id)

    def _forget(self, watch: _Watch) -> None:
        """The watch no longer sends: the pacer stops counting it."""
        if watch.paced and self.pacer is not None:
            self.pacer.subscriptions -= 1
            watch.paced = False

    async def touch_all(self) -> None:
        for space_id in list(self.watches):
            await self.bus.touch(space_id, self.user.id, self.client_id)

    async def close_all(self) -> None:
        """The connection ended: stop every task, then say goodbye in each space (bounded:
        presence that cannot be removed expires after presence_ttl)."""
        await self.scope.close()
        await self._goodbyes()

    async def _goodbyes(self) -> None:
        """Stop relaying every watched space and leave its presence (bounded)."""
        try:
            async with asyncio.timeout(CLEANUP_SECONDS):
                for space_id in list(self.watches):
                    with contextlib.suppress(Exception):
                        await self.unsubscribe(space_id)
        except TimeoutError:
            log.warning("live: goodbyes of a closed connection timed out; presence expires")
        finally:
            for watch in self.watches.values():
                self._forget(watch)


def event_message(event: Event) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": event.type,
        "seq": event.seq,
        "space_id": event.space_id,
        "data": event.data,
        "at": event.at,
    }
    if event.volatile:
        message["volatile"] = True  # its seq is the latest kept event's: not a new one
    return message


def event_bytes(event: Event) -> bytes:
    """The event's message as UTF-8 JSON, made once per event."""
    data: bytes | None = event.__dict__.get("_message_bytes")
    if data is None:
        data = event_text(event).encode()
        object.__setattr__(event, "_message_bytes", data)  # a cache, not a field
    return data


def event_frame(event: Event) -> bytes:
    """The event's message as one WebSocket text frame, made once per event."""
    frame: bytes | None = event.__dict__.get("_message_frame")
    if frame is None:
        frame = text_frame(event_bytes(event))
        object.__setattr__(event, "_message_frame", frame)  # a cache, not a field
    return frame


def event_text(event: Event) -> str:
    """The event's message as JSON text, made once per event however many clients get it
    (one published event reaches every subscriber of the space as the same object)."""
    text: str | None = event.__dict__.get("_message_text")
    if text is None:
        text = json.dumps(event_message(event), separators=(",", ":"))
        object.__setattr__(event, "_message_text", text)  # a cache, not a field
    return text


def _removed_user(event: Event) -> int | None:
    """Who a `member.removed` event removed (None for other events)."""
    if event.type != MEMBER_REMOVED:
        return None
    data = event.payload()
    return data.user_id if isinstance(data, MemberRemoved) else None


def _parse(text: str) -> dict[str, Any]:
    if len(text) > MAX_MESSAGE_CHARS:
        raise BadMessage("too_large", f"messages are at most {MAX_MESSAGE_CHARS} characters")
    try:
        message = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadMessage("invalid_json", "message is not valid JSON") from exc
    except RecursionError as exc:  # a RuntimeError: must not pass for a disconnect
        raise BadMessage("invalid_json", "message is nested too deeply") from exc
    if not isinstance(message, dict):
        raise BadMessage("invalid_message", "message must be a JSON object")
    return message


async def serve_client(websocket: WebSocket) -> None:
    """Run one client's WebSocket until it closes (or goes silent for too long)."""
    app = websocket.app
    db: Database = app.state.db
    bus: Bus = app.state.bus
    await websocket.accept()
    try:
        token = presented_token(websocket)
    except Unauthorized:
        token = None  # answered below like a missing one
    found = None
    try:
        if token:
            async with db.session() as session:
                tokens: Tokens = app.state.tokens
                found = await tokens.lookup(session, token)
    except Exception as exc:
        trouble = db.failed(exc)
        if trouble is None:
            raise
        await _send_trouble(websocket, trouble)
        await websocket.close(CLOSE_TRY_AGAIN_LATER, "database unavailable")
        return
    if found is None:
        await websocket.send_text(
            json.dumps(
                {
                    "type": "error",
                    "error": {"code": "unauthorized", "message": "sign in first (token or cookie)"},
                }
            )
        )
        await websocket.close(CLOSE_UNAUTHORIZED)
        return
    credential, user = found
    try:
        channel = UserChannel(bus, user.id, await bus.subscribe_user(user.id))
    except BusUnavailable:  # the bus logged the outage
        await websocket.close(CLOSE_TRY_AGAIN_LATER, "live events unavailable")
        return
    batched = websocket.query_params.get("batch") == "1"
    client = LiveClient(
        websocket,
        user,
        db,
        bus,
        token_id=credential.id,
        batched=batched,
        pacer=app.state.pacer if batched else None,
        wire=frame_writer(websocket.scope),
    )
    client.scope.start(channel.forward_to(client), "notifications")
    client.scope.start(_keep_present(client), "presence")
    try:
        # Revoked between the look-up and the channel's subscription: that news was missed.
        try:
            await client.recheck_all()
        except Exception as exc:  # a database down or saturated (a storm of connects)
            trouble = db.failed(exc)
            if trouble is None:
                raise
            await _send_trouble(websocket, trouble)
            await websocket.close(CLOSE_TRY_AGAIN_LATER, "database unavailable")
            return
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect" or client.ended:
                return
            text = message.get("text")
            if text is None:
                await client.error("binary_frame", "send JSON in text frames")
                continue
            try:
                await client.handle(text)
            except BadMessage as exc:
                await client.error(exc.code, exc.message)
            except DomainError as exc:
                await client.error(exc.code, exc.message)
            except BusUnavailable:  # the bus logged the outage; the client may retry
                await client.error("unavailable", "live events are unavailable; try again")
            except Exception as exc:
                trouble = db.failed(exc)
                if trouble is None:
                    raise
                await _send_trouble(websocket, trouble)  # the client may retry the op
    except (WebSocketDisconnect, RuntimeError):
        pass  # the client left (RuntimeError: it left while we were sending)
    finally:
        await client.close_all()  # first: ends every task of the connection
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLEANUP_SECONDS):
                await channel.close()


async def _send_trouble(websocket: WebSocket, trouble: Trouble) -> None:
    """The error message for a database that is down or saturated (a 503 over HTTP)."""
    body, retry = unavailable_error(trouble)
    body["error"]["retry_after"] = retry
    if websocket.client_state == WebSocketState.CONNECTED:
        await websocket.send_text(json.dumps({"type": "error", **body}))


async def _keep_present(client: LiveClient) -> None:
    """While the connection lives, keep its presence fresh in every watched space.

    A client that vanishes stops answering the server's WebSocket pings; the
    server then drops the connection (and with it the presence). If this node
    dies instead, the entries simply expire after presence_ttl.
    """
    while True:
        await asyncio.sleep(client.bus.presence_ttl / 3)
        try:
            await client.touch_all()
        except BusUnavailable:
            pass  # the bus logged the outage; the next round tries again
        except Exception:
            log.exception("live: refreshing presence failed")
        # A library may have swallowed our cancellation (asyncio.wait_for on 3.11): never
        # go on refreshing the presence of a connection that is gone.
        raise_if_cancelling()


@dataclass
class UserChannel:
    """The signed-in user's own channel (notifications), forwarded to one socket."""

    bus: Bus
    user_id: int
    subscription: Subscription[dict[str, Any]]

    async def forward_to(self, client: LiveClient) -> None:
        while not client.ended:
            try:
                async for payload in self.subscription:
                    if isinstance(payload, dict) and payload.get("type") == ACCESS:
                        change = AccessChange.from_payload(payload)  # internal, not sent
                        if change is not None:
                            await client.on_access(change)
                        if client.ended:
                            return
                        continue
                    await client.send_text(json.dumps(payload, separators=(",", ":")))
                return
            except SubscriptionLagged:
                await self.subscription.close()
                raise_if_cancelling()
                self.subscription = await self.bus.subscribe_user(self.user_id)
                await client.recheck_all()  # an access change may be among the lost
                await client.error("lagged", "some notifications were not pushed: list them")
            except SubscriptionClosed:
                return

    async def close(self) -> None:
        await self.subscription.close()
