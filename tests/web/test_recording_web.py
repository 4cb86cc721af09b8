"""Recording in the browser: the host starts a recorded space with a 440 Hz microphone,
everyone sees (and hears announced) "● Recording", the host pauses and resumes, ends the
space, and the ended page's player loads and plays the recording as VOD HLS through
hls.js (a listener sees the badge change live and gets the player too, without the
host's Delete). Chromium gets hls.js although its canPlayType says "maybe"; a browser
without Media Source Extensions (as iPhone Safari) gets its own HLS player."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.web.flows import confirm_in_page, open_app, signup, unique

pytestmark = [pytest.mark.browser, pytest.mark.serial]

# No Media Source Extensions (as iPhone Safari): hls.js is not supported, the native player is.
NO_MSE = """
delete window.MediaSource;
delete window.ManagedMediaSource;
delete window.WebKitMediaSource;
"""
HLS = "application/vnd.apple.mpegurl"
READY = (
    "() => { const a = document.querySelector('audio.replay');"
    " return a && a.readyState >= 1 && a.duration > 1; }"
)
PLAYING = "() => document.querySelector('audio.replay').currentTime > 0.5"


def test_host_records_a_space_and_replays_it(browsers: Any, server: str) -> None:
    browser = browsers.launch(440)
    host = browsers.page(browser, server)
    fan = browsers.page(browser, server)  # another person (own cookies), no microphone use
    signup(host, unique("rec"), "Rita Recorder")
    signup(fan, unique("fan"), "Fay Fan")

    host.get_by_role("link", name="Start a space").click()
    host.get_by_label("Title").fill("On the record")
    host.get_by_label("Record this space").check()
    host.get_by_role("button", name="Start space now").click()
    host.wait_for_url("**/#/space/*")
    space_id = host.url.split("#/space/")[1]
    badge = host.locator(".rec-pill")
    expect(badge).to_have_text("● Recording")
    expect(host.locator("#announcer")).to_contain_text("This space is being recorded")
    open_app(fan, f"/space/{space_id}")
    fan.get_by_role("button", name="Join space").click()
    expect(fan.locator(".rec-pill")).to_have_text("● Recording")
    expect(fan.get_by_role("button", name="Pause recording")).to_have_count(0)  # host only

    host.get_by_role("button", name="Unmute").click()
    expect(host.get_by_role("button", name="Mute", exact=True)).to_be_visible()

    # The host's switch: pause (the badge goes, screen readers are told), then resume.
    host.get_by_role("button", name="Pause recording").click()
    expect(badge).to_have_count(0)
    expect(host.locator("#announcer")).to_contain_text("Recording paused")
    expect(fan.locator(".rec-pill")).to_have_count(0)  # live, from recording.changed
    expect(fan.locator("#announcer")).to_contain_text("Recording paused")
    host.get_by_role("button", name="Record this space").click()
    expect(badge).to_be_visible()
    expect(fan.locator(".rec-pill")).to_be_visible()
    host.wait_for_timeout(3000)  # speak for a few seconds

    host.get_by_role("button", name="End space").click()
    confirm_in_page(host, "End space")
    expect(host.locator(".room-banner.ended")).to_contain_text("This space has ended")
    player = host.locator("audio.replay")
    expect(player).to_have_count(1)
    host.wait_for_function(READY, timeout=15_000)
    # VOD HLS through hls.js (a blob: URL), although Chromium says it has its own player.
    assert host.evaluate("document.createElement('audio').canPlayType('" + HLS + "')")
    replay = "document.querySelector('audio.replay')"
    assert host.evaluate(f"{replay}.dataset.hls") == "hlsjs"
    assert host.evaluate(f"{replay}.src").startswith("blob:")
    host.evaluate(f"{replay}.play()")
    host.wait_for_function(PLAYING, timeout=15_000)
    expect(host.get_by_role("button", name="Delete recording")).to_be_visible()
    expect(fan.locator("audio.replay")).to_have_count(1)  # anyone who may see the space
    expect(fan.get_by_role("button", name="Delete recording")).to_have_count(0)

    # A browser without Media Source Extensions: its own player, given the playlist URL.
    nomse = browsers.page(browser, server)
    nomse.add_init_script(NO_MSE)
    signup(nomse, unique("nomse"), "Nia Native")
    open_app(nomse, f"/space/{space_id}")
    nomse.wait_for_function(READY, timeout=15_000)
    assert nomse.evaluate("typeof MediaSource") == "undefined"
    assert nomse.evaluate(f"{replay}.dataset.hls") == "native"
    assert nomse.evaluate(f"{replay}.src").endswith(f"/hls/{space_id}/replay.m3u8")
    nomse.evaluate(f"{replay}.play()")
    nomse.wait_for_function(PLAYING, timeout=15_000)

    # The host deletes it: the player goes.
    host.get_by_role("button", name="Delete recording").click()
    confirm_in_page(host, "Delete recording")
    expect(player).to_have_count(0)
    expect(host.locator("#announcer")).to_contain_text("Recording deleted")
