"""Send pre-encoded Opus as SRTP on a connected aiortc peer connection, bypassing its sender.

aiortc's `RTCRtpSender` costs 40-130 µs of CPU per packet even for pre-encoded audio
(a task, packet objects, header extensions, an awaited send per listener). `RtpOut` takes
over one connected audio sender: it learns the negotiated SSRC and payload type, the DTLS
transport's outbound SRTP session and the ICE transport's selected pair, stops the stock
sender's RTP and RTCP tasks, and then sends packets itself with one `struct.pack_into`,
one `protect` and one `sendto`, continuing the stock sender's sequence numbers.

What keeps working: aiortc still reads the socket, so ICE consent checks are answered and
sent (aioice), DTLS and incoming RTCP are handled, and the stock sender stays registered so
receiver reports reach it. `RtpOut` sends its own RTCP Sender Report (+ SDES CNAME) about
every 5 s with its real packet and octet counts, and an RTCP BYE on `close()`.

NACK: aiortc's audio codecs (opus, G722, PCMU, PCMA) declare no RTCP feedback, so an
answer from aiortc never negotiates NACK for audio; a stray NACK reaches the stock sender,
which can only resend packets it sent itself before the takeover. Opus conceals losses.

The aiortc/aioice internals it needs are read through `townhall.media.internals`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import pylibsrtp
from aiortc import RTCPeerConnection, RTCRtpSender
from aiortc.rtp import (
    RtcpByePacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSourceInfo,
    RtcpSrPacket,
)

from townhall.media import internals, native
from townhall.media.internals import AiortcInternalsError

logger = logging.getLogger(__name__)

REPORT_INTERVAL_SECONDS = 5.0
RTP_HEADER_SIZE = 12
_RTP_VERSION_BYTE = 0x80
_NTP_EPOCH_OFFSET = 2208988800

Sendto = Callable[[bytes | memoryview, tuple[Any, ...]], Any]
Protect = Callable[[bytes], bytes]


class CounterSource(Protocol):
    """Something that sends on an out's behalf and can tell its counts (a FanOut)."""

    def counters_for(self, out: RtpOut) -> tuple[int, int, int, float] | None:
        """(packets, octets, last RTP timestamp, its wall-clock time), or None."""
        ...


@dataclass(frozen=True)
class SendPath:
    """Where a connection's packets go: the selected ICE pair's send function and address.

    `sendto` is the raw UDP socket's when the local candidate is a plain socket (fast, and it
    raises once aioice closes the socket), else the transport's (e.g. TURN relays).
    `raw_socket` tells which; `sock` is that plain socket (None otherwise).
    """

    sendto: Sendto
    remote_addr: tuple[Any, ...]
    raw_socket: bool
    sock: socket.socket | None = None


def selected_send_path(sender: RTCRtpSender) -> SendPath:
    """The selected ICE candidate pair of a connected sender's transport."""
    pair = internals.nominated_pair(sender.transport.transport)
    if pair is None:
        raise ConnectionError("ICE has no selected candidate pair (not connected)")
    transport = pair.protocol.transport
    remote_addr = tuple(pair.remote_addr)
    sock = internals.udp_socket(transport)
    if sock is not None:
        return SendPath(sendto=sock.sendto, remote_addr=remote_addr, raw_socket=True, sock=sock)
    return SendPath(sendto=transport.sendto, remote_addr=remote_addr, raw_socket=False)


def _transceiver_codec_payload_type(pc: RTCPeerConnection, sender: RTCRtpSender) -> int:
    for transceiver in pc.getTransceivers():
        if transceiver.sender is sender:
            direction = transceiver.currentDirection
            if direction not in (None, "sendonly", "sendrecv"):
                raise ValueError(f"the sender's transceiver does not send ({direction})")
            codecs = internals.negotiated_codecs(transceiver)
            if not codecs:
                raise ConnectionError("the sender's transceiver has no negotiated codec")
            codec = codecs[0]
            if codec.mimeType.lower() != "audio/opus" or codec.clockRate != 48000:
                raise ValueError(f"negotiated codec is {codec.mimeType}/{codec.clockRate}")
            return int(codec.payloadType)
    raise ValueError("sender does not belong to this peer connection")


def _last_stock_sequence_number(sender: RTCRtpSender) -> int | None:
    """The sequence number of the stock sender's last RTP packet (None: it sent none).

    Its history keeps the last 128 packets, consecutive: the last is the one whose
    successor is not there. libsrtp refuses to protect a sequence number that goes back,
    so RtpOut must continue after it.
    """
    history = internals.rtp_history(sender)
    numbers = {packet.sequence_number for packet in history.values()}
    for number in numbers:
        if (number + 1) & 0xFFFF not in numbers:
            return int(number)
    return None


async def _take_over_sender(sender: RTCRtpSender, timeout: float) -> None:
    """Stop the stock sender's RTP and RTCP tasks without sending its RTCP BYE."""
    loops = internals.sender_tasks(sender)
    async with asyncio.timeout(timeout):
        await loops.started_rtp.wait()
        await loops.started_rtcp.wait()
    sender.replaceTrack(None)

    async def _discard_rtcp(packets: list[Any]) -> None:
        """The stock RTCP task's SR/SDES/BYE: RtpOut sends its own."""

    internals.replace_send_rtcp(sender, _discard_rtcp)
    for task in internals.sender_tasks(sender).tasks:
        if task is not None:
            task.cancel()
    async with asyncio.timeout(timeout):
        await loops.exited_rtp.wait()
        await loops.exited_rtcp.wait()


def _ntp_now() -> int:
    now = time.time()
    seconds = int(now)
    return ((seconds + _NTP_EPOCH_OFFSET) << 32) | int((now - seconds) * (1 << 32))


class RtpOut:
    """One listener's (or speaker's) outbound audio stream: RTP header, SRTP, sendto.

    Build it with `await RtpOut.from_connection(pc, sender)` once the connection is up.
    `send()` is synchronous; `FanOut` reads `ssrc`, `payload_type`, `session` (or
    `protect`), `path` and the counters to send one payload to many outs in a tight loop.
    """

    def __init__(
        self,
        *,
        ssrc: int,
        payload_type: int,
        protect: Protect,
        protect_rtcp: Protect,
        path: SendPath,
        cname: str,
        clock_rate: int = 48000,
        report_interval: float = REPORT_INTERVAL_SECONDS,
        session: pylibsrtp.Session | None = None,
    ) -> None:
        self.ssrc = ssrc
        self.session = session
        self.payload_type = payload_type
        self.protect = protect
        self.protect_rtcp = protect_rtcp
        self.path = path
        self.cname = cname
        self.clock_rate = clock_rate
        self.sequence_number = random.randrange(32768)
        self.packets_sent = 0
        self.octets_sent = 0
        self.last_timestamp = 0
        self.last_send_time = 0.0
        self.closed = False
        self._header = bytearray(RTP_HEADER_SIZE)
        self._pack_header = struct.Struct("!BBHII").pack_into
        self._report_interval = report_interval
        self._report_task: asyncio.Task[None] | None = None
        self.fanout_owner: CounterSource | None = None

    @classmethod
    async def from_connection(
        cls,
        pc: RTCPeerConnection,
        sender: RTCRtpSender,
        *,
        timeout: float = 10.0,
        report_interval: float = REPORT_INTERVAL_SECONDS,
    ) -> RtpOut:
        """Take over a connected audio sender of `pc` (its transceiver must send Opus).

        Waits (at most `timeout`) until aiortc has started the sender, then stops the
        stock sender's media and RTCP tasks and starts this out's Sender Reports.
        """
        if sender.kind != "audio":
            raise ValueError("RtpOut sends audio only")
        payload_type = _transceiver_codec_payload_type(pc, sender)
        await _take_over_sender(sender, timeout)
        dtls = sender.transport
        if dtls.state != "connected":
            raise ConnectionError(f"DTLS transport is {dtls.state}, not connected")
        srtp = internals.outbound_srtp(dtls)
        if srtp is None:
            raise AiortcInternalsError("RTCDtlsTransport._tx_srtp is None while connected")
        protect, protect_rtcp = srtp.protect, srtp.protect_rtcp
        if native.available():
            # The C fan-out may protect with this session on its thread: every other
            # protect of it (aiortc's included) takes the same lock.
            internals.wrap_outbound_srtp(dtls, native.GuardedSession)
            guarded = native.GuardedSession(srtp)
            protect, protect_rtcp = guarded.protect, guarded.protect_rtcp
        state = internals.sender_state(sender)
        cname = state.cname
        last_sequence_number = _last_stock_sequence_number(sender)
        packets_before = state.packets
        octets_before = state.octets
        out = cls(
            ssrc=state.ssrc,
            payload_type=payload_type,
            protect=protect,
            protect_rtcp=protect_rtcp,
            path=selected_send_path(sender),
            cname=cname,
            report_interval=report_interval,
            session=srtp,
        )
        if last_sequence_number is not None:
            # The stream goes on from where the stock sender stopped (same SSRC).
            out.sequence_number = (last_sequence_number + 1) & 0xFFFF
            out.packets_sent = packets_before
            out.octets_sent = octets_before
        out.start_reports()
        return out

    # -- media ------------------------------------------------------------

    def send(self, payload: bytes, timestamp: int, marker: bool = False) -> None:
        """Send one encoded frame (nothing for an empty payload).

        Raises OSError if the connection's socket is gone, ConnectionError once closed.
        """
        if self.closed:
            raise ConnectionError("RtpOut is closed")
        if not payload:
            return
        seq = self.sequence_number
        header = self._header
        self._pack_header(
            header,
            0,
            _RTP_VERSION_BYTE,
            self.payload_type | (0x80 if marker else 0),
            seq,
            timestamp & 0xFFFFFFFF,
            self.ssrc,
        )
        self.path.sendto(self.protect(bytes(header) + payload), self.path.remote_addr)
        self.sequence_number = (seq + 1) & 0xFFFF
        self.note_sent(1, len(payload), timestamp)

    def note_sent(self, packets: int, octets: int, timestamp: int) -> None:
        """Account for packets sent on this out's behalf (FanOut calls it on detach)."""
        if packets <= 0:
            return
        self.packets_sent += packets
        self.octets_sent += octets
        self.last_timestamp = timestamp & 0xFFFFFFFF
        self.last_send_time = time.time()

    # -- RTCP ---------------------------------------------------------------

    def counters(self) -> tuple[int, int, int, float]:
        """(packets, octets, last RTP timestamp, its wall-clock time), including any FanOut's."""
        owner = self.fanout_owner
        if owner is not None:
            counted = owner.counters_for(self)
            if counted is not None:
                return counted
        return self.packets_sent, self.octets_sent, self.last_timestamp, self.last_send_time

    def sender_report(self) -> bytes:
        """A compound RTCP packet: Sender Report with current counts, then SDES CNAME."""
        packets, octets, last_ts, last_time = self.counters()
        now = time.time()
        rtp_timestamp = last_ts
        if last_time:
            rtp_timestamp = (last_ts + int((now - last_time) * self.clock_rate)) & 0xFFFFFFFF
        report = RtcpSrPacket(
            ssrc=self.ssrc,
            sender_info=RtcpSenderInfo(
                ntp_timestamp=_ntp_now(),
                rtp_timestamp=rtp_timestamp,
                packet_count=packets & 0xFFFFFFFF,
                octet_count=octets & 0xFFFFFFFF,
            ),
        )
        sdes = RtcpSdesPacket(
            chunks=[RtcpSourceInfo(ssrc=self.ssrc, items=[(1, self.cname.encode())])]
        )
        return bytes(report) + bytes(sdes)

    def send_rtcp(self, packet: bytes) -> None:
        """Protect and send one (compound) RTCP packet."""
        self.path.sendto(self.protect_rtcp(packet), self.path.remote_addr)

    def start_reports(self) -> None:
        """Send a Sender Report about every `report_interval` seconds until `close()`."""
        if self._report_task is None:
            self._report_task = asyncio.get_running_loop().create_task(self._run_reports())

    async def _run_reports(self) -> None:
        while not self.closed:
            await asyncio.sleep(self._report_interval * (0.5 + random.random()))
            try:
                self.send_rtcp(self.sender_report())
            except OSError as exc:
                logger.info("RTCP to %s stopped: %s", self.path.remote_addr, exc)
                return

    def close(self, *, bye: bool = True) -> None:
        """Stop Sender Reports; send an RTCP BYE unless `bye=False` or the socket is gone."""
        if self.closed:
            return
        self.closed = True
        if self._report_task is not None:
            self._report_task.cancel()
            self._report_task = None
        if bye:
            with contextlib.suppress(OSError):
                self.send_rtcp(self.sender_report() + bytes(RtcpByePacket(sources=[self.ssrc])))
