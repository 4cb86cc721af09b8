"""The media-server side of the benchmarks, run as its own process.

`python -m bench.server [--mix mediaserver|synthetic] --port 0` prints `READY <port> <pid>`
and serves JSON-lines signalling on 127.0.0.1 (see bench/signalling.py):

- {"op": "offer", "user": int, "role": "listener"|"speaker", "sdp", "type"} -> {"sdp", "type"}
- {"op": "leave", "user": int} -> {}
- {"op": "stats"} -> CPU seconds, RSS, listeners attached, packets sent, mixer rounds/lag
- {"op": "record_arrivals", "user": int} / {"op": "arrivals", "user": int}: arrival times
  (CLOCK_MONOTONIC) and RTP timestamps of that participant's packets at the server socket
- {"op": "quit"} -> {} and the process exits.

Mixes:
- `mediaserver` (default): townhall's `MediaServer` (one space "bench"): speakers are
  taken at the socket and decoded on arrival (RtpIn), mixed every 20 ms, the mix is
  encoded once and fanned out (RtpOut + FanOut). `--jitter-prefetch-ms` sets the rooms'
  jitter prefetch (TOWNHALL_JITTER_PREFETCH_MS; default 20).
- `synthetic`: no MediaServer; a pre-encoded Opus loop (~100-byte packets) is sent through
  `FanOut` every 20 ms: the fan-out's cost alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import sys
import time
from typing import Any, Protocol

from aiortc import RTCPeerConnection, RTCSessionDescription

from bench.common import FRAME_SAMPLES, encode_tone, process_rss_bytes
from bench.loadgen import ArrivalRecorder, SocketTap
from bench.signalling import serve
from townhall.config import load_settings
from townhall.media import native
from townhall.media.fanout import FanOut
from townhall.media.ice import rtc_configuration, use_host_addresses
from townhall.media.rtp_out import RtpOut

logger = logging.getLogger("bench.server")
TICK_SECONDS = 0.02
SPACE = "bench"


class Backend(Protocol):
    async def offer(self, message: dict[str, Any]) -> dict[str, Any]: ...
    async def leave(self, message: dict[str, Any]) -> dict[str, Any]: ...
    def stats(self) -> dict[str, Any]: ...
    def pc_of(self, user: int) -> RTCPeerConnection | None: ...
    async def close(self) -> None: ...


class SyntheticBackend:
    """Listeners' peer connections, one FanOut, and a 20 ms send loop of pre-encoded packets."""

    def __init__(self, output: str = "srtp", fanout_engine: str = "auto") -> None:
        self.packets = encode_tone(440.0, 250, amplitude=0.3, bit_rate=24000)
        self.output = output
        self.fanout: Any
        self.fanout_engine = "stock"
        if output == "stock":
            # Baseline: aiortc's own RTCRtpSender per listener, fed pre-encoded packets.
            from townhall.media.output import SimpleFanOut

            self.fanout = SimpleFanOut()
        else:
            # As rooms build it (OutputFactory.fanout): the C loop on its thread if built.
            use_c = fanout_engine == "auto" and native.available()
            self.fanout = FanOut(
                on_drop=lambda key, exc: self.dropped.append(str(key)),
                native_loop=use_c,
                threaded=use_c,
            )
            self.fanout_engine = self.fanout.engine
        self.rounds = 0
        self.packets_sent = 0
        self.dropped: list[str] = []
        self.pcs: dict[int, RTCPeerConnection] = {}
        self.attach_failures = 0
        self.ticks = 0
        self.late_ticks = 0
        self.max_lag = 0.0
        self.send_cpu = 0.0
        self._tasks: set[asyncio.Task[None]] = set()
        self._mixer = asyncio.create_task(self._run_mixer())

    def pc_of(self, user: int) -> RTCPeerConnection | None:
        return self.pcs.get(user)

    async def offer(self, message: dict[str, Any]) -> dict[str, Any]:
        user = int(message["user"])
        pc = RTCPeerConnection(rtc_configuration([]))
        self.pcs[user] = pc
        connected = asyncio.Event()

        @pc.on("connectionstatechange")
        def _on_state() -> None:
            if pc.connectionState in ("connected", "failed", "closed"):
                connected.set()

        await pc.setRemoteDescription(RTCSessionDescription(message["sdp"], message["type"]))
        transceiver = pc.getTransceivers()[0]
        transceiver.direction = "sendonly"
        if self.output == "stock":
            from townhall.media.output import PacketTrack

            transceiver.sender.replaceTrack(PacketTrack())
        await pc.setLocalDescription(await pc.createAnswer())
        task = asyncio.create_task(self._attach(user, pc, transceiver.sender, connected))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}

    async def _attach(
        self, user: int, pc: RTCPeerConnection, sender: Any, connected: asyncio.Event
    ) -> None:
        try:
            await asyncio.wait_for(connected.wait(), 30)
            if pc.connectionState != "connected":
                raise ConnectionError(pc.connectionState)
            if self.output == "stock":
                self.fanout.add(user, sender.track)
            else:
                self.fanout.add(user, await RtpOut.from_connection(pc, sender))
        except Exception as exc:
            self.attach_failures += 1
            logger.warning("listener %s not attached: %r", user, exc)

    async def leave(self, message: dict[str, Any]) -> dict[str, Any]:
        user = int(message["user"])
        out = self.fanout.remove(user)
        if isinstance(out, RtpOut):
            out.close()
        pc = self.pcs.pop(user, None)
        if pc is not None:
            await pc.close()
        return {}

    async def _run_mixer(self) -> None:
        loop = asyncio.get_running_loop()
        timestamp = random.getrandbits(32)
        start = loop.time()
        while True:
            self.ticks += 1
            deadline = start + self.ticks * TICK_SECONDS
            delay = deadline - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            lag = loop.time() - deadline
            if lag > TICK_SECONDS:
                self.late_ticks += 1
            self.max_lag = max(self.max_lag, lag)
            cpu0 = time.thread_time()
            sent = self.fanout.send(self.packets[self.ticks % len(self.packets)], timestamp)
            self.send_cpu += time.thread_time() - cpu0
            self.rounds += 1
            self.packets_sent += sent
            timestamp = (timestamp + FRAME_SAMPLES) & 0xFFFFFFFF

    def stats(self) -> dict[str, Any]:
        return {
            "listeners": len(self.fanout),
            "connections": len(self.pcs),
            "attach_failures": self.attach_failures,
            "dropped": len(self.dropped),
            "rounds": self.rounds,
            "packets_sent": self.packets_sent,
            "fanout_send_cpu_seconds": getattr(self.fanout, "cpu_seconds", self.send_cpu),
            "fanout_engine": self.fanout_engine,
            "fanout_rounds_skipped": getattr(self.fanout, "rounds_skipped", 0),
            "late_ticks": self.late_ticks,
            "skipped_ticks": 0,
            "max_lag_seconds": self.max_lag,
            "payload_bytes_mean": sum(map(len, self.packets)) / len(self.packets),
        }

    async def close(self) -> None:
        self._mixer.cancel()
        for pc in list(self.pcs.values()):
            with contextlib.suppress(Exception):
                await pc.close()


class MediaServerBackend:
    """townhall's MediaServer with one space; the listeners' fan-out is timed in place."""

    def __init__(self, jitter_prefetch_ms: int | None = None, fanout_engine: str = "auto") -> None:
        from townhall.media.server import MediaServer

        overrides: dict[str, Any] = {
            "media_addresses": ["127.0.0.1"],
            "fanout_engine": fanout_engine,
        }
        if jitter_prefetch_ms is not None:
            overrides["jitter_prefetch_ms"] = jitter_prefetch_ms
        self.settings = load_settings(**overrides)
        self.media = MediaServer(self.settings, None)
        self.send_cpu = 0.0
        self.payload_bytes = 0
        self.payload_count = 0
        self._timed_fanout: object | None = None

    def _room(self) -> Any:
        return self.media.room(SPACE)

    def pc_of(self, user: int) -> RTCPeerConnection | None:
        room = self._room()
        participant = room.participants.get(user) if room is not None else None
        return participant.pc if participant is not None else None

    def _time_fanout(self) -> None:
        """Wrap the room's FanOut.send to add up its payload sizes (and CPU time, for a
        fan-out that does not count its own: FanOut counts its thread's too)."""
        room = self._room()
        fanout = getattr(room, "_fanout", None) if room is not None else None
        if fanout is None or fanout is self._timed_fanout:
            return
        self._timed_fanout = fanout
        send = fanout.send

        def timed_send(payload: bytes, timestamp: int, marker: bool = False) -> int:
            cpu0 = time.thread_time()
            sent: int = send(payload, timestamp)
            self.send_cpu += time.thread_time() - cpu0
            self.payload_bytes += len(payload)
            self.payload_count += 1
            return sent

        fanout.send = timed_send

    async def offer(self, message: dict[str, Any]) -> dict[str, Any]:
        speaker = message.get("role") == "speaker"
        sdp, kind = await self.media.answer(
            SPACE,
            int(message["user"]),
            message["sdp"],
            message["type"],
            on_stage=speaker,
            muted=False,
        )
        self._time_fanout()
        return {"sdp": sdp, "type": kind}

    async def leave(self, message: dict[str, Any]) -> dict[str, Any]:
        await self.media.disconnect(SPACE, int(message["user"]))
        return {}

    def stats(self) -> dict[str, Any]:
        room = self._room()
        if room is None:
            return {
                "listeners": 0,
                "speakers": 0,
                "rounds": 0,
                "packets_sent": 0,
                "attach_failures": 0,
                "late_ticks": 0,
                "skipped_ticks": 0,
                "max_lag_seconds": 0.0,
                "fanout_send_cpu_seconds": 0.0,
                "payload_bytes_mean": 0.0,
                "connections": 0,
            }
        participants = list(room.participants.values())
        return {
            "listeners": sum(1 for p in participants if p.out is not None and not p.on_stage),
            "speakers": sum(1 for p in participants if p.on_stage),
            "connections": len(participants),
            "attach_failures": 0,
            "rounds": room.clock.ticks,
            "packets_sent": room.listener_packets,
            "fanout_send_cpu_seconds": getattr(room._fanout, "cpu_seconds", self.send_cpu),
            "fanout_engine": getattr(room._fanout, "engine", "stock"),
            "fanout_rounds_skipped": getattr(room._fanout, "rounds_skipped", 0),
            "late_ticks": room.clock.skipped,
            "skipped_ticks": room.clock.skipped,
            "max_lag_seconds": float("nan"),
            "payload_bytes_mean": self.payload_bytes / max(1, self.payload_count),
            "speaker_jitter": self._jitter_stats(participants),
        }

    @staticmethod
    def _jitter_stats(participants: list[Any]) -> dict[str, dict[str, int]]:
        """Each speaker's jitter buffer counters (frames pushed, late, concealed, ...)."""
        return {
            str(p.user_id): {k: int(v) for k, v in vars(p.jitter.stats).items()}
            for p in participants
            if p.on_stage
        }

    async def close(self) -> None:
        await self.media.close()


async def main(
    mix: str, port: int, output: str, jitter_prefetch_ms: int | None, fanout_engine: str
) -> None:
    use_host_addresses(["127.0.0.1"])
    backend: Backend = (
        SyntheticBackend(output, fanout_engine)
        if mix == "synthetic"
        else MediaServerBackend(jitter_prefetch_ms, fanout_engine)
    )
    recorders: dict[int, SocketTap] = {}
    stop = asyncio.Event()

    async def handle(message: dict[str, Any]) -> dict[str, Any]:
        op = message.get("op")
        if op == "offer":
            return await backend.offer(message)
        if op == "leave":
            return await backend.leave(message)
        if op == "stats":
            times = os.times()
            return {
                "pid": os.getpid(),
                "cpu_seconds": times.user + times.system,
                "rss_bytes": process_rss_bytes(os.getpid()),
                "monotonic": time.perf_counter(),
                **backend.stats(),
            }
        if op == "record_arrivals":
            pc = backend.pc_of(int(message["user"]))
            if pc is None:
                raise KeyError(f"no connection for user {message['user']}")
            recorders[int(message["user"])] = ArrivalRecorder.install(pc)
            return {}
        if op == "arrivals":
            return {"arrivals": recorders[int(message["user"])].arrivals}
        if op == "quit":
            stop.set()
            return {}
        raise ValueError(f"unknown op {op!r}")

    listener = await serve(handle, port=port)
    bound = listener.sockets[0].getsockname()[1]
    print(f"READY {bound} {os.getpid()}", flush=True)
    try:
        await asyncio.wait_for(stop.wait(), timeout=1800)
    finally:
        listener.close()
        await backend.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mix", choices=["mediaserver", "synthetic"], default="mediaserver")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--output",
        choices=["srtp", "stock"],
        default="srtp",
        help="synthetic mix: RtpOut+FanOut, or aiortc's stock sender per listener (baseline)",
    )
    parser.add_argument(
        "--jitter-prefetch-ms",
        type=int,
        default=None,
        help="mediaserver: the rooms' jitter prefetch (default: TOWNHALL_JITTER_PREFETCH_MS)",
    )
    parser.add_argument(
        "--fanout-engine",
        choices=["auto", "python"],
        default="auto",
        help="the fan-out loop: C on its thread when built (auto), or the Python loop",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    # Listeners closing at the end of a run are dropped by the fan-out; stats count them.
    logging.getLogger("townhall.media.fanout").setLevel(logging.ERROR)
    asyncio.run(main(args.mix, args.port, args.output, args.jitter_prefetch_ms, args.fanout_engine))
