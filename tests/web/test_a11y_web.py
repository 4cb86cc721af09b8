"""Keyboard and screen reader use: real buttons that work from the keyboard, labelled
controls, menus with arrow keys and Escape, live regions that announce stage changes."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.web.flows import open_app, unique

pytestmark = pytest.mark.browser

UNLABELLED = """() => {
  const bad = [];
  for (const el of document.querySelectorAll('button, a[href], input, select, textarea')) {
    if (el.closest('[hidden]') || el.type === 'hidden') continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    let name = (el.getAttribute('aria-label') || '').trim();
    if (!name && el.labels && el.labels.length) name = el.labels[0].textContent.trim();
    if (!name && el.getAttribute('aria-labelledby')) {
      name = document.getElementById(el.getAttribute('aria-labelledby'))?.textContent.trim() || '';
    }
    const field = ['INPUT', 'SELECT', 'TEXTAREA'].includes(el.tagName);
    if (!name && !field) name = el.textContent.trim();
    if (!name) bad.push(el.outerHTML.slice(0, 120));
  }
  return bad;
}"""


def keyboard_signup(page: Any, handle: str, name: str) -> None:
    open_app(page, "/signup")
    expect(page.get_by_label("Handle")).to_be_focused()
    page.keyboard.type(handle)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Display name")).to_be_focused()
    page.keyboard.type(name)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type("correct horse")
    page.keyboard.press("Enter")
    page.get_by_role("link", name=f"Your profile (@{handle})").wait_for()


def press(locator: Any, key: str = "Enter") -> None:
    locator.focus()
    expect(locator).to_be_focused()
    locator.press(key)


def test_keyboard_and_screen_reader(browsers: Any, server: str) -> None:
    browser = browsers.launch(440)
    host, guest = browsers.page(browser, server), browsers.page(browser, server)
    keyboard_signup(host, unique("khost"), "Kim Host")
    keyboard_signup(guest, unique("kguest"), "Gus Guest")
    assert host.evaluate(UNLABELLED) == []

    # Start a space from the keyboard: the title field submits with Enter.
    press(host.get_by_role("link", name="Start a space"))
    expect(host.get_by_label("Title")).to_be_focused()
    host.keyboard.type("Keyboard club")
    host.keyboard.press("Enter")
    host.wait_for_url("**/#/space/*")
    space_id = host.url.split("#/space/")[1]
    # After joining, focus moves to the room's controls.
    expect(host.locator(".controls button").first).to_be_focused()
    # The captions area is there for screen readers, announced politely.
    expect(host.get_by_role("region", name="Captions")).to_be_visible()
    expect(host.locator("div.captions")).to_have_attribute("aria-live", "polite")

    open_app(guest, f"/space/{space_id}")
    press(guest.get_by_role("button", name="Join space"))
    press(guest.get_by_role("button", name="Request to speak"), " ")
    expect(guest.get_by_role("button", name="Lower hand")).to_have_attribute("aria-pressed", "true")
    # The hosts hear about the raised hand through the live region.
    expect(host.locator("#announcer")).to_contain_text("Gus Guest raised a hand")
    # Lowering it takes it out of the queue; raising it again puts it back.
    press(guest.get_by_role("button", name="Lower hand"), " ")
    expect(guest.get_by_role("button", name="Request to speak")).to_be_focused()
    expect(host.locator(".queue")).to_contain_text("No raised hands.")
    guest.keyboard.press("Enter")
    expect(host.locator(".queue")).to_contain_text("Gus Guest")

    press(host.get_by_role("button", name="Approve Gus Guest to speak"))
    expect(guest.locator("#announcer")).to_contain_text("You are now a speaker")
    expect(host.locator("#announcer")).to_contain_text("Gus Guest is now a speaker")

    # A person's tile is a button that says who they are and how they are doing.
    tile = host.get_by_role("button", name="Gus Guest, Speaker, muted")
    press(tile)
    menu = host.get_by_role("menu", name="Actions for Gus Guest")
    expect(menu).to_be_visible()
    expect(tile).to_have_attribute("aria-expanded", "true")
    items = menu.get_by_role("menuitem")
    expect(items.first).to_be_focused()
    host.keyboard.press("ArrowDown")
    expect(items.nth(1)).to_be_focused()
    host.keyboard.press("Escape")
    expect(menu).to_have_count(0)
    expect(host.get_by_role("button", name="Gus Guest, Speaker, muted")).to_be_focused()

    # The guest turns the mic on with the keyboard; the pressed state is exposed.
    press(guest.get_by_role("button", name="Unmute"))
    mic = guest.get_by_role("button", name="Mute", exact=True)
    expect(mic).to_have_attribute("aria-pressed", "true")
    expect(mic).to_be_focused()
    expect(host.get_by_role("button", name="Gus Guest, Speaker, mic on")).to_be_visible()

    for page in (host, guest):
        assert page.evaluate(UNLABELLED) == []
    open_app(guest, "/")
    expect(guest.get_by_role("heading", name="Live now")).to_be_visible()
    assert guest.evaluate(UNLABELLED) == []
