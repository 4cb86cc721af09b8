"""A listener refused WebRTC (TOWNHALL_WEBRTC_LISTENER_LIMIT=0) hears the speaker through
hls.js in real Chromium, raises a hand, is approved, switches to WebRTC, and is heard.
A listener whose WebRTC cannot connect falls back to HLS. Both play hls.js in Chromium,
although its canPlayType says "maybe" (its own player is seconds behind): the browser's
own player is only for browsers without Media Source Extensions (iPhone Safari)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.server import running_server
from tests.web.conftest import BASE_FLAGS, CHROMIUM
from tests.web.flows import hears, open_app, signup, silent_at, start_space, unique, wait_for_audio

pytestmark = [pytest.mark.browser, pytest.mark.serial]

HAS_NATIVE_HLS = (
    "() => !!document.createElement('audio').canPlayType('application/vnd.apple.mpegurl')"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server whose spaces have no WebRTC seat for listeners."""
    data = tmp_path_factory.mktemp("web-hls") / "data"
    env = {"TOWNHALL_MEDIA_ADDRESSES": "127.0.0.1", "TOWNHALL_WEBRTC_LISTENER_LIMIT": "0"}
    with running_server(data, env) as base:
        yield base


def test_a_listener_refused_webrtc_hears_hls_and_speaks_after_approval(
    browsers: Any, server: str, console: Any
) -> None:
    console.allow(r"status of 409 \(Conflict\)")  # the refused offer, as designed
    host = browsers.page(browsers.launch(440), server)
    fan = browsers.page(browsers.launch(660), server)
    host_handle, fan_handle = unique("hlshost"), unique("hlsfan")
    signup(host, host_handle, "Hana Host")
    signup(fan, fan_handle, "Finn Fan")

    space_id = start_space(host, "Crowded room")
    host.get_by_role("button", name="Unmute").click()
    expect(host.get_by_role("button", name="Mute", exact=True)).to_be_visible()

    # The fan's WebRTC offer is answered 409 webrtc_full: the room plays HLS and says so.
    open_app(fan, f"/space/{space_id}")
    fan.get_by_role("button", name="Join space").click()
    expect(fan.locator(".audio-status")).to_have_text(
        "You are listening with a few seconds' delay."
    )
    heard = wait_for_audio(fan, lambda r: hears(r, 440) and silent_at(r, 660, 440), timeout=30)
    assert heard["mode"] == "hls"
    assert fan.evaluate(HAS_NATIVE_HLS)  # Chromium's own player says "maybe"...
    assert fan.evaluate("() => window.townhallDebug.room.link.hls !== null")  # ...hls.js plays
    assert fan.evaluate("() => window.townhallDebug.room.link.hlsAudio.dataset.hls") == "hlsjs"

    # Everything else works: the hand goes up and the host approves it.
    fan.get_by_role("button", name="Request to speak").click()
    expect(fan.get_by_role("button", name="Lower hand")).to_be_visible()
    host.locator(".queue").get_by_role("button", name="Approve Finn Fan to speak").click()
    # On stage: WebRTC now (the stage is never refused).
    expect(fan.locator(".audio-status")).to_have_text("Audio connected.")
    assert fan.evaluate("() => window.townhallDebug.room.link.mode") == "webrtc"
    fan.get_by_role("button", name="Unmute").click()
    expect(fan.get_by_role("button", name="Mute", exact=True)).to_be_visible()
    # The host hears the new speaker over WebRTC; the fan hears the host.
    wait_for_audio(host, lambda r: hears(r, 660) and silent_at(r, 440, 660))
    wait_for_audio(fan, lambda r: hears(r, 440))


def test_a_listener_whose_webrtc_cannot_connect_falls_back_to_hls(
    browsers: Any, tmp_path: Any
) -> None:
    env = {"TOWNHALL_MEDIA_ADDRESSES": "127.0.0.1"}  # seats free: WebRTC is offered
    with running_server(tmp_path / "data", env) as base:
        host_browser = browsers.launch(440)
        host = browsers.page(host_browser, base)
        # No UDP for this browser's WebRTC (as behind a firewall that drops it).
        blocked = browsers.playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[*BASE_FLAGS, "--webrtc-ip-handling-policy=disable_non_proxied_udp"],
        )
        browsers.launched.append(blocked)
        fan = browsers.page(blocked, base)
        signup(host, unique("fbhost"), "Hana Host")
        signup(fan, unique("fbfan"), "Finn Fan")
        space_id = start_space(host, "Firewalled")
        host.get_by_role("button", name="Unmute").click()
        expect(host.get_by_role("button", name="Mute", exact=True)).to_be_visible()

        open_app(fan, f"/space/{space_id}")
        fan.get_by_role("button", name="Join space").click()
        expect(fan.locator(".audio-status")).to_have_text(
            "You are listening with a few seconds' delay.", timeout=20_000
        )
        heard = wait_for_audio(fan, lambda r: hears(r, 440), timeout=30)
        assert heard["mode"] == "hls" and heard["connections"] >= 1  # WebRTC was tried first
        # hls.js (Media Source Extensions: a blob: URL), not Chromium's own player.
        link = "window.townhallDebug.room.link"
        assert fan.evaluate(f"() => {link}.hlsAudio.dataset.hls") == "hlsjs"
        assert fan.evaluate(f"() => {link}.hls !== null")
        assert fan.evaluate(f"() => {link}.hlsAudio.src").startswith("blob:")
        for browser in (host_browser, blocked):  # before the server goes
            browser.close()
