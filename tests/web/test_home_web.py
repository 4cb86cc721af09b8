"""Home: live now (people I follow first), upcoming with reminders, search, the bell, and a
person's live and upcoming spaces on their profile."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.web.flows import open_app, signup, start_space, unique

pytestmark = pytest.mark.browser


def follow(page: Any, handle: str) -> None:
    open_app(page, f"/u/{handle}")
    page.get_by_role("button", name="Follow", exact=True).click()
    expect(page.get_by_role("button", name="Unfollow")).to_be_visible()


def schedule_space(page: Any, title: str, topics: str, when: datetime) -> str:
    page.get_by_role("link", name="Start a space").click()
    page.get_by_label("Title").fill(title)
    page.get_by_label("Topics").fill(topics)
    page.get_by_label("Schedule for later").check()
    page.get_by_label("Start time").fill(when.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Schedule space").click()
    expect(page.get_by_role("heading", name="Space scheduled")).to_be_visible()
    url = page.get_by_label("Share link").input_value()
    return str(url.split("#/space/")[1])


def test_home_live_upcoming_search_bell_and_profiles(
    browsers: Any, server: str, screenshot: Any
) -> None:
    browser = browsers.launch(440)
    viewer, fan_host, other_host, planner = (browsers.page(browser, server) for _ in range(4))
    names = {
        "viewer": unique("viewer"),
        "fan": unique("fanhost"),
        "other": unique("other"),
        "plan": unique("planner"),
    }
    signup(viewer, names["viewer"], "Vera Viewer")
    signup(fan_host, names["fan"], "Hana Host")
    signup(other_host, names["other"], "Omar Other")
    signup(planner, names["plan"], "Paula Planner")
    follow(viewer, names["fan"])
    follow(viewer, names["plan"])

    # Someone the viewer does not follow is live, with a listener (Paula).
    other_id = start_space(other_host, "Open mic for everyone", "comedy")
    open_app(planner, f"/space/{other_id}")
    planner.get_by_role("button", name="Join space").click()
    expect(other_host.locator(".listener-count")).to_have_text("1 listener")

    # The viewer is on the home page when someone she follows goes live: the bell counts it
    # without a reload and the space shows up first although it has fewer listeners.
    open_app(viewer, "/")
    expect(viewer.locator(".space-card", has_text="Open mic for everyone")).to_be_visible()
    expect(viewer.locator(".bell")).to_have_attribute("data-unread", "0")
    start_space(fan_host, "Morning coffee chat", "coffee, mornings")
    expect(viewer.locator(".bell")).to_have_attribute("data-unread", "1")
    expect(viewer.locator(".bell .badge")).to_have_text("1")
    viewer.reload()
    live_cards = viewer.locator("section[aria-labelledby=h-live] .space-card")
    expect(live_cards).to_have_count(2)
    first = live_cards.nth(0)
    expect(first).to_contain_text("Morning coffee chat")
    expect(first).to_contain_text("Hana Host")
    expect(first).to_contain_text("coffee")
    expect(first).to_contain_text("1 listening")  # people in the room: the host
    expect(first.locator(".speaker-faces")).to_have_attribute("aria-label", "Speakers: Hana Host")
    expect(live_cards.nth(1)).to_contain_text("Open mic for everyone")
    expect(live_cards.nth(1)).to_contain_text("2 listening")  # the host and Paula
    expect(live_cards.nth(1).locator(".speaker-faces")).to_contain_text("Omar Other")

    # Paula schedules a space for tomorrow; the viewer asks to be reminded.
    open_app(planner, "/")
    tomorrow = datetime.now() + timedelta(days=1)
    planned_id = schedule_space(planner, "Tomorrow's roundtable", "books", tomorrow)
    viewer.reload()
    upcoming = viewer.locator("section[aria-labelledby=h-up] .space-card", has_text="roundtable")
    expect(upcoming).to_contain_text("Paula Planner")
    upcoming.get_by_role("button", name="Remind me").click()
    expect(upcoming.get_by_role("button", name="Reminder set ✓")).to_have_attribute(
        "aria-pressed", "true"
    )
    viewer.reload()
    expect(upcoming.get_by_role("button", name="Reminder set ✓")).to_be_visible()

    # Profiles list the person's live and upcoming spaces.
    open_app(viewer, f"/u/{names['plan']}")
    upcoming_on_profile = viewer.locator("section[aria-labelledby=p-up]")
    expect(upcoming_on_profile).to_contain_text("Tomorrow's roundtable")
    expect(viewer.locator("section[aria-labelledby=p-live]")).to_contain_text("No live space")
    open_app(viewer, f"/u/{names['fan']}")
    expect(viewer.locator("section[aria-labelledby=p-live]")).to_contain_text("Morning coffee chat")

    # Search by topic or title.
    open_app(viewer, "/")
    viewer.get_by_label("Search spaces").fill("books")
    viewer.get_by_role("button", name="Search").click()
    expect(viewer.get_by_role("heading", name="Upcoming matching “books”")).to_be_visible()
    expect(viewer.locator(".space-card")).to_have_count(1)
    expect(viewer.locator(".space-card")).to_contain_text("Tomorrow's roundtable")
    expect(viewer.get_by_text("No live space matches.")).to_be_visible()
    viewer.get_by_role("link", name="Clear search").click()
    expect(viewer.locator("section[aria-labelledby=h-live] .space-card")).to_have_count(2)

    # Paula starts her scheduled space from its page; the viewer's bell counts it live.
    open_app(planner, f"/space/{planned_id}")
    planner.get_by_role("button", name="Start now").click()
    expect(viewer.locator(".bell")).to_have_attribute("data-unread", "2")
    expect(viewer.locator("section[aria-labelledby=h-live] .space-card")).to_have_count(3)

    # Reading the notifications clears the count; each links to its space.
    viewer.get_by_role("button", name="Notifications, 2 unread").click()
    panel = viewer.get_by_role("region", name="Notifications")
    expect(
        panel.get_by_role("link", name="Hana Host started “Morning coffee chat”")
    ).to_be_visible()
    expect(panel.get_by_role("link", name=re.compile("Tomorrow's roundtable"))).to_be_visible()
    expect(viewer.locator(".bell")).to_have_attribute("data-unread", "0")
    viewer.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    screenshot(viewer, "home.png")
