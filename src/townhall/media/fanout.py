"""Send one encoded payload to many listeners: per listener only a header patch, SRTP, sendto.

The mixer encodes the full mix once per 20 ms; `FanOut.send` loops over every attached
`RtpOut`. Per listener it writes payload type, sequence number, timestamp and SSRC into a
shared packet buffer (one `pack_into`), protects it with that listener's SRTP session and sends it
on that listener's ICE socket. Sequence numbers and packet/octet counts are derived from the
fan-out's round counter, so the loop stores nothing per listener.

Failures never stop the loop: the others still get the packet. A listener whose socket is
gone (closed, not a socket) or whose SRTP session fails is dropped after the round, logged
and passed to `on_drop`. Other send errors (ENOBUFS, EPERM from a firewall, unreachable,
a full buffer) lose that packet only, as UDP would; a listener is dropped only when they
last: `MAX_FAILED_ROUNDS` failed rounds within `FAILURE_WINDOW_SECONDS`.
"""

from __future__ import annotations

import errno
import logging
import struct
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import pylibsrtp

from townhall.media import srtp_fast
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

    def __init__(self, *, on_drop: OnDrop | None = None, fast_srtp: bool = True) -> None:
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
        self.packets_sent = 0
        self.packets_lost_send_errors = 0
        self._failing: dict[Hashable, tuple[float, int]] = {}
        self._packet = bytearray(RTP_HEADER_SIZE + MAX_PAYLOAD_SIZE)
        self._packet[0] = _VERSION_BYTE
        self._pack_listener = struct.Struct("!BHII").pack_into

    @property
    def fast_srtp(self) -> bool:
        """True when outs with a libsrtp session are protected via `srtp_fast`."""
        return self._protect_buffer is not None

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
        self._dirty = True

    def remove(self, key: Hashable) -> RtpOut | None:
        """Detach a listener (no more packets); its out keeps its sequence and counters."""
        attachment = self._attached.pop(key, None)
        self._failing.pop(key, None)
        if attachment is None:
            return None
        out = attachment.out
        del self._by_out[id(out)]
        out.sequence_number = (attachment.sequence_offset + self.rounds) & 0xFFFF
        out.note_sent(
            self.rounds - attachment.round_at_add,
            self.octets - attachment.octets_at_add,
            self.last_timestamp,
        )
        out.fanout_owner = None
        self._dirty = True
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
        if self._dirty:
            self._rebuild()
        packet = self._packet
        timestamp &= 0xFFFFFFFF
        end = RTP_HEADER_SIZE + size
        packet[RTP_HEADER_SIZE:end] = payload
        view = memoryview(packet)[:end]
        pack = self._pack_listener
        rounds = self.rounds
        marker_bit = _MARKER_BIT if marker else 0
        sent = 0
        failed: list[tuple[Hashable, BaseException]] | None = None
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
                failed.append((key, exc))
        view.release()
        self.rounds = rounds + 1
        self.octets += size
        self.last_timestamp = timestamp
        self.last_send_time = time.time()
        self.packets_sent += sent
        if failed:
            self._drop(failed)
        return sent

    @staticmethod
    def _is_fatal(exc: BaseException) -> bool:
        if isinstance(exc, pylibsrtp.Error):
            return True
        return isinstance(exc, OSError) and exc.errno in _FATAL_ERRNOS

    def _send_fast(
        self, packet: bytearray, end: int, timestamp: int, marker_bit: int, rounds: int
    ) -> tuple[int, list[tuple[Hashable, BaseException]] | None]:
        """The loop for outs with a libsrtp session: protect in one shared C buffer."""
        buffer = self._protect_buffer
        assert buffer is not None
        cdata, view, length = buffer.cdata, buffer.view, buffer.length
        memmove, srtp_protect = buffer.memmove, buffer.srtp_protect
        pack = self._pack_listener
        sent = 0
        failed: list[tuple[Hashable, BaseException]] | None = None
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
                failed.append((key, exc))
        return sent, failed

    def _drop(self, failed: list[tuple[Hashable, BaseException]]) -> None:
        """Count failed sends; drop listeners whose failure is fatal or lasts."""
        now = time.monotonic()
        for key, exc in failed:
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
