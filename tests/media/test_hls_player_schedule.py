"""The LL-HLS bench player's start rule (client/hls.py): parts get their times from
PROGRAM-DATE-TIME; playback starts PART-HOLD-BACK behind the freshest live edge seen
once a blocking reload had to wait (a cached first playlist may be old); a part that
comes after its turn is a stall and playback stays later from then on."""

from __future__ import annotations

import pytest

from townhall.client.hls import Fetched, HlsPlayer, Http1, parse_playlist

PART = 0.49067
HOLD_BACK = 3 * PART

PLAYLIST = """#EXTM3U
#EXT-X-VERSION:9
#EXT-X-TARGETDURATION:2
#EXT-X-PART-INF:PART-TARGET=0.49067
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.47201,HOLD-BACK=6.000
#EXT-X-MEDIA-SEQUENCE:4
#EXT-X-MAP:URI="s/init.mp4"
#EXT-X-PROGRAM-DATE-TIME:2026-12-01T10:00:00.000Z
#EXT-X-PART:DURATION=0.49067,URI="s/4.0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.49067,URI="s/4.1.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.49067,URI="s/4.2.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.49067,URI="s/4.3.m4s",INDEPENDENT=YES
#EXTINF:1.96267,
s/4.m4s
#EXT-X-PROGRAM-DATE-TIME:2026-12-01T10:00:01.963Z
#EXT-X-PART:DURATION=0.49067,URI="s/5.0.m4s",INDEPENDENT=YES
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="s/5.1.m4s"
"""
T0 = 1_796_119_200.0  # 2026-12-01T10:00:00Z


def test_parts_carry_their_program_date_time() -> None:
    p = parse_playlist(PLAYLIST)
    assert [part.start for part in p.parts[:2]] == pytest.approx([T0, T0 + PART], abs=1e-4)
    assert p.parts[-1].start == pytest.approx(T0 + 1.963, abs=1e-4)
    assert p.edge == pytest.approx(T0 + 1.963 + PART, abs=1e-4)


def player(edges: list[tuple[float, float, float]], arrivals: list[float]) -> HlsPlayer:
    """A player that got these playlists (asked, came, edge) and parts 4.1.. at these
    times (as a clock reading T0 + x)."""
    p = HlsPlayer(Http1("http://127.0.0.1:9"), "http://127.0.0.1:9/hls/x/live.m3u8")
    p.hold_back, p.part_target = HOLD_BACK, PART
    p.edges = edges
    p.parts = [
        Fetched(4 + (i + 1) // 4, (i + 1) % 4, PART, b"", at, T0 + (i + 1) * PART)
        for i, at in enumerate(arrivals)
    ]
    p.initial_parts = 3
    return p


def test_playback_starts_hold_back_behind_the_freshest_edge_once_a_reload_waited() -> None:
    edge4 = T0 + 4 * PART  # end of part 4.3
    edges = [
        (T0 + 2.00, T0 + 2.30, edge4 - PART),  # a cached first playlist, old
        (T0 + 2.32, T0 + 2.33, edge4),  # came at once: maybe old too
        (T0 + 2.34, T0 + 2.64, edge4 + PART),  # waited for its part: the live edge
        (T0 + 2.65, T0 + 3.01, edge4 + 2 * PART),  # fresher still, but playing by then
    ]
    arrivals = [T0 + 2.31, T0 + 2.31, T0 + 2.32, T0 + 2.34, T0 + 2.65, T0 + 3.02, T0 + 3.5]
    p = player(edges, arrivals)
    assert p.playing_from == pytest.approx(T0 + 2.64, abs=1e-4)
    lag = p.edge_lag()
    assert lag is not None
    assert lag == pytest.approx(2.64 - 5 * PART, abs=1e-4)  # 187 ms after 5.0 ended
    plays, stalls = p.schedule()
    assert stalls == 0
    # Part k plays at its PROGRAM-DATE-TIME + lag + PART-HOLD-BACK.
    for part, play in zip(p.parts, plays, strict=True):
        assert part.start is not None
        assert play == pytest.approx(part.start + lag + HOLD_BACK, abs=1e-4)


def test_a_part_after_its_turn_stalls_and_playback_stays_later() -> None:
    edge4 = T0 + 4 * PART
    edges = [
        (T0 + 2.00, T0 + 2.30, edge4),
        (T0 + 2.31, T0 + 2.60, edge4 + PART),
    ]
    due = T0 + 6 * PART + (2.60 - 5 * PART) + HOLD_BACK  # when part 5.2 should play
    arrivals = [T0 + 2.30, T0 + 2.30, T0 + 2.31, T0 + 2.60, due + 0.2, due + 0.3]
    plays, stalls = player(edges, arrivals).schedule()
    assert stalls == 1
    assert plays[4] == pytest.approx(due + 0.2, abs=1e-4)  # waited for it
    assert plays[5] == pytest.approx(due + 0.2 + PART, abs=1e-4)  # and stays 0.2 s later
