"""The media-server side of the benchmarks, run as its own process.

`python -m bench.server --port 0` prints `READY <port> <pid>` and then serves JSON-lines
signalling on 127.0.0.1 (see bench/signalling.py):

- {"op": "offer", "user": str, "sdp": str, "type": "offer"} -> {"sdp", "type"}: a listener.
  Its connection is added to the fan-out once connected (RtpOut + FanOut).
- {"op": "leave", "user": str} -> {}: remove and close a listener.
- {"op": "stats"} -> CPU seconds, RSS, packets sent, listeners, mixer lateness.
- {"op": "quit"} -> {} and the process exits.

The synthetic mix is a pre-encoded Opus stream (three tones, ~100-byte packets) sent to
the fan-out every 20 ms on an absolute schedule, as a mixer would after encoding once.
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
from typing import Any

from aiortc import RTCPeerConnection, RTCSessionDescription

from bench.common import FRAME_SAMPLES, encode_tone, process_rss_bytes
from bench.signalling import serve
from townhall.media.fanout import FanOut
from townhall.media.ice import rtc_configuration, use_host_addresses
from townhall.media.rtp_out import RtpOut

logger = logging.getLogger("bench.server")
TICK_SECONDS = 0.02


def synthetic_mix(frames: int = 250) -> list[bytes]:
    """A 5 s loop of encoded 'mix' packets (~100 bytes, like a voice mix)."""
    return encode_tone(440.0, frames, amplitude=0.3, bit_rate=24000)


class FanOutServer:
    """Listeners' peer connections, one FanOut, and a 20 ms send loop."""

    def __init__(self, packets: list[bytes]) -> None:
        self.packets = packets
        self.fanout = FanOut(on_drop=lambda key, exc: self.dropped.append(str(key)))
        self.dropped: list[str] = []
        self.pcs: dict[str, RTCPeerConnection] = {}
        self.attach_failures = 0
        self.ticks = 0
        self.late_ticks = 0
        self.max_lag = 0.0
        self.send_cpu = 0.0
        self.send_wall = 0.0
        self._tasks: set[asyncio.Task[None]] = set()

    async def offer(self, message: dict[str, Any]) -> dict[str, Any]:
        user = str(message["user"])
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
        await pc.setLocalDescription(await pc.createAnswer())
        task = asyncio.create_task(self._attach(user, pc, transceiver.sender, connected))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}

    async def _attach(
        self, user: str, pc: RTCPeerConnection, sender: Any, connected: asyncio.Event
    ) -> None:
        try:
            await asyncio.wait_for(connected.wait(), 30)
            if pc.connectionState != "connected":
                raise ConnectionError(pc.connectionState)
            out = await RtpOut.from_connection(pc, sender)
            self.fanout.add(user, out)
        except Exception as exc:
            self.attach_failures += 1
            logger.warning("listener %s not attached: %r", user, exc)

    async def leave(self, message: dict[str, Any]) -> dict[str, Any]:
        user = str(message["user"])
        out = self.fanout.remove(user)
        if out is not None:
            out.close()
        pc = self.pcs.pop(user, None)
        if pc is not None:
            await pc.close()
        return {}

    async def run_mixer(self) -> None:
        loop = asyncio.get_running_loop()
        timestamp = random.getrandbits(32)
        start = loop.time()
        packets = self.packets
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
            cpu0, wall0 = time.process_time(), time.perf_counter()
            self.fanout.send(packets[self.ticks % len(packets)], timestamp)
            self.send_cpu += time.process_time() - cpu0
            self.send_wall += time.perf_counter() - wall0
            timestamp = (timestamp + FRAME_SAMPLES) & 0xFFFFFFFF

    def stats(self) -> dict[str, Any]:
        times = os.times()
        return {
            "pid": os.getpid(),
            "cpu_seconds": times.user + times.system,
            "rss_bytes": process_rss_bytes(os.getpid()),
            "listeners": len(self.fanout),
            "connections": len(self.pcs),
            "attach_failures": self.attach_failures,
            "dropped": len(self.dropped),
            "rounds": self.fanout.rounds,
            "packets_sent": self.fanout.packets_sent,
            "packets_lost_full_buffer": self.fanout.packets_lost_full_buffer,
            "send_cpu_seconds": self.send_cpu,
            "send_wall_seconds": self.send_wall,
            "ticks": self.ticks,
            "late_ticks": self.late_ticks,
            "max_lag_seconds": self.max_lag,
            "payload_bytes_mean": sum(map(len, self.packets)) / len(self.packets),
        }

    async def close(self) -> None:
        for pc in list(self.pcs.values()):
            with contextlib.suppress(Exception):
                await pc.close()


async def main(port: int) -> None:
    use_host_addresses(["127.0.0.1"])
    server = FanOutServer(synthetic_mix())
    stop = asyncio.Event()

    async def handle(message: dict[str, Any]) -> dict[str, Any]:
        op = message.get("op")
        if op == "offer":
            return await server.offer(message)
        if op == "leave":
            return await server.leave(message)
        if op == "stats":
            return server.stats()
        if op == "quit":
            stop.set()
            return {}
        raise ValueError(f"unknown op {op!r}")

    listener = await serve(handle, port=port)
    mixer = asyncio.create_task(server.run_mixer())
    bound = listener.sockets[0].getsockname()[1]
    print(f"READY {bound} {os.getpid()}", flush=True)
    try:
        await asyncio.wait_for(stop.wait(), timeout=1800)
    finally:
        mixer.cancel()
        listener.close()
        await server.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    # Listeners closing at the end of a run are dropped by the fan-out; stats count them.
    logging.getLogger("townhall.media.fanout").setLevel(logging.ERROR)
    asyncio.run(main(args.port))
