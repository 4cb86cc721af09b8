"""The transactional outbox: what a committed change announces always goes out, in order.

Services add their events in the transaction of the change (`add_space_events`, numbered
with the space's next seqs; `add_user_pushes` for users' channels) and commit; nothing
waits for the bus. A relay on every API node (`OutboxRelay`, started in the app's
lifespan) is woken right after each commit that added entries, and polls as a fallback
(entries another node committed, or left when it died). A pass reads the oldest entries
(on PostgreSQL `FOR UPDATE SKIP LOCKED`, so nodes share the work), relays each space's
entries from its oldest one still waiting, in seq order, with `Bus.relay`, and deletes
them. The bus drops a seq it already has and a push key it already sent, so a retry after
a failure, or two nodes relaying the same entry, deliver it once. While the bus (or the
database) is unavailable the relay retries with backoff and jitter, logging the outage
once and the recovery once; entries wait in the table meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from townhall.bus import Bus, Event
from townhall.bus.base import UserPush
from townhall.bus.events import EventData
from townhall.domain.backoff import Backoff
from townhall.store import outbox as store
from townhall.store import spaces as spaces_store
from townhall.store.db import Database

log = logging.getLogger(__name__)

BATCH_SIZE = 500
"""Entries read per pass."""

POLL_SECONDS = 1.0
"""How often a relay looks for entries nobody woke it for (other nodes' leftovers)."""

RELAY_TIMEOUT = 3.0
"""A bus that does not take a batch within this long counts as unavailable."""

HELD_RETRY_SECONDS = 0.05
"""When another relay holds a space's older entries, look again this soon."""

STOP_TIMEOUT = 2.0
"""On shutdown, how long the last pass may take."""

ADOPT_TIMEOUT = 5.0

_HOOKED = "townhall_outbox_hooked"
_relays: weakref.WeakSet[OutboxRelay] = weakref.WeakSet()


# -- writing (inside the change's transaction) -------------------------------------


async def add_space_events(
    session: AsyncSession, space_id: str, events: Sequence[EventData]
) -> list[int]:
    """Add the space's events, numbered with its next seqs (returned); they go out once
    the session commits, never for a rolled-back transaction."""
    rows = [(e.type, e.to_data()) for e in events]
    seqs = await store.add_space_events(session, space_id, rows)
    if seqs:
        _wake_after_commit(session)
    return seqs


async def add_user_pushes(
    session: AsyncSession, pushes: Iterable[tuple[int, str, dict[str, Any]]]
) -> None:
    """Add (user_id, type, data) pushes, sent as {"type", "data"} on each user's channel
    once the session commits."""
    if await store.add_user_pushes(session, pushes):
        _wake_after_commit(session)


async def event_seq(session: AsyncSession, space_id: str) -> int:
    """The seq of the space's latest committed event (0 before any)."""
    return await store.space_seq(session, space_id)


def _wake_after_commit(session: AsyncSession) -> None:
    """Wake the relays once this transaction commits (not after the session's later
    commits, which add nothing: a join's snapshot read would wake them for nothing)."""
    sync_session = session.sync_session
    if not sync_session.info.get(_HOOKED):
        sync_session.info[_HOOKED] = True
        sa_event.listen(sync_session, "after_commit", _after_commit, once=True)
        sa_event.listen(sync_session, "after_rollback", _unhook, once=True)


def _unhook(sync_session: Session) -> None:
    sync_session.info.pop(_HOOKED, None)


def _after_commit(sync_session: Session) -> None:
    _unhook(sync_session)
    relays = list(_relays)
    mine = [relay for relay in relays if relay.engine is sync_session.bind]
    for relay in mine or relays:
        relay.wake()


# -- relaying ----------------------------------------------------------------------


class BusUnavailable(Exception):
    """The bus did not take a batch (error or timeout)."""


@dataclass(frozen=True)
class Plan:
    """What one pass relays: `items` in order, then deletes `done` (the entries relayed);
    `held`: some entries wait for older ones of their space that another relay holds."""

    items: list[Event | UserPush]
    done: list[int]
    held: bool


def plan(rows: Sequence[store.Pending], first_waiting: dict[str, int]) -> Plan:
    """Each space's entries go out from its oldest one still waiting, without gaps: a
    space whose oldest waiting entry is not among `rows` (another relay holds it) waits,
    so a seq never goes out before the ones below it."""
    items: list[Event | UserPush] = []
    done: list[int] = []
    held = False
    expected: dict[str, int] = {}
    for row in sorted(rows, key=lambda r: (r.space_id is not None, r.space_id or "", r.seq or 0)):
        at = row.created_at.timestamp()
        if row.space_id is None or row.seq is None:
            if row.user_id is not None:
                key = f"{row.id}:{int(at * 1_000_000)}"
                items.append(UserPush(row.user_id, {"type": row.type, "data": row.data}, key))
            done.append(row.id)
            continue
        want = expected.get(row.space_id, first_waiting.get(row.space_id, row.seq))
        if row.seq != want:
            held = True
            expected[row.space_id] = -1  # nothing more of this space in this pass
            continue
        expected[row.space_id] = row.seq + 1
        items.append(Event(row.type, row.space_id, dict(row.data), seq=row.seq, at=at))
        done.append(row.id)
    return Plan(items, done, held)


def _first_seqs(rows: Sequence[store.Pending]) -> dict[str, int]:
    """Each space's lowest seq among `rows`."""
    first: dict[str, int] = {}
    for row in rows:
        if row.space_id is not None and row.seq is not None:
            first[row.space_id] = min(row.seq, first.get(row.space_id, row.seq))
    return first


class OutboxRelay:
    """Relays this database's outbox to the bus (one per API node)."""

    def __init__(
        self,
        db: Database,
        bus: Bus,
        *,
        poll_seconds: float = POLL_SECONDS,
        batch_size: int = BATCH_SIZE,
        relay_timeout: float = RELAY_TIMEOUT,
    ) -> None:
        self.db = db
        self.bus = bus
        self.engine = db.engine.sync_engine
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self.relay_timeout = relay_timeout
        self.relayed = 0  # items the bus took (not counting duplicates it dropped)
        self.down: str | None = None  # "bus" or "database" while unavailable
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._backoff = Backoff()
        self._started = 0  # passes started (numbered from 1)
        self._clean_pass = 0  # the last pass that found nothing left to do
        self._progress = asyncio.Condition()

    async def start(self) -> None:
        await self._adopt_bus_seqs()
        _relays.add(self)
        self._task = asyncio.create_task(self._run(), name="townhall-outbox-relay")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        """One last pass for what was committed just before (bounded), then stop."""
        _relays.discard(self)
        self._stopping = True
        self._wake.set()
        if self._task is None:
            return
        try:
            async with asyncio.timeout(STOP_TIMEOUT):
                await asyncio.shield(self._task)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until everything committed before this call was relayed (TimeoutError
        after `timeout` seconds)."""
        async with asyncio.timeout(timeout), self._progress:
            after = self._started  # a pass running now may have read before this call
            self.wake()
            await self._progress.wait_for(lambda: self._clean_pass > after)

    async def _adopt_bus_seqs(self) -> None:
        """A space whose bus seq is ahead of the database's counter (events numbered by
        the bus before this version) continues after it, so no new event is taken for
        one the bus already has. Best effort: skipped when the bus or database fails."""
        try:
            async with asyncio.timeout(ADOPT_TIMEOUT), self.db.session() as session:
                for space_id, _ in await spaces_store.live_space_hosts(session):
                    on_bus = await self.bus.last_seq(space_id)
                    if on_bus > 0:
                        await store.raise_space_seq(session, space_id, on_bus)
        except Exception as exc:
            log.warning("outbox: could not compare event seqs with the bus at start: %r", exc)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            self._started += 1
            number = self._started
            delay: float | None
            try:
                more, held = await self._pass()
            except BusUnavailable as exc:
                self._unavailable("bus", exc.__cause__ or exc)
                delay = self._backoff.next_delay()
            except Exception as exc:
                self._unavailable("database", exc)
                delay = self._backoff.next_delay()
            else:
                self._available()
                delay = 0.0 if more else HELD_RETRY_SECONDS if held else None
                async with self._progress:
                    if not more and not held:  # all committed before it started went out
                        self._clean_pass = number
                    self._progress.notify_all()
            if self._stopping and delay != 0.0:
                return
            if delay is None:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.poll_seconds):
                        await self._wake.wait()
            elif delay > 0:
                await asyncio.sleep(delay)  # a wake does not cut a backoff short

    async def _pass(self) -> tuple[bool, bool]:
        """Relay one batch: (a full batch was read, some entries were held back)."""
        async with self.db.sessions() as session:
            rows = await store.pending(session, self.batch_size, skip_locked=not self.db.is_sqlite)
            if not rows:
                return False, False
            spaces = {row.space_id for row in rows if row.space_id is not None}
            if self.db.is_sqlite and len(rows) < self.batch_size:
                first = _first_seqs(rows)  # one read saw every entry: nobody holds any
            else:
                first = await store.first_pending_seqs(session, spaces)
            todo = plan(rows, first)
            if todo.items:
                try:  # asyncio.timeout, not wait_for (which can swallow a cancellation)
                    async with asyncio.timeout(self.relay_timeout):
                        sent = await self.bus.relay(todo.items)
                except Exception as exc:
                    raise BusUnavailable(str(exc) or type(exc).__name__) from exc
                self.relayed += sum(sent)
            await store.delete(session, todo.done)
            await session.commit()
        return len(rows) >= self.batch_size, todo.held

    def _unavailable(self, what: str, exc: BaseException) -> None:
        if self.down != what:
            log.warning(
                "outbox: the %s is unavailable (%r); events wait in the outbox and are "
                "relayed once it is back",
                what,
                exc,
            )
            self.down = what

    def _available(self) -> None:
        if self.down is not None:
            log.warning("outbox: the %s is back; relaying the waiting events", self.down)
            self.down = None
            self._backoff.reset()
