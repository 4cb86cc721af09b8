"""Mixer benchmark: 13 speakers + 500 listeners in one space, on one server process.

townhall's MediaServer decodes 13 speakers, mixes every 20 ms, encodes the full mix once
for the listeners and a mix-minus-self for each speaker (14 encodes per tick), and fans
the mix out to 500 listeners. It keeps up in real time when the mixer runs 50 rounds/s
with no skipped ticks, every listener gets 50 packets/s and every speaker 50 mix-minus
packets/s, and the server process stays under one core (speakers are decoded on arrival
in the event loop, RtpIn: single-threaded Python). Same measurement as bench/fanout.py.

    python -m bench.mixer --speakers 13 --listeners 500 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio

from bench.common import write_result
from bench.fanout import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--speakers", type=int, default=13)
    parser.add_argument("--listeners", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--name", default="mixer")
    parser.add_argument("--fanout-engine", choices=["auto", "python"], default="auto")
    args = parser.parse_args()
    result = asyncio.run(
        run(
            args.listeners,
            args.seconds,
            2.0,
            "mediaserver",
            args.speakers,
            3.0,
            server_args=("--fanout-engine", args.fanout_engine),
        )
    )
    result["server_ingest"] = "rtp_in"
    result["keeps_up_in_real_time"] = bool(
        result["mixer_late_or_skipped_ticks"] == 0
        and result["mixer_rounds_per_second"] >= 49.5
        and result["packets_received_at_sockets"] >= 0.99 * result["packets_expected"]
        and result["mix_minus_packets_per_speaker_second"] >= 49.0
        and result["server_cpu_percent_of_one_core"] < 100
    )
    path = write_result(args.name, result)
    for key, value in result.items():
        print(f"{key}: {value}")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
