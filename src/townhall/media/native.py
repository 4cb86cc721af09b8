"""The fan-out's loop in C (`_fanout_c`, built at install time when a compiler is there).

`NativeRows` keeps one row per listener in a C `Core` (libsrtp context, a dup of the UDP
socket, destination, RTP header fields); `send` is one call per round that builds every
header, protects with libsrtp and sends, with the GIL released. `submit` runs that call
on the fan-out thread instead, so the caller (the room's 20 ms tick) never waits for it.

Rules that keep this safe:
- libsrtp contexts are not thread-safe. Every protect through `_fanout_c` holds one
  process-wide lock, and `GuardedSession` (which `RtpOut` installs as the DTLS transport's
  outbound session) routes aiortc's and townhall's other protects of these sessions
  through the same lock.
- A `Core` is touched by one thread at a time: rows are added and removed at once when no
  round is under way, else queued with the round they take effect at and applied by the
  fan-out thread just before that round. So each round goes to exactly the listeners that
  were attached when it was handed over, and a row never sends a round before its own
  (a sequence number its out already used). Rows keep their session (context) alive.
- Rows hold their own dup of the socket: a socket closed elsewhere mid-round leaves the
  round writing to that same socket, never to whatever reuses the descriptor number.

`available()` says whether the C path runs here and `unavailable_reason()` why not (no
compiled module, or pylibsrtp's binding is not the expected one).
"""

from __future__ import annotations

import importlib
import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pylibsrtp

from townhall.media import internals

logger = logging.getLogger(__name__)

_fanout_c: ModuleType | None
try:
    _fanout_c = importlib.import_module("townhall.media._fanout_c")
except ImportError as exc:  # not built (no compiler or headers at install time)
    _fanout_c = None
    _REASON: str | None = f"townhall.media._fanout_c is not built ({exc})"
else:
    _addresses = internals.srtp_protect_addresses()
    if _addresses is None:
        _REASON = "pylibsrtp's binding does not expose libsrtp 2's srtp_protect as expected"
    else:
        _fanout_c.configure(*_addresses)
        _REASON = None

# A fan-out whose thread is this many rounds behind skips rounds instead of queueing more.
MAX_PENDING_ROUNDS = 4


def available() -> bool:
    """True when the C fan-out is built and configured in this process."""
    return _REASON is None


def unavailable_reason() -> str | None:
    """Why the C fan-out does not run here (None: it does)."""
    return _REASON


class GuardedSession:
    """An outbound SRTP session whose protects hold the C fan-out's SRTP lock."""

    def __init__(self, session: pylibsrtp.Session) -> None:
        if _fanout_c is None or _REASON is not None:
            raise RuntimeError(_REASON or "the C fan-out is not available")
        self.wrapped_session = session
        self._context = internals.srtp_context_address(session)
        self._rtp = _fanout_c.protect
        self._rtcp = _fanout_c.protect_rtcp

    def protect(self, packet: bytes) -> bytes:
        try:
            return bytes(self._rtp(self._context, packet))
        except RuntimeError as exc:
            raise pylibsrtp.Error(str(exc)) from None

    def protect_rtcp(self, packet: bytes) -> bytes:
        try:
            return bytes(self._rtcp(self._context, packet))
        except RuntimeError as exc:
            raise pylibsrtp.Error(str(exc)) from None


def destination(sock: socket.socket, address: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """(family, host, port, flowinfo, scope_id) for a row, or None when C cannot send there
    (not an IP literal, another socket family): such an out stays on the Python path."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or len(address) < 2:
        return None
    host, port = address[0], address[1]
    if not isinstance(host, str) or not isinstance(port, int):
        return None
    try:
        socket.inet_pton(sock.family, host)
    except OSError:
        return None
    flowinfo = int(address[2]) if len(address) > 2 else 0
    scope_id = int(address[3]) if len(address) > 3 else 0
    return (int(sock.family), host, port, flowinfo, scope_id)


@dataclass(frozen=True)
class Row:
    """One listener's row: what C needs, and what keeps it valid."""

    key: Hashable
    out: object  # the RtpOut: failures name it, so a re-added key is not dropped by mistake
    session: pylibsrtp.Session  # keeps the srtp_t alive while C may use it
    sock: socket.socket
    context: int
    destination: tuple[Any, ...]
    ssrc: int
    payload_type: int
    sequence_offset: int
    start_round: int


Failure = tuple[Hashable, object, BaseException]


def _error(code: int) -> BaseException:
    if code < 0:
        return pylibsrtp.Error(f"srtp_protect failed with status {-code}")
    return OSError(code, os.strerror(code))


class _FanOutThread:
    """One thread per process that runs every fan-out's rounds, in the order submitted."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def submit(self, job: Callable[[], None]) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._start_lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(
                        target=self._run, name="townhall-fanout", daemon=True
                    )
                    self._thread.start()
        self._jobs.put(job)

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                job()
            except Exception:  # a failing round never stops the others
                logger.exception("a fan-out round failed")


FANOUT_THREAD = _FanOutThread()


class NativeRows:
    """The listeners of one fan-out that C sends to, and the rounds under way."""

    def __init__(self) -> None:
        if _fanout_c is None or _REASON is not None:
            raise RuntimeError(_REASON or "the C fan-out is not available")
        self._core = _fanout_c.Core()
        self._rows: list[Row] = []
        self._where: dict[Hashable, int] = {}
        # (round it takes effect at, row, fd to add) or (round, row, None) to remove
        self._pending: list[tuple[int, Row, int | None]] = []
        self._lock = threading.Lock()
        self._rounds_under_way = 0
        self.packets_sent = 0
        self.cpu_seconds = 0.0  # the fan-out thread's CPU in `submit`ted rounds
        self.rounds_skipped = 0

    def __len__(self) -> int:
        return len(self._core)

    @property
    def rounds_under_way(self) -> int:
        return self._rounds_under_way

    def add(self, row: Row) -> None:
        """A row sends from round `row.start_round` on (its socket is dup'd now)."""
        fd = os.dup(row.sock.fileno())
        self._change(row.start_round, row, fd)

    def remove(self, row: Row, round_: int) -> None:
        """The row gets no round from `round_` on (the rounds before it still go)."""
        self._change(round_, row, None)

    def _change(self, round_: int, row: Row, fd: int | None) -> None:
        with self._lock:
            if self._rounds_under_way:
                self._pending.append((round_, row, fd))
            else:
                self._apply(row, fd)

    def _apply(self, row: Row, fd: int | None) -> None:
        if fd is not None:
            try:
                index = self._core.add(
                    row.context,
                    fd,
                    *row.destination,
                    row.ssrc,
                    row.payload_type,
                    row.sequence_offset & 0xFFFF,
                    row.start_round,
                )
            except (OSError, ValueError, MemoryError):
                os.close(fd)
                logger.exception("listener %r not added to the C fan-out", row.key)
                return
            self._rows.append(row)
            self._where[row.key] = index
            return
        index_or_none = self._where.get(row.key)
        if index_or_none is None or self._rows[index_or_none] is not row:
            return
        index = index_or_none
        del self._where[row.key]
        moved = self._core.remove(index)
        last = self._rows.pop()
        if moved >= 0:
            self._rows[index] = last
            self._where[last.key] = index

    def _apply_pending(self, before: int | None = None) -> None:
        """Apply the changes that take effect at round `before` or earlier (None: all)."""
        pending = self._pending
        count = 0
        while count < len(pending) and (before is None or pending[count][0] <= before):
            count += 1
        self._pending = pending[count:]
        for _, row, fd in pending[:count]:
            self._apply(row, fd)

    def _failures(self, failed: list[tuple[int, int]]) -> list[Failure]:
        rows = self._rows
        return [(rows[i].key, rows[i].out, _error(code)) for i, code in failed]

    def send(
        self, payload: bytes, round_: int, timestamp: int, marker: bool
    ) -> tuple[int, list[Failure]]:
        """One round, now, in this thread (the GIL released while C runs)."""
        with self._lock:
            if self._rounds_under_way:
                raise RuntimeError("a submitted round is under way; use submit()")
            self._apply_pending()
        sent, failed = self._core.send(payload, round_, timestamp, marker)
        self.packets_sent += sent
        return sent, self._failures(failed) if failed else []

    def submit(
        self,
        payload: bytes,
        round_: int,
        timestamp: int,
        marker: bool,
        report: Callable[[list[Failure]], None],
    ) -> bool:
        """Run the round on the fan-out thread; False (skipped) when too many are queued.

        `report` is called from that thread with the round's failures, if any.
        """
        with self._lock:
            if self._rounds_under_way >= MAX_PENDING_ROUNDS:
                self.rounds_skipped += 1
                return False
            self._rounds_under_way += 1

        def run() -> None:
            cpu = time.thread_time()
            failures: list[Failure] = []
            try:
                with self._lock:
                    self._apply_pending(before=round_)
                sent, failed = self._core.send(payload, round_, timestamp, marker)
                self.packets_sent += sent
                if failed:
                    failures = self._failures(failed)
            finally:
                with self._lock:
                    self._rounds_under_way -= 1
                    if not self._rounds_under_way:
                        self._apply_pending()
                self.cpu_seconds += time.thread_time() - cpu
            if failures:
                report(failures)

        FANOUT_THREAD.submit(run)
        return True
