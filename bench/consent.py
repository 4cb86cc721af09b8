"""Consent-freshness check: connections stay up well past aioice's consent timeout.

aioice sends an ICE consent check about every 5 s on both sides and closes a connection
after 6 unanswered checks (~30 s). Here media flows only through RtpOut/FanOut (the stock
aiortc sender is stopped) and the load generator's listeners swallow RTP at the socket, so
this shows that both ends still answer each other's consent checks: after `--seconds`
(default 45) every listener must still be connected on both sides and receiving 50
packets/s (all the mixer sent), having received the server's consent requests.

    python -m bench.consent --listeners 100 --seconds 45
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from bench.common import write_result
from bench.fanout import SPEAKER_TONES, wait_attached
from bench.loadgen import LoadGenerator
from bench.process import bench_server
from townhall.media.ice import use_host_addresses

AIOICE_CONSENT_TIMEOUT_SECONDS = 6 * 5


async def run(listeners: int, seconds: float) -> dict[str, Any]:
    use_host_addresses(["127.0.0.1"])
    async with bench_server("--mix", "mediaserver") as server:
        generator = LoadGenerator(server.channel)
        await generator.join_speakers(SPEAKER_TONES[:1])
        await generator.join_many(listeners, concurrency=8, timeout=150)
        await wait_attached(server, generator.totals()["listeners"])
        connected_at = time.perf_counter()
        await asyncio.sleep(max(0.0, seconds - 5.0))
        before = generator.totals()
        stats_before = await server.channel.request({"op": "stats"})
        await asyncio.sleep(5.0)
        after = generator.totals()
        stats = await server.channel.request({"op": "stats"})
        lived = time.perf_counter() - connected_at
        await generator.close()
    received = after["packets"] - before["packets"]
    sent = stats["packets_sent"] - stats_before["packets_sent"]
    rate = received / 5.0 / max(1, after["listeners"])
    result = {
        "listeners": listeners,
        "connection_lifetime_seconds": round(lived, 1),
        "aioice_consent_timeout_seconds": AIOICE_CONSENT_TIMEOUT_SECONDS,
        "clients_still_connected": after["connected"],
        "server_listeners_still_attached": stats["listeners"],
        "packets_per_listener_second_last_5_s": round(rate, 2),
        "packets_sent_last_5_s": sent,
        "packets_received_last_5_s": received,
        "mixer_rounds_last_5_s": stats["rounds"] - stats_before["rounds"],
        "mixer_skipped_ticks_last_5_s": stats["skipped_ticks"] - stats_before["skipped_ticks"],
        "consent_requests_received_per_listener": round(
            after["stun_received"] / max(1, after["listeners"]), 1
        ),
    }
    result["passed"] = bool(
        lived > AIOICE_CONSENT_TIMEOUT_SECONDS
        and after["connected"] == listeners
        and stats["listeners"] == listeners
        and received >= 0.99 * sent
        and sent > 0
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listeners", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=45.0)
    args = parser.parse_args()
    result = asyncio.run(run(args.listeners, args.seconds))
    path = write_result("consent", result)
    for key, value in result.items():
        print(f"{key}: {value}")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
