"""Join benchmark: offer -> first audio packet at a new listener while N others listen.

The server (bench/server.py, townhall's MediaServer by default) has 3 speakers and N
listeners (default 500). Then `--joins` new listeners join one at a time; for each, the
time from creating its offer to the first SRTP packet at its socket is measured, split into
offer -> answer (server builds the connection), answer -> connected (ICE + DTLS), and
connected -> first packet (output takeover + next 20 ms tick). Each joiner then leaves.

    python -m bench.join --listeners 500 --joins 40
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from bench.common import summary_ms, write_result
from bench.fanout import SPEAKER_TONES, wait_attached
from bench.loadgen import LoadGenerator
from bench.process import bench_server
from townhall.media.ice import use_host_addresses

TARGET_P95_MS = 300.0


async def run(listeners: int, joins: int, mix: str, speakers: int) -> dict[str, Any]:
    use_host_addresses(["127.0.0.1"])
    async with bench_server("--mix", mix) as server:
        crowd = LoadGenerator(server.channel)
        if mix == "mediaserver":
            await crowd.join_speakers(SPEAKER_TONES[:speakers])
        await crowd.join_many(listeners, concurrency=8, timeout=150)
        await wait_attached(server, crowd.totals()["listeners"])
        await asyncio.sleep(1.0)

        joiners = LoadGenerator(server.channel, first_user=900_000)
        total: list[float] = []
        to_answer: list[float] = []
        to_connected: list[float] = []
        to_packet: list[float] = []
        failures = 0
        for index in range(joins):
            try:
                joiner = await joiners.join(900_000 + index)
                async with asyncio.timeout(5):
                    while joiner.tap.first_packet_time is None:
                        await asyncio.sleep(0.005)
            except Exception:
                failures += 1
                continue
            first = joiner.tap.first_packet_time
            assert first is not None and joiner.answer_time and joiner.connected_time
            total.append(first - joiner.offer_time)
            to_answer.append(joiner.answer_time - joiner.offer_time)
            to_connected.append(joiner.connected_time - joiner.answer_time)
            to_packet.append(first - joiner.connected_time)
            await server.channel.request({"op": "leave", "user": joiner.user})
            await joiner.pc.close()
            joiners.listeners.clear()
            await asyncio.sleep(0.1)
        stats = await server.channel.request({"op": "stats"})
        still = crowd.totals()["connected"]
        await crowd.close()
    return {
        "mix": mix,
        "speakers": speakers if mix == "mediaserver" else 0,
        "listeners_listening": listeners,
        "listeners_still_connected": still,
        "joins": joins,
        "join_failures": failures,
        "offer_to_first_packet": summary_ms(total),
        "offer_to_answer": summary_ms(to_answer),
        "answer_to_connected": summary_ms(to_connected),
        "connected_to_first_packet": summary_ms(to_packet),
        "target_p95_ms": TARGET_P95_MS,
        "server_rounds": stats["rounds"],
        "server_skipped_ticks": stats["skipped_ticks"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listeners", type=int, default=500)
    parser.add_argument("--joins", type=int, default=40)
    parser.add_argument("--mix", choices=["mediaserver", "synthetic"], default="mediaserver")
    parser.add_argument("--speakers", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    result = asyncio.run(run(args.listeners, args.joins, args.mix, args.speakers))
    result["run_seconds"] = round(time.perf_counter() - started, 1)
    path = write_result("join", result)
    for key, value in result.items():
        print(f"{key}: {value}")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
