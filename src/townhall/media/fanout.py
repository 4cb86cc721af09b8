"""Send one encoded payload to many listeners: per listener only a header patch, SRTP, sendto.

The mixer encodes the full mix once per 20 ms; `FanOut.send` loops over every attached
`RtpOut`. Per listener it writes payload type, sequence number, timestamp and SSRC into a
shared packet buffer (one `pack_into`), protects it with that listener's SRTP session and sends it
on that listener's ICE socket. Sequence numbers and packet/octet counts are derived from the
fan-out's round counter, so the loop stores nothing per listener.

Where the C fan-out is built (`townhall.media.native`), listeners on a plain UDP socket
with a libsrtp session are rows of a C `Core` instead: one call per round builds every
header, protects and sends, with the GIL released. With `threaded=True` (what rooms use)
that call runs on the fan-out thread, so the room's 20 ms tick never waits for the round
before; `send` then returns how many listeners the round was handed to. Other outs (a
TURN relay's transport, no session) and every out when the C part is absent go through
the Python loop below.

Failures never stop the loop: the others still get the packet. A listener whose socket is
gone (closed, not a socket) or whose SRTP session fails is dropped after the round, logged
and passed to `on_drop`. Other send errors (ENOBUFS, EPERM from a firewall, unreachable,
a full buffer) lose that packet only, as UDP would; a listener is dropped only when they
last: `MAX_FAILED_ROUNDS` failed rounds within `FAILURE_WINDOW_SECONDS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import struct
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import pylibsrtp

from townhall.media import native, srtp_fast
from townhall.media.rtp_out import RTP_HEADER_SIZE, Protect, RtpOut, Sendto

logger = logging.getLogger(__name__)

MAX_PAYLOAD_SIZE = 1200
MAX_FAILED_ROUNDS = 50
FAILURE_WINDOW_SECONDS = 2.0
# errnos after which a socket will never send again
_FATAL_ERRNOS = frozenset({errno.EBADF, errno.ENOTSOCK, errno.EDESTADDRREQ, errno.EAFNOSUPPORT})
_VERSION_BYTE = 0x80
_MARKER_BIT = 0x80

OnDrop = Callable[[Hashable, BaseException], None]
# (key, the out when the failure came from another thread's round, else None, error)
_Failure = tuple[Hashable, object, BaseException]
_LoopItem = tuple[Hashable, int, int, int, Protect, Sendto, tuple[object, ...]]
_FastItem = tuple[Hashable, int, int, int, Any, Sendto, tuple[object, ...]]


@dataclass(frozen=True)
class _Attachment:
    """Where an out stood when it joined this fan-out, to derive its counters later."""

    out: RtpOut
    round_at_add: int
    octets_at_add: int
    sequence_offset: int


class FanOut:
    """Listeners of one mix: `add`, `remove`, and `send(payload, timestamp)` once per frame."""

    def __init__(
        self,
        *,
        on_drop: OnDrop | None = None,
        fast_srtp: bool = True,
        native_loop: bool | None = None,
        threaded: bool = False,
    ) -> None:
        """`native_loop`: use the C loop (None: when it is built); `threaded`: run its
        rounds on the fan-out thread when `send` is called from a running event loop."""
        if native_loop is None:
            native_loop = native.available()
        self._native = native.NativeRows() if native_loop else None
        self._native_rows: dict[Hashable, native.Row] = {}
        self._threaded = threaded
        self._python_packets_sent = 0
        self._loop_cpu = 0.0
        self._attached: dict[Hashable, _Attachment] = {}
        self._by_out: dict[int, _Attachment] = {}
        self._loop_items: list[_LoopItem] = []
        self._fast_items: list[_FastItem] = []
        self._protect_buffer = (
            srtp_fast.ProtectBuffer() if fast_srtp and srtp_fast.available() else None
        )
        self._dirty = False
        self._on_drop = on_drop
        self.rounds = 0
        self.octets = 0
        self.last_timestamp = 0
        self.last_send_time = 0.0
        self.packets_lost_send_errors = 0
        self._failing: dict[Hashable, tuple[float, int]] = {}
        self._packet = bytearray(RTP_HEADER_SIZE + MAX_PAYLOAD_SIZE)
        self._packet[0] = _VERSION_BYTE
        self._pack_listener = struct.Struct("!BHII").pack_into

    @property
    def fast_srtp(self) -> bool:
        """True when outs with a libsrtp session are protected via `srtp_fast`."""
        return self._protect_buffer is not None

    @property
    def engine(self) -> str:
        """Which loop sends to listeners on plain sockets: "c", "srtp_fast" or "pylibsrtp"."""
        if self._native is not None:
            return "c"
        return "srtp_fast" if self.fast_srtp else "pylibsrtp"

    @property
    def packets_sent(self) -> int:
        """Listener-packets sent (by rounds on the fan-out thread: once they ran)."""
        native_sent = self._native.packets_sent if self._native is not None else 0
        return self._python_packets_sent + native_sent

    @property
    def cpu_seconds(self) -> float:
        """CPU time spent in `send` and in the rounds it handed to the fan-out thread."""
        thread_cpu = self._native.cpu_seconds if self._native is not None else 0.0
        return self._loop_cpu + thread_cpu

    @property
    def c_rows(self) -> int:
        """Listeners the C loop sends to now (a change waits for the round under way)."""
        return len(self._native) if self._native is not None else 0

    @property
    def rounds_skipped(self) -> int:
        """Rounds not sent because the fan-out thread was too far behind."""
        return self._native.rounds_skipped if self._native is not None else 0

    def __len__(self) -> int:
        return len(self._attached)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._attached

    def keys(self) -> list[Hashable]:
        """Keys of the attached listeners."""
        return list(self._attached)

    def add(self, key: Hashable, out: RtpOut) -> None:
        """Attach a connected out; it gets every payload from the next `send` on."""
        if out.closed:
            raise ValueError("cannot add a closed RtpOut")
        if key in self._attached:
            self.remove(key)
        if out.fanout_owner is not None:
            raise ValueError("RtpOut already belongs to a fan-out")
        out.fanout_owner = self
        attachment = _Attachment(
            out=out,
            round_at_add=self.rounds,
            octets_at_add=self.octets,
            sequence_offset=out.sequence_number - self.rounds,
        )
        self._attached[key] = attachment
        self._by_out[id(out)] = attachment
        row = self._native_row(key, attachment) if self._native is not None else None
        if row is not None and self._native is not None:
            self._native_rows[key] = row
            self._native.add(row)
        else:
            self._dirty = True

    def _native_row(self, key: Hashable, attachment: _Attachment) -> native.Row | None:
        """The C row of an out on a plain UDP socket with a libsrtp session, else None."""
        out = attachment.out
        path = out.path
        sock = path.sock
        if sock is None:
            owner = getattr(path.sendto, "__self__", None)
            sock = owner if isinstance(owner, socket.socket) else None
        if out.session is None or not path.raw_socket or sock is None or sock.fileno() < 0:
            return None
        where = native.destination(sock, path.remote_addr)
        if where is None:
            return None
        return native.Row(
            key=key,
            out=out,
            session=out.session,
            sock=sock,
            context=srtp_fast.context_address(out.session),
            destination=where,
            ssrc=out.ssrc,
            payload_type=out.payload_type,
            sequence_offset=attachment.sequence_offset,
            start_round=self.rounds,
        )

    def remove(self, key: Hashable) -> RtpOut | None:
        """Detach a listener (no more packets); its out keeps its sequence and counters."""
        attachment = self._attached.pop(key, None)
        self._failing.pop(key, None)
        if attachment is None:
            return None
        out = attachment.out
        del self._by_out[id(out)]
        row = self._native_rows.pop(key, None)
        if row is not None and self._native is not None:
            self._native.remove(row, self.rounds)
        else:
            self._dirty = True
        out.sequence_number = (attachment.sequence_offset + self.rounds) & 0xFFFF
        out.note_sent(
            self.rounds - attachment.round_at_add,
            self.octets - attachment.octets_at_add,
            self.last_timestamp,
        )
        out.fanout_owner = None
        return out

    def counters_for(self, out: RtpOut) -> tuple[int, int, int, float] | None:
        """An attached out's packets, octets, last timestamp and its time (for RTCP SR)."""
        attachment = self._by_out.get(id(out))
        if attachment is None or attachment.out is not out:
            return None
        if self.rounds == attachment.round_at_add:
            return None
        return (
            out.packets_sent + self.rounds - attachment.round_at_add,
            out.octets_sent + self.octets - attachment.octets_at_add,
            self.last_timestamp,
            self.last_send_time,
        )

    def _rebuild(self) -> None:
        fast = self._protect_buffer is not None
        self._loop_items = []
        self._fast_items = []
        for key, a in self._attached.items():
            if key in self._native_rows:
                continue
            out = a.out
            common = (key, a.sequence_offset, out.payload_type, out.ssrc)
            tail = (out.path.sendto, out.path.remote_addr)
            if fast and out.session is not None:
                context = srtp_fast.session_context(out.session)
                self._fast_items.append((*common, context, *tail))
            else:
                self._loop_items.append((*common, out.protect, *tail))
        self._dirty = False

    def send(self, payload: bytes, timestamp: int, marker: bool = False) -> int:
        """Send one encoded frame to every listener; returns how many it was sent to.

        An empty payload (an encoder still priming) sends nothing and returns 0.
        """
        size = len(payload)
        if not size:
            return 0
        if size > MAX_PAYLOAD_SIZE:
            raise ValueError(f"payload of {size} bytes exceeds {MAX_PAYLOAD_SIZE}")
        cpu = time.thread_time()
        if self._dirty:
            self._rebuild()
        timestamp &= 0xFFFFFFFF
        rounds = self.rounds
        sent = 0
        failed: list[_Failure] | None = None
        if self._native_rows:
            sent, failed = self._send_native(bytes(payload), rounds, timestamp, marker)
        if self._fast_items or self._loop_items:
            python_sent, python_failed = self._send_python(payload, timestamp, marker, rounds)
            sent += python_sent
            if python_failed:
                failed = (failed or []) + python_failed
        self.rounds = rounds + 1
        self.octets += size
        self.last_timestamp = timestamp
        self.last_send_time = time.time()
        if failed:
            self._drop(failed)
        self._loop_cpu += time.thread_time() - cpu
        return sent

    def _send_native(
        self, payload: bytes, rounds: int, timestamp: int, marker: bool
    ) -> tuple[int, list[_Failure] | None]:
        """The C rows: on the fan-out thread when threaded and in an event loop, else here."""
        rows = self._native
        assert rows is not None
        closed: list[_Failure] = [
            (key, row.out, OSError(errno.EBADF, "socket closed"))
            for key, row in self._native_rows.items()
            if row.sock.fileno() < 0
        ]
        if closed:  # a closed socket is fatal at once, as on the Python path
            self._drop(closed)
            if not self._native_rows:
                return 0, None
        loop = _running_loop() if self._threaded else None
        if loop is None and not rows.rounds_under_way:
            sent, failures = rows.send(payload, rounds, timestamp, marker)
            return sent, list(failures) or None
        if loop is None:
            raise RuntimeError("a threaded FanOut's rounds are under way: send from its loop")

        def report(failures: list[native.Failure]) -> None:
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody left to tell
                loop.call_soon_threadsafe(self._drop, failures)

        if rows.submit(payload, rounds, timestamp, marker, report):
            return len(self._native_rows), None
        return 0, None

    def _send_python(
        self, payload: bytes, timestamp: int, marker: bool, rounds: int
    ) -> tuple[int, list[_Failure] | None]:
        """The Python loop: outs that are not C rows (or every out without the C part)."""
        size = len(payload)
        packet = self._packet
        end = RTP_HEADER_SIZE + size
        packet[RTP_HEADER_SIZE:end] = payload
        view = memoryview(packet)[:end]
        pack = self._pack_listener
        marker_bit = _MARKER_BIT if marker else 0
        sent = 0
        failed: list[_Failure] | None = None
        if self._fast_items:
            sent, failed = self._send_fast(packet, end, timestamp, marker_bit, rounds)
        for key, seq_offset, payload_type, ssrc, protect, sendto, addr in self._loop_items:
            pack(
                packet,
                1,
                payload_type | marker_bit,
                (seq_offset + rounds) & 0xFFFF,
                timestamp,
                ssrc,
            )
            try:
                sendto(protect(bytes(view)), addr)
                sent += 1
            except (OSError, pylibsrtp.Error) as exc:
                if failed is None:
                    failed = []
                failed.append((key, None, exc))
        view.release()
        self._python_packets_sent += sent
        return sent, failed

    @staticmethod
    def _is_fatal(exc: BaseException) -> bool:
        if isinstance(exc, pylibsrtp.Error):
            return True
        return isinstance(exc, OSError) and exc.errno in _FATAL_ERRNOS

    def _send_fast(
        self, packet: bytearray, end: int, timestamp: int, marker_bit: int, rounds: int
    ) -> tuple[int, list[_Failure] | None]:
        """The loop for outs with a libsrtp session: protect in one shared C buffer."""
        buffer = self._protect_buffer
        assert buffer is not None
        cdata, view, length = buffer.cdata, buffer.view, buffer.length
        memmove, srtp_protect = buffer.memmove, buffer.srtp_protect
        pack = self._pack_listener
        sent = 0
        failed: list[_Failure] | None = None
        for key, seq_offset, payload_type, ssrc, context, sendto, addr in self._fast_items:
            pack(
                packet,
                1,
                payload_type | marker_bit,
                (seq_offset + rounds) & 0xFFFF,
                timestamp,
                ssrc,
            )
            memmove(cdata, packet, end)
            length[0] = end
            try:
                if srtp_protect(context, cdata, length):
                    raise pylibsrtp.Error("srtp_protect failed")
                sendto(view[: length[0]], addr)
                sent += 1
            except (OSError, pylibsrtp.Error) as exc:
                if failed is None:
                    failed = []
                failed.append((key, None, exc))
        return sent, failed

    def _drop(self, failed: list[_Failure]) -> None:
        """Count failed sends; drop listeners whose failure is fatal or lasts.

        A failure that names its out (a round on the fan-out thread) counts only while
        that out is still the one attached under its key.
        """
        now = time.monotonic()
        for key, out, exc in failed:
            attachment = self._attached.get(key)
            if out is not None and (attachment is None or attachment.out is not out):
                continue
            if not self._is_fatal(exc):
                self.packets_lost_send_errors += 1
                since, rounds = self._failing.get(key, (now, 0))
                if now - since > FAILURE_WINDOW_SECONDS:
                    since, rounds = now, 0
                self._failing[key] = (since, rounds + 1)
                if rounds + 1 < MAX_FAILED_ROUNDS:
                    continue
            self._failing.pop(key, None)
            self.remove(key)
            logger.warning("fan-out dropped listener %r: %s", key, exc)
            if self._on_drop is not None:
                try:
                    self._on_drop(key, exc)
                except Exception:
                    logger.exception("fan-out on_drop callback failed for %r", key)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
