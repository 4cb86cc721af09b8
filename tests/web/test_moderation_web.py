"""Moderation in the room: invitations, co-hosts, the hand queue, moving people off stage,
removing and blocking, reactions for everyone, handing over the host role."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.web.flows import answer_in_page, confirm_in_page, open_app, signup, start_space, unique

pytestmark = pytest.mark.browser


def member(page: Any, name: str) -> Any:
    return page.locator(".member").filter(has=page.locator(".name", has_text=name))


def menu_action(page: Any, name: str, action: str) -> None:
    """Open a person's menu from their tile and choose an action."""
    member(page, name).get_by_role("button").first.click()
    page.get_by_role("menu", name=f"Actions for {name}").get_by_role(
        "menuitem", name=action
    ).click()


def test_invitations_cohosts_hands_removal_block_reactions(
    browsers: Any, server: str, screenshot: Any, console: Any
) -> None:
    browser = browsers.launch(440)
    host, ann, ben, cat, dan = (browsers.page(browser, server) for _ in range(5))
    signup(host, unique("mhost"), "Hana Host")
    signup(ann, unique("ann"), "Ann")
    signup(ben, unique("ben"), "Ben")
    signup(cat, unique("cat"), "Cat")
    dan_handle = unique("dan")
    signup(dan, dan_handle, "Dan")

    space_id = start_space(host, "Town meeting", "civic")
    for page in (ann, ben, cat, dan):
        open_app(page, f"/space/{space_id}")
        page.get_by_role("button", name="Join space").click()
        expect(page.get_by_role("button", name="Request to speak")).to_be_visible()
    expect(host.locator(".listeners-list .member")).to_have_count(4)
    expect(host.locator(".listener-count")).to_have_text("4 listeners")

    # Invite Ann to speak; she accepts and everyone sees her on stage.
    menu_action(host, "Ann", "Invite to speak")
    expect(ann.get_by_role("region", name="Invitation")).to_contain_text("invited to speak")
    ann.get_by_role("button", name="Accept").click()
    for page in (host, ben, cat, dan):
        expect(member(page, "Ann")).to_have_attribute("data-role", "speaker")
        expect(page.locator(".stage")).to_contain_text("Ann")
    expect(ann.get_by_role("button", name="Unmute")).to_be_visible()
    expect(dan.locator("#announcer")).to_contain_text("Ann is now a speaker")

    # Make Ben co-host; he accepts and now moderates the hand queue.
    menu_action(host, "Ben", "Make co-host")
    expect(ben.get_by_role("region", name="Invitation")).to_contain_text("co-host")
    ben.get_by_role("button", name="Accept").click()
    expect(member(cat, "Ben")).to_have_attribute("data-role", "cohost")
    cat.get_by_role("button", name="Request to speak").click()
    ben_queue = ben.locator(".queue")
    expect(ben_queue).to_contain_text("Cat")
    expect(member(host, "Cat").locator(".hand-badge")).to_be_visible()
    ben_queue.get_by_role("button", name="Decline Cat's request").click()
    expect(cat.get_by_role("button", name="Request to speak")).to_be_visible()
    expect(ben_queue).not_to_contain_text("Cat")
    cat.get_by_role("button", name="Request to speak").click()
    ben_queue.get_by_role("button", name="Approve Cat to speak").click()
    expect(member(host, "Cat")).to_have_attribute("data-role", "speaker")

    # Reactions float up for everyone.
    ann.get_by_role("button", name="React 👏").click()
    # A floater lives 2.7 s; the layer's counters say it was shown even on a slow machine.
    for page in (host, ben, cat, dan, ann):
        layer = page.locator(".float-layer")
        expect(layer).to_have_attribute("data-last", "👏")
        expect(layer).to_have_attribute("data-count", "1")

    # Speakers unmute: the room with several people on stage, lit while they speak.
    for page in (host, ann, cat):
        page.get_by_role("button", name="Unmute").click()
        expect(page.get_by_role("button", name="Mute", exact=True)).to_be_visible()
    expect(dan.locator(".stage .member")).to_have_count(4)
    expect(member(dan, "Ann")).to_have_attribute("data-speaking", "true", timeout=10_000)
    screenshot(dan, "room.png")

    # Ann declines a second invitation... after being moved back to the listeners.
    menu_action(host, "Ann", "Move to listeners")
    expect(ann.get_by_role("button", name="Request to speak")).to_be_visible()
    expect(member(dan, "Ann")).to_have_attribute("data-role", "listener")
    assert ann.evaluate("window.townhallDebug.room.link.micActive") is False
    menu_action(host, "Ann", "Invite to speak")
    ann.get_by_role("button", name="Decline").click()
    expect(ann.get_by_role("region", name="Invitation")).to_be_hidden()
    expect(member(dan, "Ann")).to_have_attribute("data-role", "listener")

    # Remove Cat: she is told and cannot come back.
    menu_action(host, "Cat", "Remove from space")
    confirm_in_page(host, "Remove")
    expect(cat.locator(".room-banner.ended")).to_contain_text("You were removed")
    expect(host.locator(".stage")).not_to_contain_text("Cat")
    # Coming back by the link, she is told again at once and offered no Join button; the
    # server refuses her join anyway.
    cat.reload()
    cat.wait_for_selector("body[data-ready=true]")
    expect(cat.locator(".room-banner.ended")).to_contain_text("You were removed")
    expect(cat.get_by_role("button", name="Join space")).to_have_count(0)
    console.allow(r"status of 403")
    status = cat.evaluate(
        "(id) => fetch(`/api/v1/spaces/${id}/join`, {method: 'POST'}).then(r => r.status)",
        space_id,
    )
    assert status == 403

    # Anyone can report a person (or the space); the report reaches the server.
    menu_action(dan, "Ann", "Report")
    answer_in_page(dan, "keeps shouting", "Send report")
    expect(dan.locator("#toasts")).to_contain_text("Thank you. The report was sent.")
    dan.get_by_role("button", name="Report this space").click()
    answer_in_page(dan, "off-topic room", "Send report")
    expect(dan.locator("#announcer")).to_contain_text("The report was sent", timeout=10_000)

    # Block Dan from the room: removed, and blocked on his profile too.
    menu_action(host, "Dan", "Block")
    confirm_in_page(host, "Block")
    expect(dan.locator(".room-banner.ended")).to_contain_text("You were removed")
    dan.reload()
    expect(dan.locator(".error-card")).to_contain_text("blocked")

    # The host hands over the host role to Ben, who can then end the space.
    menu_action(host, "Ben", "Make host")
    confirm_in_page(host, "Make host")
    expect(member(ann, "Ben")).to_have_attribute("data-role", "host")
    expect(ben.get_by_role("button", name="End space")).to_be_visible()
    expect(host.get_by_role("button", name="End space")).to_have_count(0)
    ben.get_by_role("button", name="End space").click()
    confirm_in_page(ben, "End space")
    for page in (host, ann, ben):
        expect(page.locator(".room-banner.ended")).to_contain_text("This space has ended")
