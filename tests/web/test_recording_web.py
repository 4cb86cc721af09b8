"""Recording in the browser: the host starts a recorded space with a 440 Hz microphone,
everyone sees (and hears announced) "● Recording", the host pauses and resumes, ends the
space, and the ended page's player loads and plays the recording (a listener sees the
badge change live and gets the player too, without the host's Delete)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.web.flows import open_app, signup, unique

pytestmark = [pytest.mark.browser, pytest.mark.serial]


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

    host.get_by_role("button", name="Join as host").click()
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

    host.once("dialog", lambda d: d.accept())
    host.get_by_role("button", name="End space").click()
    expect(host.locator(".room-banner.ended")).to_contain_text("This space has ended")
    player = host.locator("audio.replay")
    expect(player).to_have_count(1)
    host.wait_for_function(
        "() => { const a = document.querySelector('audio.replay');"
        " return a && a.readyState >= 1 && a.duration > 1; }",
        timeout=15_000,
    )
    host.evaluate("document.querySelector('audio.replay').play()")
    host.wait_for_function(
        "() => document.querySelector('audio.replay').currentTime > 0.5", timeout=15_000
    )
    expect(host.get_by_role("button", name="Delete recording")).to_be_visible()
    expect(fan.locator("audio.replay")).to_have_count(1)  # anyone who may see the space
    expect(fan.get_by_role("button", name="Delete recording")).to_have_count(0)

    # The host deletes it: the player goes.
    host.once("dialog", lambda d: d.accept())
    host.get_by_role("button", name="Delete recording").click()
    expect(player).to_have_count(0)
    expect(host.locator("#announcer")).to_contain_text("Recording deleted")
