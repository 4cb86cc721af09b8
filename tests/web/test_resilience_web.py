"""Resilience: network blips and a server restart. The page says so, reconnects its WebSocket
(resuming from the last event it saw) and its audio without a reload, and shows the stage
changes it missed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.server import free_port, running_server
from tests.web.flows import (
    confirm_in_page,
    hears,
    open_app,
    signup,
    start_space,
    unique,
    wait_for_audio,
)

pytestmark = [pytest.mark.browser, pytest.mark.serial]


def member(page: Any, name: str) -> Any:
    return page.locator(".member").filter(has=page.locator(".name", has_text=name))


def test_network_blip_resumes_events_and_audio(browsers: Any, server: str, console: Any) -> None:
    host = browsers.page(browsers.launch(440), server)
    listeners = browsers.launch()
    lee, max_ = browsers.page(listeners, server), browsers.page(listeners, server)
    signup(host, unique("rhost"), "Rita Host")
    signup(lee, unique("lee"), "Lee")
    signup(max_, unique("max"), "Max")
    space_id = start_space(host, "Stormy weather")
    host.get_by_role("button", name="Unmute").click()
    for page in (lee, max_):
        open_app(page, f"/space/{space_id}")
        page.get_by_role("button", name="Join space").click()
    wait_for_audio(lee, lambda r: hears(r, 440))
    expect(member(lee, "Max")).to_have_attribute("data-role", "listener")

    # Lee's network goes away: the page says so at once.
    console.allow(r"WebSocket connection to .* failed")  # reconnect attempts while offline
    console.allow(r"ERR_INTERNET_DISCONNECTED")
    lee.context.set_offline(True)
    banner = lee.locator("#conn-banner")
    expect(banner).to_have_text("Connection lost. Reconnecting…")
    resumes_before = len(lee.evaluate("window.townhallDebug.live.resumes"))

    # Meanwhile Max asks to speak and the host brings him on stage.
    max_.get_by_role("button", name="Request to speak").click()
    host.locator(".queue").get_by_role("button", name="Approve Max to speak").click()
    expect(member(host, "Max")).to_have_attribute("data-role", "speaker")
    time.sleep(1.5)  # stay offline a little longer than the first reconnect attempt
    expect(member(lee, "Max")).to_have_attribute("data-role", "listener")  # not seen yet

    # Back online: reconnected without a reload, missed events replayed (not a snapshot).
    lee.context.set_offline(False)
    expect(banner).to_have_text("Reconnected.", timeout=15_000)
    expect(member(lee, "Max")).to_have_attribute("data-role", "speaker")
    resumes = lee.evaluate("window.townhallDebug.live.resumes")[resumes_before:]
    assert resumes and resumes[-1]["space_id"] == space_id
    assert resumes[-1]["replayed"] >= 1, resumes
    # Later changes arrive live again.
    host.get_by_role("button", name="Mute", exact=True).click()
    expect(member(lee, "Rita Host")).to_have_attribute("data-muted", "true")
    host.get_by_role("button", name="Unmute").click()
    expect(member(lee, "Rita Host")).to_have_attribute("data-muted", "false")
    wait_for_audio(lee, lambda r: hears(r, 440))

    # The audio connection fails: the page says so and makes a new one by itself.
    assert lee.evaluate("window.townhallDebug.room.link.connections") == 1
    lee.evaluate("window.townhallDebug.room.link.simulateFailure()")
    status = lee.locator(".audio-status")
    expect(status).to_have_attribute("data-audio", "connected", timeout=20_000)
    assert lee.evaluate("window.townhallDebug.room.link.connections") == 2
    wait_for_audio(lee, lambda r: hears(r, 440))


def test_server_restart_recovers_socket_stage_and_audio(
    browsers: Any, tmp_path: Path, console: Any
) -> None:
    data = tmp_path / "data"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    host = browsers.page(browsers.launch(440), base)
    lee = browsers.page(browsers.launch(), base)
    with running_server(data, {"TOWNHALL_MEDIA_ADDRESSES": "127.0.0.1"}, port=port):
        signup(host, unique("shost"), "Sam Host")
        signup(lee, unique("slee"), "Lee")
        space_id = start_space(host, "Through the storm")
        host.get_by_role("button", name="Unmute").click()
        open_app(lee, f"/space/{space_id}")
        lee.get_by_role("button", name="Join space").click()
        wait_for_audio(lee, lambda r: hears(r, 440))

    # The server is down: both pages say so.
    console.allow(r"WebSocket connection to .* failed")
    # Requests in flight or sent while the server is down (e.g. the audio reconnecting).
    console.allow(
        r"Failed to load resource: net::ERR_(CONNECTION_REFUSED|CONNECTION_RESET|EMPTY_RESPONSE)"
    )
    for page in (host, lee):
        expect(page.locator("#conn-banner")).to_have_text("Connection lost. Reconnecting…")

    with running_server(data, {"TOWNHALL_MEDIA_ADDRESSES": "127.0.0.1"}, port=port):
        # Back on the same address: no reload, the socket resubscribes, the audio reconnects.
        for page in (host, lee):
            expect(page.locator("#conn-banner")).to_have_text("Reconnected.", timeout=20_000)
        wait_for_audio(lee, lambda r: hears(r, 440), timeout=45)
        assert lee.evaluate("window.townhallDebug.room.link.connections") >= 2
        expect(member(lee, "Sam Host")).to_have_attribute("data-role", "host")
        # And later changes show up.
        host.get_by_role("button", name="Mute", exact=True).click()
        expect(member(lee, "Sam Host")).to_have_attribute("data-muted", "true")
        host.get_by_role("button", name="End space").click()
        confirm_in_page(host, "End space")
        expect(lee.locator(".room-banner.ended")).to_contain_text("This space has ended")
