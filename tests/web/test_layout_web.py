"""The page at 360 px wide (a small phone): nothing sticks out sideways, on any screen."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.web.flows import no_overflow, open_app, signup, start_space, unique

pytestmark = pytest.mark.browser

LONG = "Supercalifragilisticexpialidocious_and_a_very_long_unbroken_word_indeed"


def test_nothing_overflows_at_360px(browsers: Any, server: str, screenshot: Any) -> None:
    browser = browsers.launch(440)
    phone = browsers.page(browser, server, width=360, height=740, mobile=True)
    desk = browsers.page(browser, server)
    checked: dict[str, list[str]] = {}

    open_app(phone, "/signup")
    checked["signup"] = no_overflow(phone)

    host, other = unique("phone"), unique("desk")
    signup(phone, host, "Pat Phone with a rather long display name")
    signup(desk, other, "Dee Desk")
    # Long words in a bio and a title must wrap, not widen the page.
    phone.get_by_role("link", name=f"Your profile (@{host})").click()
    phone.get_by_role("link", name="Edit profile").click()
    checked["settings"] = no_overflow(phone)
    phone.get_by_label("Bio").fill(LONG)
    phone.get_by_role("button", name="Save").click()
    expect(phone.locator("#toasts")).to_contain_text("Profile saved")
    open_app(phone, f"/u/{host}")
    expect(phone.get_by_text(LONG)).to_be_visible()
    checked["profile"] = no_overflow(phone)

    open_app(phone, "/new")
    checked["new space"] = no_overflow(phone)
    open_app(phone, "/")
    title = "Tuesday night tunes " + LONG[:40]
    space_id = start_space(phone, title[:70], "music, late night, a topic of thirty chars")
    expect(phone.get_by_role("button", name="Unmute")).to_be_visible()

    # Someone joins from a desktop and asks to speak, so the room has a hand queue.
    open_app(desk, f"/space/{space_id}")
    desk.get_by_role("button", name="Join space").click()
    desk.get_by_role("button", name="Request to speak").click()
    expect(phone.locator(".queue")).to_contain_text("Dee Desk")
    expect(phone.locator(".listeners-list")).to_contain_text("Dee Desk")
    checked["room"] = no_overflow(phone)
    screenshot(phone, "room-phone.png", full_page=False)
    # A person's menu opens as a sheet inside the screen.
    phone.locator(".member", has_text="Dee Desk").get_by_role("button").first.click()
    expect(phone.get_by_role("menu")).to_be_visible()
    checked["room menu"] = no_overflow(phone)
    phone.keyboard.press("Escape")

    # The bell's panel too.
    phone.get_by_role("button", name="Notifications").click()
    expect(phone.get_by_role("region", name="Notifications")).to_be_visible()
    checked["notifications"] = no_overflow(phone)
    phone.keyboard.press("Escape")

    open_app(phone, "/")
    expect(phone.locator(".space-card", has_text="Tuesday night tunes")).to_be_visible()
    checked["home"] = no_overflow(phone)

    bad = {name: found for name, found in checked.items() if found}
    assert not bad, f"elements wider than 360 px: {bad}"
