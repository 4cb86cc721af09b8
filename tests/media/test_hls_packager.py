"""The HLS packager on the signal: valid LL-HLS, bounded window, silence, 440 Hz decoded."""

from __future__ import annotations

import itertools
from datetime import datetime

import numpy as np
import pytest

from townhall.client.hls import decode, parse_playlist
from townhall.client.media import band_rms, rms
from townhall.media.audio import FRAME_SAMPLES, SAMPLE_RATE
from townhall.media.hls import playlist as rules
from townhall.media.hls.hub import HlsHub
from townhall.media.hls.sink import HlsPackager
from townhall.media.hls.window import HlsWindow


def tone(index: int, freq: float = 440.0, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(FRAME_SAMPLES) + index * FRAME_SAMPLES
    return (np.sin(2 * np.pi * freq * t / SAMPLE_RATE) * amplitude * 32767).astype(np.int16)


def feed(packager: HlsPackager, frames: int, start: int = 0, freq: float | None = 440.0) -> None:
    for i in range(start, start + frames):
        pcm = tone(i, freq) if freq else np.zeros(FRAME_SAMPLES, dtype=np.int16)
        packager.write(i, pcm)


def check_ll_hls(text: str, *, live: bool) -> None:
    """Every rule of the issue, on the text a player reads."""
    p = parse_playlist(text)
    assert p.version is not None and p.version >= 6
    assert p.part_target == rules.PART_TARGET
    assert p.target_duration is not None
    assert p.server_control["CAN-BLOCK-RELOAD"] == "YES"
    assert p.part_hold_back >= 3 * p.part_target - 1e-9
    assert float(p.server_control["HOLD-BACK"]) >= 3 * p.target_duration
    assert p.map_uri and p.map_uri.split("?")[0].endswith("init.mp4")
    assert p.segments or p.parts
    for part in p.parts:
        assert 0 < part.duration <= p.part_target, part
        assert part.independent
    for segment in p.segments:
        # EXT-X-TARGETDURATION: every segment's duration, rounded, is at most it.
        assert round(segment.duration) <= p.target_duration
        assert segment.program_date_time is not None
    # Parts of a listed segment add up to it; parts are listed in order.
    for segment in p.segments:
        own = [x for x in p.parts if x.msn == segment.msn]
        if own:
            assert abs(sum(x.duration for x in own) - segment.duration) < 1e-3
            assert [x.index for x in own] == list(range(len(own)))
    # Program date-times advance by the segments' durations.
    times = [datetime.fromisoformat(s.program_date_time or "") for s in p.segments]
    for (a, b), segment in zip(itertools.pairwise(times), p.segments, strict=False):
        assert abs((b - a).total_seconds() - segment.duration) < 0.01
    # Parts only for the last three target durations (and the segment in progress).
    listed_segments = {x.msn for x in p.parts}
    complete = {s.msn for s in p.segments}
    old = [s for s in p.segments if s.msn in listed_segments]
    assert sum(s.duration for s in old) <= 3 * p.target_duration + p.target_duration
    if live:
        assert not p.ended and p.preload_hint is not None
        msn, index = p.next_position()
        assert p.preload_hint.split("?")[0].endswith(f"/{msn}.{index}.m4s")
        assert not (complete and listed_segments and max(listed_segments) < max(complete))
    else:
        assert p.ended and p.preload_hint is None
        assert "#EXT-X-PRELOAD-HINT" not in p.tags


@pytest.fixture
def hub() -> HlsHub:
    return HlsHub()


async def test_packaged_tone_is_valid_ll_hls_and_decodes_to_440(hub: HlsHub) -> None:
    packager = HlsPackager("tone", hub)
    feed(packager, 500)  # 10 s
    window = hub.local("tone")
    assert isinstance(window, HlsWindow)
    view = window.view()
    assert len(view.segments) >= 4
    check_ll_hls(rules.render(view), live=True)
    check_ll_hls(rules.render(view, "token=abc"), live=True)
    assert all(
        "token=abc" in line
        for line in rules.render(view, "token=abc").splitlines()
        if "m4s" in line or "init.mp4" in line
    )
    complete = [s for s in view.segments if s.complete]
    media = b"".join(window.segment(s.msn) or b"" for s in complete)
    # A segment is exactly its parts.
    first = complete[0]
    assert window.segment(first.msn) == b"".join(
        window.part(first.msn, i) or b"" for i in range(len(first.parts))
    )
    heard = decode(window.init, media)
    assert heard.size >= 0.95 * sum(s.duration for s in complete) * SAMPLE_RATE
    steady = heard[SAMPLE_RATE // 2 : SAMPLE_RATE // 2 + SAMPLE_RATE]
    assert band_rms(steady, 440) > 0.15
    assert band_rms(steady, 880) < 0.01 and band_rms(steady, 1000) < 0.01
    # Each part decodes on its own too (every part is independent).
    alone = decode(window.init, window.part(complete[1].msn, 2) or b"")
    assert band_rms(alone[2048:], 440) > 0.1

    packager.close(ended=True)
    ended = rules.render(window.view())
    check_ll_hls(ended, live=False)
    assert ended.rstrip().endswith("#EXT-X-ENDLIST")


def test_parts_fit_the_part_target() -> None:
    from townhall.media.hls.cmaf import PART_SAMPLES

    assert PART_SAMPLES / SAMPLE_RATE <= rules.PART_TARGET < PART_SAMPLES / SAMPLE_RATE + 1e-4
    assert rules.PART_HOLD_BACK >= 3 * rules.PART_TARGET - 1e-9


async def test_silence_still_makes_small_parts(hub: HlsHub) -> None:
    packager = HlsPackager("quiet", hub)
    feed(packager, 200, freq=None)
    window = hub.local("quiet")
    assert window is not None
    view = window.view()
    parts = [(p.msn, p.index) for s in view.segments for p in s.parts]
    assert len(parts) >= 7  # 4 s of silence: about 8 parts
    sizes = [len(window.part(m, i) or b"") for m, i in parts]
    assert max(sizes) < 1500  # silence encodes small (a tone part is ~4 kB)
    heard = decode(window.init, b"".join(window.part(m, i) or b"" for m, i in parts))
    assert rms(heard) < 0.001


async def test_only_the_latest_window_is_held(hub: HlsHub) -> None:
    packager = HlsPackager("long", hub)
    window = hub.local("long")
    assert window is not None
    feed(packager, 2000)  # 40 s
    held_at_40 = window.bytes_held
    feed(packager, 2000, start=2000)  # 80 s
    view = window.view()
    seconds = sum(s.duration for s in view.segments)
    assert 30 <= seconds <= 34
    assert view.first_msn > 0
    assert window.bytes_held <= held_at_40 * 1.1  # nothing grows with the space's length
    assert window.part(0, 0) is None  # expired
    check_ll_hls(rules.render(view), live=True)


async def test_skipped_ticks_are_filled_so_time_stays_true(hub: HlsHub) -> None:
    packager = HlsPackager("gaps", hub)
    feed(packager, 100)
    feed(packager, 100, start=150)  # 50 ticks never came: filled with silence
    window = hub.local("gaps")
    assert window is not None
    total = sum(p.duration for s in window.view().segments for p in s.parts)
    assert total == pytest.approx(250 * FRAME_SAMPLES / SAMPLE_RATE, abs=0.6)


async def test_waiting_for_a_part_returns_when_it_is_added(hub: HlsHub) -> None:
    import asyncio

    packager = HlsPackager("wait", hub)
    feed(packager, 30)
    window = hub.local("wait")
    assert window is not None
    msn, index = window.view().next_part()
    waiter = asyncio.create_task(window.wait(msn, index, timeout=5.0))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    feed(packager, 30, start=30)
    assert await asyncio.wait_for(waiter, 1.0) is True
    # A bounded wait for what does not come returns False, not later than asked.
    assert await window.wait(msn + 50, 0, timeout=0.05) is False
    packager.close(ended=True)
    assert await window.wait(msn + 50, 0, timeout=5.0) is False  # ended: returns at once


async def test_program_date_time_is_when_the_sample_was_mixed(hub: HlsHub) -> None:
    """A player that trusts EXT-X-PROGRAM-DATE-TIME puts each sample at the wall-clock
    time the mixer handed it over (the AAC encoder's priming frame accounted for)."""
    import time

    packager = HlsPackager("pdt", hub)
    before = time.time()
    packager.write(0, np.zeros(FRAME_SAMPLES, dtype=np.int16))
    after = time.time()
    onset_frame = 130  # 2.6 s in: the third segment
    for i in range(1, 300):
        pcm = tone(i, 1000.0) if i >= onset_frame else np.zeros(FRAME_SAMPLES, dtype=np.int16)
        packager.write(i, pcm)
    window = hub.local("pdt")
    assert window is not None
    view = parse_playlist(rules.render(window.view()))
    segment = next(s for s in view.segments if s.msn == 1)
    heard = decode(window.init, window.segment(1) or b"").astype(np.float64)
    first = int(np.argmax(np.abs(heard) > 1000))
    assert first > 0
    pdt = datetime.fromisoformat(segment.program_date_time or "").timestamp()
    heard_at = pdt + first / SAMPLE_RATE
    mixed_at = onset_frame * FRAME_SAMPLES / SAMPLE_RATE
    assert before + mixed_at - 0.003 <= heard_at <= after + mixed_at + 0.003
