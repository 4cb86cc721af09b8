"""Receive a speaker's Opus RTP at the socket, ahead of aiortc's receiver.

aiortc's `RTCRtpReceiver` holds 4 audio packets in its jitter buffer before it decodes
(~80 ms) and decodes in a thread per receiver. A mixer with its own jitter buffer needs
neither. `RtpIn` wraps the ICE socket's `datagram_received` of one connection: SRTP
packets (not RTCP) are unprotected with the connection's own inbound SRTP session, the RTP
header is parsed (CSRCs, header extensions, padding), and `on_packet(payload, timestamp,
sequence_number)` is called right away for the negotiated Opus payload type. Everything
else (STUN consent checks, DTLS, RTCP) still goes to aiortc. `OpusDecoder` turns payloads
into 48 kHz mono int16 frames.

Trade-off: aiortc's receiver no longer sees the RTP, so its RTCP receiver reports carry no
report block for this stream (senders keep sending; browsers adapt bitrate without it).

The aiortc/aioice internals it needs are read through `townhall.media.internals`.
"""

from __future__ import annotations

import fractions
import logging
from collections.abc import Callable
from typing import Any

import av
import numpy as np
import numpy.typing as npt
import pylibsrtp
from aiortc import RTCPeerConnection, RTCRtpReceiver

from townhall.media import internals
from townhall.media.audio import SAMPLE_RATE

logger = logging.getLogger(__name__)

OnPacket = Callable[[bytes, int, int], None]
_TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)


def parse_rtp(packet: bytes) -> tuple[int, int, int, bytes] | None:
    """(payload type, sequence number, timestamp, payload) of a plain RTP packet, or None."""
    size = len(packet)
    if size < 12 or packet[0] >> 6 != 2:
        return None
    first = packet[0]
    offset = 12 + 4 * (first & 0x0F)
    if first & 0x10:
        if size < offset + 4:
            return None
        offset += 4 + 4 * int.from_bytes(packet[offset + 2 : offset + 4], "big")
    end = size
    if first & 0x20:
        end -= packet[-1]
    if offset > end:
        return None
    return (
        packet[1] & 0x7F,
        int.from_bytes(packet[2:4], "big"),
        int.from_bytes(packet[4:8], "big"),
        packet[offset:end],
    )


def _opus_payload_type(pc: RTCPeerConnection, receiver: RTCRtpReceiver) -> int:
    for transceiver in pc.getTransceivers():
        if transceiver.receiver is receiver:
            for codec in internals.negotiated_codecs(transceiver):
                if codec.mimeType.lower() == "audio/opus":
                    return int(codec.payloadType)
            raise ValueError("no Opus codec negotiated on this receiver")
    raise ValueError("receiver does not belong to this peer connection")


class RtpIn:
    """One connection's inbound Opus RTP, delivered on arrival. `close()` undoes the tap."""

    def __init__(self, dtls: Any, payload_type: int, on_packet: OnPacket) -> None:
        self._dtls = dtls
        self.payload_type = payload_type
        self._on_packet = on_packet
        self._restore: list[tuple[Any, Any]] = []
        self.packets = 0
        self.rejected = 0
        self.closed = False

    @classmethod
    def attach(cls, pc: RTCPeerConnection, receiver: RTCRtpReceiver, on_packet: OnPacket) -> RtpIn:
        """Tap the connection's ICE sockets: call it once ICE gathering is complete
        (after `setLocalDescription`), e.g. when the connection becomes "connected"."""
        dtls = receiver.transport
        payload_type = _opus_payload_type(pc, receiver)
        protocols = internals.ice_protocols(dtls.transport)
        if not protocols:
            raise ConnectionError("no ICE sockets yet: attach after setLocalDescription")
        rtp_in = cls(dtls, payload_type, on_packet)
        for protocol in protocols:
            original = protocol.datagram_received
            rtp_in._restore.append((protocol, original))
            protocol.datagram_received = rtp_in._wrap(original)
        return rtp_in

    def _wrap(self, original: Callable[[bytes, tuple[Any, ...]], None]) -> Any:
        def datagram_received(data: bytes, addr: tuple[Any, ...]) -> None:
            if (
                not self.closed
                and len(data) > 12
                and 127 < data[0] < 192
                and not 191 < data[1] < 224
                and (session := internals.inbound_srtp(self._dtls)) is not None
            ):
                self._receive(session, data)
                return
            original(data, addr)

        return datagram_received

    def _receive(self, session: pylibsrtp.Session, data: bytes) -> None:
        try:
            plain = session.unprotect(data)
        except pylibsrtp.Error:
            self.rejected += 1
            return
        parsed = parse_rtp(plain)
        if parsed is None or parsed[0] != self.payload_type or not parsed[3]:
            self.rejected += 1
            return
        self.packets += 1
        try:
            self._on_packet(parsed[3], parsed[2], parsed[1])
        except Exception:
            logger.exception("RtpIn on_packet failed")

    def close(self) -> None:
        """Stop tapping: aiortc's receiver gets the RTP again."""
        self.closed = True
        for protocol, original in self._restore:
            protocol.datagram_received = original
        self._restore.clear()


Pcm = npt.NDArray[np.int16]


class OpusDecoder:
    """libopus (PyAV) decoding straight to 48 kHz mono int16, one 20 ms packet at a time."""

    def __init__(self) -> None:
        codec = av.CodecContext.create("libopus", "r")
        assert isinstance(codec, av.AudioCodecContext)
        codec.sample_rate = SAMPLE_RATE
        codec.layout = "mono"
        codec.format = "s16"
        self._codec = codec

    def decode(self, payload: bytes) -> Pcm:
        """The samples of one Opus packet (960 for 20 ms); empty if it cannot be decoded."""
        packet = av.Packet(payload)
        packet.time_base = _TIME_BASE
        try:
            frames = self._codec.decode(packet)
        except av.FFmpegError:
            return np.zeros(0, dtype=np.int16)
        parts = [frame.to_ndarray().reshape(-1) for frame in frames]
        if not parts:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(parts).astype(np.int16, copy=False)
