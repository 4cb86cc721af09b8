"""Run every default media benchmark in turn and print the headline figures.

python -m bench.run_all            # about 10 minutes (the join storm needs PostgreSQL + Redis)
python -m bench.run_all --only fanout join
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.common import RESULTS_DIR, load_average

ROOT = Path(__file__).resolve().parent.parent
RUNS: dict[str, list[str]] = {
    "fanout": ["bench.fanout", "--listeners", "500", "--seconds", "10"],
    "fanout-synthetic": [
        "bench.fanout",
        "--listeners",
        "500",
        "--seconds",
        "10",
        "--mix",
        "synthetic",
    ],
    "fanout_loop": ["bench.fanout_loop", "--listeners", "500"],
    "mixer": ["bench.mixer", "--speakers", "13", "--listeners", "500", "--seconds", "10"],
    "join": ["bench.join", "--listeners", "500", "--joins", "40"],
    "latency": ["bench.latency", "--listeners", "500", "--seconds", "20"],
    "consent": ["bench.consent", "--listeners", "100", "--seconds", "45"],
    "hls-packaging": ["bench.hls", "packaging", "--seconds", "120"],
    "hls-latency": ["bench.hls", "latency", "--seconds", "40"],
    "hls-crowd": ["bench.hls", "crowd", "--players", "2000", "--seconds", "20"],
    "join_storm": ["bench.join_storm"],
}
HEADLINES: dict[str, list[str]] = {
    "fanout": [
        "server_cpu_us_per_listener_packet",
        "server_marginal_cpu_us_per_listener_packet",
        "fanout_loop_cpu_us_per_listener_packet",
        "server_rss_per_listener_kb",
        "packets_sent",
        "packets_expected",
        "packets_received_at_sockets",
    ],
    "fanout-synthetic": [
        "server_cpu_us_per_listener_packet",
        "fanout_loop_cpu_us_per_listener_packet",
        "server_rss_per_listener_kb",
    ],
    "fanout_loop": ["send_loop_cpu_us_per_listener_packet"],
    "mixer": [
        "keeps_up_in_real_time",
        "server_cpu_percent_of_one_core",
        "mixer_late_or_skipped_ticks",
    ],
    "join": ["offer_to_first_packet"],
    "latency": ["server_added_delay", "end_to_end_delay"],
    "consent": ["passed", "connection_lifetime_seconds"],
    "hls-packaging": ["packager_cpu_percent_of_one_core", "window_bytes_held_after_voice"],
    "hls-latency": ["glass_to_ear", "stalls"],
    "hls-crowd": [
        "players_with_every_part_on_time",
        "share_stalled",
        "origin_requests_per_part",
        "origin_keys_missed_more_than_once",
        "townhall_cpu_percent_for_the_crowd",
        "nginx_cpu_percent_of_one_core",
    ],
    "join_storm": ["requests_per_second", "targets", "events"],
}


def headline(name: str) -> dict[str, Any]:
    data = json.loads((RESULTS_DIR / f"{name}.json").read_text())
    picked = {key: data.get(key) for key in HEADLINES[name]}
    picked["load_average_1_5_15"] = data.get("load_average_1_5_15")
    return picked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", choices=list(RUNS), default=list(RUNS))
    args = parser.parse_args()
    for name in args.only:
        print(f"== {name} (load average {load_average()})", flush=True)
        completed = subprocess.run(
            [sys.executable, "-m", *RUNS[name]], cwd=ROOT, capture_output=True, text=True
        )
        if completed.returncode != 0:
            print(completed.stdout[-2000:], completed.stderr[-2000:])
            continue
        for key, value in headline(name).items():
            print(f"   {key}: {value}")


if __name__ == "__main__":
    main()
