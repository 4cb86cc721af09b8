"""Private spaces and the share link; editing a live space; scheduling and cancelling."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.web.flows import confirm_in_page, open_app, refuse_native_dialogs, signup, unique

pytestmark = pytest.mark.browser


def test_private_space_share_link_guests_and_edits(
    browsers: Any, server: str, console: Any
) -> None:
    browser = browsers.launch(440)
    host, guest, stranger = (browsers.page(browser, server) for _ in range(3))
    guest_handle, stranger_handle = unique("guest"), unique("strang")
    signup(host, unique("phost"), "Priya Host")
    signup(guest, guest_handle, "Gwen Guest")
    signup(stranger, stranger_handle, "Stan Stranger")

    # A private space with one guest, started now.
    host.get_by_role("link", name="Start a space").click()
    host.get_by_label("Title").fill("Members only")
    host.get_by_label("Private: only people I invite").check()
    host.get_by_label("Guests").fill(f"@{guest_handle}")
    host.get_by_role("button", name="Start space now").click()
    link = host.get_by_label("Share link").input_value()
    assert "#/space/" in link

    # The share link opens the space for the guest, who joins; not for a stranger.
    guest.goto(link)
    guest.get_by_role("button", name="Join space").click()
    expect(host.locator(".listeners-list")).to_contain_text("Gwen Guest")
    # A stranger is not even told that it exists (404, as for an unknown id).
    console.allow(r"status of 40[34]")
    stranger.goto(link)
    expect(stranger.locator(".error-card")).to_contain_text("No such space")
    expect(stranger.get_by_role("button", name="Join space")).to_have_count(0)
    # Nor is it listed for the stranger.
    open_app(stranger, "/")
    expect(stranger.get_by_text("Nobody is live right now")).to_be_visible()

    # The host lets the stranger in from the room; the same link now works for him.
    host.get_by_text("Invite people to this private space").click()
    host.get_by_label("Add guests").fill(stranger_handle)
    host.get_by_role("button", name="Add", exact=True).click()
    expect(host.locator("#toasts")).to_contain_text("Guests added")
    stranger.goto(link)
    stranger.reload()
    stranger.get_by_role("button", name="Join space").click()
    expect(host.locator(".listener-count")).to_have_text("2 listeners")
    # Leaving takes him home and out of the count.
    stranger.get_by_role("button", name="Leave").click()
    expect(stranger.get_by_role("heading", name="Live now")).to_be_visible()
    expect(host.locator(".listener-count")).to_have_text("1 listener")
    expect(host.locator(".listeners-list")).not_to_contain_text("Stan Stranger")
    stranger.go_back()
    stranger.get_by_role("button", name="Join space").click()
    expect(host.locator(".listener-count")).to_have_text("2 listeners")

    # The host edits the title and topics; everyone sees it at once.
    host.get_by_text("Edit title, topics, speakers").click()
    host.get_by_role("textbox", name="Title").fill("Members only, now with snacks")
    host.get_by_role("textbox", name="Topics").fill("snacks")
    expect(guest.get_by_role("button", name="Request to speak")).to_be_visible()
    host.get_by_role("combobox", name="Who can request to speak").select_option("invited")
    host.get_by_role("button", name="Save changes").click()
    for page in (guest, stranger):
        expect(page.get_by_role("heading", level=1)).to_have_text("Members only, now with snacks")
        expect(page.locator(".room-head .topics")).to_contain_text("snacks")
    # Only invited speakers now: listeners are told instead of offered a hand to raise.
    expect(guest.get_by_role("button", name="Request to speak")).to_have_count(0)
    expect(guest.get_by_text("The hosts invite the speakers in this space.")).to_be_visible()


def test_schedule_then_cancel(browsers: Any, server: str) -> None:
    browser = browsers.launch()
    host, fan = browsers.page(browser, server), browsers.page(browser, server)
    native = refuse_native_dialogs(host)
    signup(host, unique("chost"), "Cora Host")
    signup(fan, unique("cfan"), "Finn Fan")
    host.get_by_role("link", name="Start a space").click()
    host.get_by_label("Title").fill("Maybe next week")
    host.get_by_label("Schedule for later").check()
    when = datetime.now() + timedelta(days=6)
    host.get_by_label("Start time").fill(when.strftime("%Y-%m-%dT%H:%M"))
    host.get_by_role("button", name="Schedule space").click()
    expect(host.get_by_role("heading", name="Space scheduled")).to_be_visible()
    link = host.get_by_label("Share link").input_value()

    # The fan opens the link: the page says when it starts and offers a reminder.
    fan.goto(link)
    expect(fan.locator(".room-banner.info")).to_contain_text("Starts")
    fan.get_by_role("button", name="Remind me").click()
    expect(fan.get_by_role("button", name="Reminder set ✓")).to_be_visible()
    expect(fan.get_by_role("button", name="Join space")).to_have_count(0)

    # The host cancels it from the home page; it leaves the list for everyone.
    open_app(host, "/")
    card = host.locator(".space-card", has_text="Maybe next week")
    # Asked in the page's own dialog: cancelled, the card stays (focus back on its button).
    cancel = card.get_by_role("button", name="Cancel")
    cancel.click()
    expect(host.get_by_role("dialog")).to_contain_text("Cancel “Maybe next week”?")
    confirm_in_page(host, "Cancel")
    expect(cancel).to_be_focused()
    expect(card).to_have_count(1)
    cancel.click()
    confirm_in_page(host, "Cancel space")
    expect(card).to_have_count(0)
    assert native == [], f"the browser's own dialogs were used: {native}"
    open_app(fan, "/")
    expect(fan.get_by_text("Nothing scheduled yet.")).to_be_visible()


def test_share_link_for_a_visitor_leads_through_sign_up_to_the_room(
    browsers: Any, server: str
) -> None:
    browser = browsers.launch()
    host, visitor = browsers.page(browser, server), browsers.page(browser, server)
    signup(host, unique("lhost"), "Lia Host")
    host.get_by_role("link", name="Start a space").click()
    host.get_by_label("Title").fill("Open door")
    host.get_by_role("button", name="Start space now").click()
    link = host.get_by_label("Share link").input_value()

    visitor.goto(link)
    expect(visitor.get_by_text("Log in to open that page.")).to_be_visible()
    visitor.get_by_role("link", name="Create an account").click()
    handle = unique("visit")
    visitor.get_by_label("Handle").fill(handle)
    visitor.get_by_label("Display name").fill("Val Visitor")
    visitor.get_by_label("Password").fill("correct horse")
    visitor.get_by_role("button", name="Sign up").click()
    expect(visitor.get_by_role("heading", name="Open door", level=1)).to_be_visible()
    assert visitor.url == link
    visitor.get_by_role("button", name="Join space").click()
    expect(host.locator(".listeners-list")).to_contain_text("Val Visitor")
