"""Where encoded audio leaves the server: one `AudioOut` per connected participant.

The stock path is `PacketTrack`: an aiortc track that hands pre-encoded Opus packets to
the connection's own RTCRtpSender, which only packetises them. When media B's raw SRTP
path (`townhall.media.rtp_out` / `townhall.media.fanout`) is installed it is used instead.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Hashable
from typing import Any, Protocol

import av
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpSender
from aiortc.mediastreams import MediaStreamError

from townhall.media.audio import TIME_BASE


class AudioOut(Protocol):
    """Sends one encoded Opus payload to one participant."""

    def send(self, payload: bytes, timestamp: int, marker: bool = False) -> None: ...

    def close(self) -> None: ...


class ListenerFanOut(Protocol):
    """Sends the same payload to many participants."""

    def add(self, key: Hashable, out: Any) -> None: ...

    def remove(self, key: Hashable) -> Any: ...

    def send(self, payload: bytes, timestamp: int) -> int: ...


class PacketTrack(MediaStreamTrack):
    """An audio track whose frames are already-encoded Opus packets (bounded queue)."""

    kind = "audio"

    def __init__(self, max_queued: int = 5) -> None:
        super().__init__()
        self._queue: asyncio.Queue[av.Packet[Any] | None] = asyncio.Queue(maxsize=max_queued)

    def send(self, payload: bytes, timestamp: int, marker: bool = False) -> None:
        """Queue one packet; when the sender falls behind the oldest is dropped."""
        if self.readyState != "live" or not payload:
            return
        packet = av.Packet(payload)
        packet.pts = timestamp
        packet.time_base = TIME_BASE
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(packet)

    async def recv(self) -> av.Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        packet = await self._queue.get()
        if packet is None:
            raise MediaStreamError
        return packet

    def close(self) -> None:
        """The connection's close stops this track; nothing else to release."""

    def stop(self) -> None:
        if self.readyState == "live":
            if self._queue.full():
                self._queue.get_nowait()
            self._queue.put_nowait(None)
        super().stop()


class SimpleFanOut:
    """Fan-out over any `AudioOut`s (a loop of sends); the stock fallback."""

    def __init__(self) -> None:
        self._outs: dict[Hashable, AudioOut] = {}

    def __len__(self) -> int:
        return len(self._outs)

    def add(self, key: Hashable, out: AudioOut) -> None:
        self._outs[key] = out

    def remove(self, key: Hashable) -> None:
        self._outs.pop(key, None)

    def send(self, payload: bytes, timestamp: int) -> int:
        for out in self._outs.values():
            out.send(payload, timestamp)
        return len(self._outs)


def srtp_path_available() -> bool:
    """True when media B's raw SRTP output modules are installed."""
    return all(
        importlib.util.find_spec(name) is not None
        for name in ("townhall.media.rtp_out", "townhall.media.fanout")
    )


class OutputFactory:
    """Builds outputs for one mode: "stock" (aiortc sender) or "srtp" (media B's path)."""

    def __init__(self, mode: str = "auto", fanout_engine: str = "auto") -> None:
        """`fanout_engine`: "auto" (the C loop on the fan-out thread when it is built) or
        "python" (the Python loop, in the room's tick)."""
        if fanout_engine not in ("auto", "python"):
            raise ValueError('fanout engine must be "auto" or "python"')
        self.fanout_engine = fanout_engine
        if mode == "auto":
            mode = "srtp" if srtp_path_available() else "stock"
        if mode not in ("stock", "srtp"):
            raise ValueError('output mode must be "auto", "stock" or "srtp"')
        self.mode = mode

    def track_for_sender(self) -> MediaStreamTrack | None:
        """The track to attach to the server's sender (None: the sender stays idle)."""
        return PacketTrack() if self.mode == "stock" else None

    async def out_for(self, pc: RTCPeerConnection, sender: RTCRtpSender) -> AudioOut:
        """The output of a connected participant."""
        if self.mode == "stock":
            track = sender.track
            if not isinstance(track, PacketTrack):
                raise RuntimeError("stock output needs the sender's PacketTrack")
            return track
        from townhall.media.rtp_out import RtpOut  # type: ignore[import-not-found,unused-ignore]

        out: AudioOut = await RtpOut.from_connection(pc, sender)
        return out

    def fanout(self) -> ListenerFanOut:
        """A fan-out for the room's listeners."""
        if self.mode == "stock":
            return SimpleFanOut()
        from townhall.media import native
        from townhall.media.fanout import FanOut  # type: ignore[import-not-found,unused-ignore]

        use_c = self.fanout_engine == "auto" and native.available()
        fan: ListenerFanOut = FanOut(native_loop=use_c, threaded=use_c)
        return fan
