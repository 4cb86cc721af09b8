"""Micro-benchmark: `FanOut.send` alone, real SRTP sessions and real UDP sockets on loopback.

No aiortc, no handshakes: N `RtpOut`s built from fresh pylibsrtp sessions, each with its own
UDP socket sending to one of a few receiving sockets that are drained between rounds. Prints
CPU µs per listener-packet of the send loop (protect + sendto), the floor the full
benchmark (bench/fanout.py) is compared with. `--engine` picks the loop: "c" (the C
extension, townhall.media.native; one call per round), "srtp_fast" (the Python loop with
libsrtp called through cffi) or "pylibsrtp" (the Python loop with `Session.protect`).
`--profile gcm256` is what aiortc negotiates with browsers and aiortc clients.

    python -m bench.fanout_loop --listeners 1000 --rounds 500 --engine c --profile gcm256
"""

from __future__ import annotations

import argparse
import os
import socket
import time
from typing import Any

from pylibsrtp import Policy, Session

from bench.common import encode_tone, write_result
from townhall.media.fanout import FanOut
from townhall.media.rtp_out import RtpOut, SendPath

PROFILES = {
    "cm128": (Policy.SRTP_PROFILE_AES128_CM_SHA1_80, 30),
    "gcm256": (Policy.SRTP_PROFILE_AEAD_AES_256_GCM, 44),
}


def build(
    listeners: int, receivers: int, engine: str, profile: str = "cm128"
) -> tuple[FanOut, list[socket.socket], list[Any]]:
    sinks = []
    for _ in range(receivers):
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        sink.bind(("127.0.0.1", 0))
        sink.setblocking(False)
        sinks.append(sink)
    fanout = FanOut(fast_srtp=engine == "srtp_fast", native_loop=engine == "c")
    assert fanout.engine == engine, fanout.engine
    srtp_profile, key_length = PROFILES[profile]
    senders = []
    for index in range(listeners):
        policy = Policy(
            key=os.urandom(key_length),
            ssrc_type=Policy.SSRC_ANY_OUTBOUND,
            srtp_profile=srtp_profile,
        )
        session = Session(policy)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        senders.append((sock, session))
        out = RtpOut(
            ssrc=index + 1,
            payload_type=111,
            protect=session.protect,
            protect_rtcp=session.protect_rtcp,
            path=SendPath(sock.sendto, sinks[index % receivers].getsockname(), True),
            cname="bench",
            session=session,
        )
        fanout.add(index, out)
    return fanout, sinks, senders


def drain(sinks: list[socket.socket]) -> int:
    count = 0
    for sink in sinks:
        try:
            while True:
                sink.recv(2048)
                count += 1
        except BlockingIOError:
            pass
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listeners", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--engine", choices=["c", "srtp_fast", "pylibsrtp"], default="c")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="cm128")
    parser.add_argument("--name", default=None, help="result name")
    args = parser.parse_args()
    packets = encode_tone(440.0, 250, bit_rate=24000)
    fanout, sinks, _keep = build(args.listeners, 8, args.engine, args.profile)
    send_cpu = 0.0
    received = 0
    for index in range(args.rounds):
        cpu0 = time.process_time()
        fanout.send(packets[index % len(packets)], index * 960)
        send_cpu += time.process_time() - cpu0
        received += drain(sinks)
    sent = fanout.packets_sent
    result = {
        "listeners": args.listeners,
        "engine": fanout.engine,
        "srtp_profile": args.profile,
        "rounds": args.rounds,
        "packets_sent": sent,
        "packets_received": received,
        "payload_bytes_mean": round(sum(map(len, packets)) / len(packets), 1),
        "send_loop_cpu_us_per_listener_packet": round(send_cpu / sent * 1e6, 2),
    }
    default_name = {
        "c": "fanout_loop-c",
        "srtp_fast": "fanout_loop",
        "pylibsrtp": "fanout_loop-pylibsrtp",
    }
    path = write_result(args.name or default_name[args.engine], result)
    for key, value in result.items():
        print(f"{key}: {value}")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
