"""Glass-to-ear of the web client's HLS in real Chromium: hls.js (what js/hlsplay.js picks
wherever Media Source Extensions exist, Chromium included) and the browser's own HLS player
(what it picks without MSE, as on iPhone Safari; here MSE is hidden from the page).

    python -m bench.hls_browser [--seconds 40] [--players hlsjs,native]

The stack of `bench.hls latency`: a real `townhall serve` (here with no WebRTC seat for
listeners) behind real nginx running deploy/nginx/townhall.conf. A bot speaks tone bursts
over WebRTC, one a second, each burst's frequency drawn at random from four, so that an
onset heard any number of seconds later still matches the one burst it was. A listener
in headless Chromium signs up, joins the space in the web client, is refused WebRTC
(409 webrtc_full) and plays HLS as every such listener does (js/media.js, js/hlsplay.js).
Glass = when the bot's track hands the burst's first frame to aiortc; ear = when an
AnalyserNode on the room's HLS source (1,024 samples, polled every 10 ms: it sees an
onset some 10-30 ms late) first has the burst, plus the AudioContext's output latency.
One player kind after the other, so that nginx's log says which requests each made.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import load_average, summary_ms, write_result
from bench.hls import BURST_HZ, ROOT, BurstTrack, live_space, townhall
from tests.support.nginx import Nginx, running_nginx
from tests.support.server import free_port

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]
# No Media Source Extensions (as iPhone Safari): js/hlsplay.js then picks the native player.
NO_MSE = """
delete window.MediaSource;
delete window.ManagedMediaSource;
delete window.WebKitMediaSource;
"""
# Onsets on the room's HLS source: [epoch seconds, frequency, dB] each.
LISTEN = """(freqs) => {
  const link = window.townhallDebug.room.link;
  const ctx = link.context;
  const a = ctx.createAnalyser();
  a.fftSize = 1024;
  a.smoothingTimeConstant = 0;
  link.hlsSource.connect(a);
  const bins = new Float32Array(a.frequencyBinCount);
  const hz = ctx.sampleRate / a.fftSize;
  window.benchOnsets = [];
  let heardAt = -1e12;
  window.benchTimer = setInterval(() => {
    a.getFloatFrequencyData(bins);
    let best = -Infinity, which = 0;
    freqs.forEach((f, i) => {
      for (let k = Math.floor((f - 40) / hz); k <= Math.ceil((f + 40) / hz); k++) {
        if (bins[k] > best) { best = bins[k]; which = i; }
      }
    });
    const now = performance.timeOrigin + performance.now();
    if (best > -45) {
      if (now - heardAt > 500) window.benchOnsets.push([now / 1000, freqs[which], best]);
      heardAt = now;
    }
  }, 10);
  return {
    how: link.hlsAudio.dataset.hls,
    output_latency_s: (ctx.outputLatency || 0) + (ctx.baseLatency || 0),
  };
}"""
STATE = """() => {
  const link = window.townhallDebug.room.link;
  const audio = link.hlsAudio;
  const edge = audio.seekable.length ? audio.seekable.end(audio.seekable.length - 1) : null;
  return {
    current_time_s: audio.currentTime,
    behind_seekable_end_s: edge === null ? null : edge - audio.currentTime,
    hlsjs_latency_s: link.hls ? link.hls.latency : null,
    hlsjs_target_latency_s: link.hls ? link.hls.targetLatency : null,
    paused: audio.paused,
  };
}"""


class RandomBurstTrack(BurstTrack):
    """BurstTrack with each burst's frequency drawn at random (seeded)."""

    def __init__(self, seed: int = 10) -> None:
        super().__init__()
        self._rng = np.random.default_rng(seed)
        self._drawn: list[float] = []

    def frequency(self, burst: int) -> float:
        while len(self._drawn) <= burst:
            self._drawn.append(BURST_HZ[int(self._rng.integers(len(BURST_HZ)))])
        return self._drawn[burst]


def match_delays(
    sent: list[tuple[float, float]], heard: list[tuple[float, float]], max_delay: float = 30.0
) -> list[float]:
    """Each heard onset's delay after the burst it was: the sent burst of its frequency
    nearest the delay that explains most of the nine heard onsets around it (a delay
    may change while playing: stalls, catching up; a wrong one explains about a
    quarter of them)."""

    def near(delay: float, at: float, freq: float) -> list[float]:
        return [at - t for t, f in sent if f == freq and abs(at - t - delay) < 0.4]

    grid = np.arange(0.0, max_delay, 0.05)
    delays = []
    for i, (at, freq) in enumerate(heard):
        around = heard[max(0, i - 4) : i + 5]
        scores = [sum(bool(near(d, a, f)) for a, f in around) for d in grid]
        anchor = float(grid[int(np.argmax(scores))])
        found = near(anchor, at, freq)
        if found and max(scores) > len(around) / 2:
            delays.append(min(found, key=lambda d: abs(d - anchor)))
    return delays


_KINDS = (
    ("blocking_reload", re.compile(r"live\.m3u8\?.*_HLS_msn=")),
    ("playlist", re.compile(r"live\.m3u8")),
    ("init", re.compile(r"init\.mp4")),
    ("part", re.compile(r"/\d+\.\d+\.m4s")),
    ("segment", re.compile(r"/\d+\.m4s")),
)


def request_kinds(lines: list[str]) -> dict[str, int]:
    """What the player asked nginx for (access log lines of /hls/), by kind."""
    kinds: collections.Counter[str] = collections.Counter()
    for line in lines:
        uri = line.split('"')[1] if '"' in line else ""
        if "/hls/" in uri:
            kinds[next((k for k, p in _KINDS if p.search(uri)), "other")] += 1
    return dict(kinds)


async def listen(
    browser: Any, nginx: Nginx, sid: str, kind: str, seconds: float, track: RandomBurstTrack
) -> dict[str, Any]:
    """One listener of `kind` ("native" or "hlsjs") for `seconds`; its delays."""
    context = await browser.new_context(base_url=nginx.base)
    page = await context.new_page()
    if kind == "native":
        await page.add_init_script(NO_MSE)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    handle = f"l{kind[:5]}{int(time.time()) % 100000}"
    await page.goto("/#/signup")
    await page.wait_for_selector("body[data-ready=true]")
    await page.get_by_label("Handle").fill(handle)
    await page.get_by_label("Display name").fill(f"Listener {kind}")
    await page.get_by_label("Password").fill("correct horse")
    await page.get_by_role("button", name="Sign up").click()
    await page.get_by_role("link", name=f"Your profile (@{handle})").wait_for()
    await page.goto(f"/#/space/{sid}")
    await page.wait_for_selector("body[data-ready=true]")
    before = len(nginx.log_lines())
    joined = time.time()
    await page.get_by_role("button", name="Join space").click()
    await page.wait_for_function(
        "() => { const l = window.townhallDebug?.room?.link;"
        " return l && l.mode === 'hls' && l.hlsSource; }",
        timeout=20_000,
    )
    setup = await page.evaluate(LISTEN, list(BURST_HZ))
    if setup["how"] != kind:  # a result is only labelled with the player that made it
        raise RuntimeError(f"asked for the {kind} player, js/hlsplay.js chose {setup['how']}")
    states = []
    for _ in range(int(seconds / 5)):
        await asyncio.sleep(5)
        states.append(await page.evaluate(STATE))
    onsets = await page.evaluate("() => window.benchOnsets")
    lines = nginx.log_lines()[before:]
    await context.close()
    out_latency = float(setup["output_latency_s"])
    heard = [(float(at) + out_latency, float(f)) for at, f, _ in onsets]
    sent = [(t, f) for t, f in track.onsets if t >= joined - 30]
    delays = match_delays(sent, heard)
    first_heard = heard[0][0] - joined if heard else None
    return {
        "player": setup["how"],
        "onsets_heard": len(heard),
        "glass_to_ear": summary_ms(delays),
        "onsets_matched": len(delays),
        "first_five_delays_ms": [round(1000 * d) for d in delays[:5]],
        "last_five_delays_ms": [round(1000 * d) for d in delays[-5:]],
        "join_click_to_first_onset_heard_s": round(first_heard, 2) if first_heard else None,
        "output_latency_ms_added": round(1000 * out_latency, 1),
        "nginx_requests": request_kinds(lines),
        "nginx_requests_per_second": round(len(lines) / (time.time() - joined), 1),
        "element_state_every_5s": states,
        "console_errors": errors[:5],
        # the raw material, seconds after the Join click: (when, Hz) heard and sent
        "heard": [(round(at - joined, 3), f) for at, f in heard],
        "sent": [(round(t - joined, 3), f) for t, f in sent],
    }


async def browser_latency(seconds: float, kinds: list[str]) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    port = free_port()  # nginx's, which the pages come from (TOWNHALL_PUBLIC_URL)
    env = {
        "TOWNHALL_WEBRTC_LISTENER_LIMIT": "0",
        "TOWNHALL_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    results: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        townhall(Path(tmp) / "data", env) as (base, _),
        running_nginx(base, Path(tmp) / "nginx", port=port) as nginx,
    ):
        track = RandomBurstTrack()
        host, sid, media = await live_space(nginx.base, track)
        try:
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=FLAGS
                )
                try:
                    for kind in kinds:
                        results[kind] = await listen(browser, nginx, sid, kind, seconds, track)
                finally:
                    await browser.close()
        finally:
            await media.close()
            await host.close()
    return {
        "seconds_per_player": seconds,
        "players": results,
        "through": "nginx",
        "target_p50_ms": 2000,
        "target_p95_ms": 3000,
        "load_average_after": load_average(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--players", default="hlsjs,native")
    parser.add_argument("--name", default="hls-browser-latency")
    args = parser.parse_args()
    result = asyncio.run(browser_latency(args.seconds, args.players.split(",")))
    path = write_result(args.name, result)
    for kind, found in result["players"].items():
        skip = ("element_state_every_5s", "heard", "sent")
        print(kind, {k: v for k, v in found.items() if k not in skip})
    print(f"load average {result['load_average_after']} -> {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
