"""The mic button and the browser's permission flow: a clear message when the microphone is
denied or missing, and it works once permission is given."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.web.flows import hears, open_app, signup, start_space, unique, wait_for_audio

pytestmark = pytest.mark.browser


def test_mic_denied_then_allowed(browsers: Any, server: str) -> None:
    # No --use-fake-ui-for-media-stream: the permission prompt is answered "no".
    page = browsers.page(browsers.launch(440, fake_ui=False), server)
    signup(page, unique("deny"), "Dana Denied")
    start_space(page, "Can you hear me")
    page.get_by_role("button", name="Unmute").click()
    message = page.locator(".mic-msg")
    expect(message).to_contain_text("Microphone access was denied")
    expect(message).to_have_attribute("role", "alert")
    expect(page.get_by_role("button", name="Unmute")).to_be_visible()
    me = page.locator(".member", has_text="Dana Denied (you)")
    expect(me).to_have_attribute("data-muted", "true")

    # The person allows the microphone in the browser and presses the button again.
    page.context.grant_permissions(["microphone"])
    page.get_by_role("button", name="Unmute").click()
    expect(page.get_by_role("button", name="Mute", exact=True)).to_be_visible()
    expect(message).to_have_count(0)
    expect(me).to_have_attribute("data-muted", "false")


def test_mic_missing(browsers: Any, server: str) -> None:
    # No fake device, and this machine has no sound card: there is no microphone at all.
    page = browsers.page(browsers.launch(fake_device=False), server)
    signup(page, unique("nomic"), "Nico Nomic")
    start_space(page, "Anyone there")
    page.get_by_role("button", name="Unmute").click()
    expect(page.locator(".mic-msg")).to_contain_text("No microphone was found")
    expect(page.get_by_role("button", name="Unmute")).to_be_visible()
    expect(page.locator(".member", has_text="Nico Nomic (you)")).to_have_attribute(
        "data-muted", "true"
    )


def test_reload_then_speak_again(browsers: Any, server: str) -> None:
    browser = browsers.launch(440)
    page, ear = browsers.page(browser, server), browsers.page(browsers.launch(), server)
    signup(page, unique("reload"), "Rae Reload")
    signup(ear, unique("ear"), "Earl Ear")
    space_id = start_space(page, "Still here")
    page.get_by_role("button", name="Unmute").click()
    expect(page.get_by_role("button", name="Mute", exact=True)).to_be_visible()
    open_app(ear, f"/space/{space_id}")
    ear.get_by_role("button", name="Join space").click()
    wait_for_audio(ear, lambda r: hears(r, 440))

    # A reload leaves the space (the listener hears nothing); joining again starts muted,
    # and Unmute takes a fresh microphone.
    page.reload()
    wait_for_audio(ear, lambda r: r["levels"]["440"] < -70)
    page.get_by_role("button", name="Join as host").click()
    page.get_by_role("button", name="Unmute").click()
    expect(page.get_by_role("button", name="Mute", exact=True)).to_be_visible()
    wait_for_audio(ear, lambda r: hears(r, 440))
    assert page.evaluate("window.townhallDebug.room.link.micActive") is True
