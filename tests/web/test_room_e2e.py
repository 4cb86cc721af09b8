"""The whole product end to end: three real browsers, fake microphones playing tones, the
received audio measured in the page with a WebAudio AnalyserNode."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.web.flows import (
    confirm_in_page,
    hears,
    open_app,
    signup,
    silent_at,
    start_space,
    unique,
    wait_for_audio,
)

pytestmark = [pytest.mark.browser, pytest.mark.serial]


def member(page: Any, handle_name: str) -> Any:
    """A person's tile in the room (stage or listeners), found by display name."""
    return page.locator(".member").filter(has=page.locator(".name", has_text=handle_name))


def test_host_speaker_listener_audio_and_moderation(browsers: Any, server: str) -> None:
    host_browser = browsers.launch(440)
    guest_browser = browsers.launch(660)
    third_browser = browsers.launch()
    host = browsers.page(host_browser, server)
    guest = browsers.page(guest_browser, server)
    third = browsers.page(third_browser, server)

    host_handle, guest_handle, third_handle = unique("host"), unique("guest"), unique("third")
    signup(host, host_handle, "Hana Host")
    signup(guest, guest_handle, "Gil Guest")
    signup(third, third_handle, "Tess Third")

    # The guest follows the host from the host's profile page.
    open_app(guest, f"/u/{host_handle}")
    guest.get_by_role("button", name="Follow", exact=True).click()
    expect(guest.get_by_role("button", name="Unfollow")).to_be_visible()

    # The host starts a space and takes the mic (440 Hz).
    space_id = start_space(host, "Tones at dusk", "music, test tones")
    host.get_by_role("button", name="Unmute").click()
    expect(host.get_by_role("button", name="Mute", exact=True)).to_be_visible()

    # The guest finds it under Live now, with host, topics and listener count, and joins.
    open_app(guest, "/")
    card = guest.locator(".space-card", has_text="Tones at dusk")
    expect(card).to_contain_text("Hana Host")
    expect(card).to_contain_text("test tones")
    expect(card).to_contain_text("listening")  # people in the room, as Spaces counts
    # The bell counted the "started a space" notification live.
    expect(guest.locator(".bell")).to_have_attribute("data-unread", "1")
    card.get_by_role("link", name="Listen").click()
    guest.get_by_role("button", name="Join space").click()
    wait_for_audio(guest, lambda r: hears(r, 440))

    # The third person opens the share link directly and joins too.
    open_app(third, f"/space/{space_id}")
    third.get_by_role("button", name="Join space").click()
    wait_for_audio(third, lambda r: hears(r, 440) and silent_at(r, 660, 440))
    expect(third.locator(".listener-count")).to_have_text("2 listeners")

    # The guest asks to speak; the host approves from the hand queue.
    guest.get_by_role("button", name="Request to speak").click()
    expect(guest.get_by_role("button", name="Lower hand")).to_be_visible()
    queue = host.locator(".queue")
    expect(queue).to_contain_text("Gil Guest")
    queue.get_by_role("button", name="Approve Gil Guest to speak").click()
    guest.get_by_role("button", name="Unmute").click()
    expect(guest.get_by_role("button", name="Mute", exact=True)).to_be_visible()

    # The third browser hears both microphones, and sees two people on stage.
    wait_for_audio(third, lambda r: hears(r, 440) and hears(r, 660))
    expect(third.locator(".stage .member")).to_have_count(2)
    # Both avatars light up from the server's level events.
    for name in ("Gil Guest", "Hana Host"):
        expect(member(third, name)).to_have_attribute("data-speaking", "true")

    # The host mutes the guest: the third browser hears 440 Hz alone, and a mute badge.
    member(host, "Gil Guest").get_by_role("button").first.click()
    host.get_by_role("menuitem", name="Mute").click()
    expect(member(third, "Gil Guest")).to_have_attribute("data-muted", "true")
    expect(member(third, "Gil Guest").locator(".mute-badge")).to_be_visible()
    expect(member(third, "Gil Guest")).to_have_attribute("data-speaking", "false")
    expect(guest.get_by_role("button", name="Unmute")).to_be_visible()
    wait_for_audio(third, lambda r: hears(r, 440) and silent_at(r, 660, 440))

    # The host ends the space; both others are told.
    host.get_by_role("button", name="End space").click()
    confirm_in_page(host, "End space")
    for page in (guest, third, host):
        expect(page.locator(".room-banner.ended")).to_contain_text("This space has ended")
    expect(third.get_by_role("button", name="Join space")).to_have_count(0)
