"""Fan-out benchmark: one space's mix to N listeners; server CPU per listener-packet, RSS.

The server (bench/server.py) runs in its own process. By default it is townhall's
`MediaServer` with one space: 3 speakers (aiortc clients in this process sending tones)
are decoded, mixed every 20 ms, the mix is encoded once and fanned out to every listener
(`--mix synthetic`: a pre-encoded Opus loop through `FanOut`, no MediaServer, no speakers:
the fan-out's cost alone). The load generator (this process) opens N real aiortc
listeners and counts packets at their sockets.
Figures are taken over a window after all listeners joined:

- server CPU µs per listener-packet: the server process's CPU (all of it: event loop, RTCP
  receiver reports, ICE consent, the fan-out loop) / listener-packets sent in the window;
- fan-out loop alone: CPU inside `FanOut.send` and in the rounds it hands to the fan-out
  thread (the C loop, `--fanout-engine auto`, the default when it is built) / listener-packets;
- packets sent vs expected (rounds x listeners), received at the sockets, SRTP samples verified;
- RSS per listener: (server RSS with N listeners - RSS before any joined) / N.

    python -m bench.fanout --listeners 500 --seconds 10
    python -m bench.fanout --listeners 500 --seconds 10 --mix synthetic
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any

from bench.common import load_average, process_cpu_seconds, write_result
from bench.loadgen import LoadGenerator
from bench.process import bench_server
from townhall.media.ice import use_host_addresses

TARGET_US_PER_LISTENER_PACKET = 20.0
TARGET_RSS_PER_LISTENER = 250 * 1024


async def wait_attached(server: Any, count: int, timeout: float = 60.0) -> dict[str, Any]:
    stats: dict[str, Any] = {}
    try:
        async with asyncio.timeout(timeout):
            while True:
                stats = await server.channel.request({"op": "stats"})
                if stats["listeners"] + stats["attach_failures"] >= count:
                    return stats
                await asyncio.sleep(0.2)
    except TimeoutError:
        raise TimeoutError(
            f"{count} listeners joined, the server has {stats.get('listeners')} attached "
            f"({stats.get('attach_failures')} failed, {stats.get('connections')} connections)"
        ) from None


SPEAKER_TONES = [330.0, 440.0, 550.0, 660.0, 770.0, 880.0, 990.0, 1100.0, 1210.0, 1320.0]


async def run(
    listeners: int,
    seconds: float,
    settle: float,
    mix: str,
    speakers: int,
    baseline: float,
    server_args: tuple[str, ...] = (),
) -> dict[str, Any]:
    use_host_addresses(["127.0.0.1"])
    async with bench_server("--mix", mix, *server_args) as server:
        generator = LoadGenerator(server.channel)
        if mix == "mediaserver" and speakers:
            tones = [SPEAKER_TONES[i % len(SPEAKER_TONES)] + 7 * i for i in range(speakers)]
            await generator.join_speakers(tones)
        await asyncio.sleep(1.0)
        # Baseline: the server's CPU with its speakers but no listeners (decode, mix, encode).
        idle = await server.channel.request({"op": "stats"})
        idle_wall = time.perf_counter()
        await asyncio.sleep(baseline)
        idle_end = await server.channel.request({"op": "stats"})
        idle_rate = (idle_end["cpu_seconds"] - idle["cpu_seconds"]) / (
            time.perf_counter() - idle_wall
        )
        join_start = time.perf_counter()
        await generator.join_many(listeners, concurrency=8, timeout=150 + 0.2 * listeners)
        joined_seconds = time.perf_counter() - join_start
        await wait_attached(server, generator.totals()["listeners"])
        await asyncio.sleep(settle)

        load_cpu_0 = process_cpu_seconds(_self_pid())
        before = await server.channel.request({"op": "stats"})
        got_before = generator.totals()
        speakers_before = generator.totals("speaker")
        wall_0 = time.perf_counter()
        await asyncio.sleep(seconds)
        after = await server.channel.request({"op": "stats"})
        got_after = generator.totals()
        speakers_after = generator.totals("speaker")
        wall = time.perf_counter() - wall_0
        load_cpu = process_cpu_seconds(_self_pid()) - load_cpu_0

        sent = after["packets_sent"] - before["packets_sent"]
        rounds = after["rounds"] - before["rounds"]
        expected = rounds * after["listeners"]
        received = got_after["packets"] - got_before["packets"]
        cpu = after["cpu_seconds"] - before["cpu_seconds"]
        send_cpu = after["fanout_send_cpu_seconds"] - before["fanout_send_cpu_seconds"]
        per_packet_us = cpu / sent * 1e6 if sent else float("nan")
        speaker_packets = speakers_after["packets"] - speakers_before["packets"]
        result = {
            "mix": mix,
            "speakers": speakers if mix == "mediaserver" else 0,
            "speakers_connected": speakers_after["connected"],
            "mix_minus_packets_per_speaker_second": round(
                speaker_packets / wall / max(1, speakers_after["listeners"]), 1
            ),
            "listeners_requested": listeners,
            "listeners_attached": after["listeners"],
            "join_failures": generator.failures,
            "join_all_seconds": round(joined_seconds, 1),
            "window_seconds": round(wall, 2),
            "mixer_rounds": rounds,
            "mixer_rounds_per_second": round(rounds / wall, 2),
            "packets_expected": expected,
            "packets_sent": sent,
            "packets_received_at_sockets": received,
            "srtp_samples_verified": got_after["verified"],
            "srtp_sample_failures": got_after["verify_failures"],
            "still_connected": got_after["connected"],
            "payload_bytes_mean": round(after["payload_bytes_mean"], 1),
            "server_cpu_seconds": round(cpu, 3),
            "server_cpu_percent_of_one_core": round(cpu / wall * 100, 1),
            "server_cpu_us_per_listener_packet": round(per_packet_us, 2),
            "server_cpu_us_per_listener_packet_received": round(cpu / received * 1e6, 2)
            if received
            else None,
            "server_cpu_percent_without_listeners": round(idle_rate * 100, 1),
            "server_marginal_cpu_us_per_listener_packet": round(
                (cpu - idle_rate * wall) / sent * 1e6, 2
            )
            if sent
            else None,
            "fanout_loop_cpu_us_per_listener_packet": round(send_cpu / sent * 1e6, 2)
            if sent
            else None,
            "listeners_per_core_at_total_cost": int(1e6 / (per_packet_us * 50)) if sent else None,
            "server_rss_idle_mb": round(idle["rss_bytes"] / 2**20, 1),
            "server_rss_mb": round(after["rss_bytes"] / 2**20, 1),
            "server_rss_per_listener_kb": round(
                (after["rss_bytes"] - idle["rss_bytes"]) / max(1, after["listeners"]) / 1024, 1
            ),
            "mixer_late_or_skipped_ticks": after["late_ticks"] - before["late_ticks"],
            "fanout_engine": after.get("fanout_engine"),
            "fanout_rounds_skipped": after.get("fanout_rounds_skipped", 0)
            - before.get("fanout_rounds_skipped", 0),
            "loadgen_cpu_percent_of_one_core": round(load_cpu / wall * 100, 1),
            "targets": {
                "us_per_listener_packet": TARGET_US_PER_LISTENER_PACKET,
                "rss_per_listener_kb": TARGET_RSS_PER_LISTENER / 1024,
            },
            "load_average_at_end_of_window": load_average(),
        }
        await generator.close()
        return result


def _self_pid() -> int:
    return os.getpid()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listeners", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--settle", type=float, default=2.0)
    parser.add_argument("--mix", choices=["mediaserver", "synthetic"], default="mediaserver")
    parser.add_argument("--speakers", type=int, default=3)
    parser.add_argument("--baseline", type=float, default=3.0, help="seconds, no listeners")
    parser.add_argument("--name", default=None, help="result name")
    parser.add_argument(
        "--fanout-engine",
        choices=["auto", "python"],
        default="auto",
        help="the server's fan-out loop: C on its thread when built (auto), or Python",
    )
    parser.add_argument(
        "--output",
        choices=["srtp", "stock"],
        default="srtp",
        help="with --mix synthetic: stock = aiortc's RTCRtpSender per listener (baseline)",
    )
    args = parser.parse_args()
    result = asyncio.run(
        run(
            args.listeners,
            args.seconds,
            args.settle,
            args.mix,
            args.speakers,
            args.baseline,
            server_args=("--output", args.output, "--fanout-engine", args.fanout_engine),
        )
    )
    result["output"] = "RtpOut + FanOut" if args.output == "srtp" else "aiortc RTCRtpSender"
    name = args.name or ("fanout" if args.mix == "mediaserver" else "fanout-synthetic")
    if args.output == "stock":
        name = args.name or "fanout-synthetic-stock"
    path = write_result(name, result)
    for key, value in result.items():
        print(f"{key}: {value}")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
