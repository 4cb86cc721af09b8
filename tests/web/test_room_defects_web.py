"""The room as a new user meets it on a 360-px phone (issue 9, point 7): Start puts the host
on air, a raised hand and its count show without scrolling, `[hidden]` hides, toasts keep
off the title and end with the space, each message is announced once, dialogs are the
page's own, and an ended space shows its recap instead of an empty room."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.web.flows import (
    answer_in_page,
    confirm_in_page,
    hears,
    open_app,
    signup,
    unique,
    wait_for_audio,
)

pytestmark = pytest.mark.browser

IN_VIEW = """(el) => {
  const r = el.getBoundingClientRect();
  const x = r.left + r.width / 2, y = r.top + r.height / 2;
  const top = document.elementFromPoint(x, y);
  return r.top >= 0 && r.bottom <= window.innerHeight && !!top && el.contains(top);
}"""

# Every element the `hidden` attribute hides, whatever its class says.
HIDDEN_SHOWN = """() => [...document.querySelectorAll('[hidden]')]
  .filter((el) => getComputedStyle(el).display !== 'none')
  .map((el) => el.tagName.toLowerCase() + '.' + el.className)"""

# How many times the live regions hold a message.
LIVE = "[aria-live], [role=alert], [role=status]"
ANNOUNCED = f"""(text) => [...document.querySelectorAll('{LIVE}')]
  .filter((el) => !el.parentElement.closest('{LIVE}'))
  .reduce((n, el) => n + (el.textContent.split(text).length - 1), 0)"""


def overlaps(page: Any, a: str, b: str) -> bool:
    return bool(
        page.evaluate(
            """([a, b]) => {
              const r = document.querySelector(a).getBoundingClientRect();
              const s = document.querySelector(b).getBoundingClientRect();
              return !(r.right <= s.left || s.right <= r.left || r.bottom <= s.top
                       || s.bottom <= r.top);
            }""",
            [a, b],
        )
    )


def test_a_phone_host_from_start_to_recap(browsers: Any, server: str) -> None:
    phone_browser = browsers.launch(440)
    host = browsers.page(phone_browser, server, width=360, height=740, mobile=True)
    desk = browsers.page(browsers.launch(), server)
    native: list[str] = []

    def dismiss_native(dialog: Any) -> None:
        native.append(dialog.message)
        dialog.dismiss()

    for page in (host, desk):
        page.on("dialog", dismiss_native)
    signup(host, unique("pat"), "Pat Phone")
    signup(desk, unique("dee"), "Dee Desk")

    # The emoji have a colour font to render with.
    font = host.evaluate("getComputedStyle(document.body).fontFamily")
    assert "Color Emoji" in font, font

    # Start: one click puts the host in the room with audio unlocked (no "Join as host").
    host.get_by_role("link", name="Start a space").click()
    host.get_by_label("Title").fill("Phone-first chat")
    host.get_by_label("Record this space").check()
    host.get_by_role("button", name="Start space now").click()
    expect(host.get_by_role("button", name="Unmute")).to_be_visible()
    expect(host.get_by_role("button", name="Join as host")).to_have_count(0)
    host.wait_for_function("() => window.townhallDebug.room.link.context.state === 'running'")
    space_id = host.url.split("#/space/")[1]

    # Nobody listens yet: the note reads as a sentence, not a word per line in a cell.
    empty = host.locator(".listeners-list .empty")
    expect(empty).to_have_text("No listeners yet.")
    box = empty.bounding_box()
    assert box is not None and box["height"] < 50 and box["width"] > 150, box

    # The second click, Unmute, and a listener hears the host.
    host.get_by_role("button", name="Unmute").click()
    open_app(desk, f"/space/{space_id}")
    desk.get_by_role("button", name="Join space").click()
    wait_for_audio(desk, lambda r: hears(r, 440))

    # A raised hand: the host on the phone sees it, with its count, at the top of the page.
    desk.get_by_role("button", name="Request to speak").click()
    host.evaluate("window.scrollTo(0, 0)")
    count = host.locator(".hand-count")
    expect(count).to_have_text("✋ 1")
    assert host.evaluate("window.scrollY") == 0
    assert count.evaluate(IN_VIEW)
    hand = host.locator(".queue li", has_text="Dee Desk")
    expect(hand).to_be_visible()
    assert hand.evaluate(IN_VIEW), "the raised hand is below the fold or under the controls"
    expect(host.locator("#queue-title .count-pill")).to_have_text("1")

    # Toasts keep off the room's title, on the phone and on a desktop.
    host.evaluate("import('/js/ui.js').then((ui) => ui.toast('A test message'))")
    expect(host.locator("#toasts .toast")).to_have_count(1)
    assert not overlaps(host, "#toasts .toast", "#room-title")
    host.locator(".queue").get_by_role("button", name="Approve Dee Desk to speak").click()
    expect(desk.locator("#toasts")).to_contain_text("You are a speaker now")
    assert not overlaps(desk, "#toasts .toast", "#room-title")
    expect(host.locator(".hand-count")).to_be_hidden()

    # A report goes through the page's own dialog, and is announced once.
    desk.get_by_role("button", name="Report this space").click()
    answer_in_page(desk, "testing the report dialog", "Send report")
    expect(desk.locator("#toasts")).to_contain_text("Thank you. The report was sent.")
    assert desk.evaluate(ANNOUNCED, "Thank you. The report was sent.") == 1

    # Ending is asked in the page's own dialog, too.
    host.get_by_role("button", name="End space").click()
    expect(host.get_by_role("dialog")).to_contain_text("End this space?")
    confirm_in_page(host, "End space")
    expect(host.locator(".room-banner.ended")).to_contain_text("This space has ended")
    assert native == [], f"the browser's own dialogs were used: {native}"

    # Nothing of the live room is left showing: `hidden` hides (the controls bar included),
    # and the space's toasts went with it.
    for page in (host, desk):
        expect(page.locator(".controls")).to_be_hidden()
        assert page.evaluate(HIDDEN_SHOWN) == []
        expect(page.locator("#toasts .toast")).to_have_count(0)

    # The recap: to the second, the peak audience, who spoke, and the replay.
    for page in (host, desk):
        recap = page.get_by_role("region", name="Recap")
        expect(recap).to_be_visible()
        expect(recap.locator("[data-fact=duration] dd")).to_have_text(re.compile(r"^\d+ s$"))
        expect(recap.locator("[data-fact=peak] dd")).to_have_text("1 listener")
        expect(recap.get_by_role("list", name="Who spoke")).to_contain_text("Pat Phone")
        expect(recap.get_by_role("list", name="Who spoke")).to_contain_text("Dee Desk")
        expect(page.locator("audio.replay")).to_have_count(1, timeout=15_000)
        expect(page.get_by_text("Nobody is on stage")).to_have_count(0)
        expect(page.get_by_text("No listeners yet")).to_have_count(0)
    # An ended space is not told like an error.
    colour = host.locator(".room-banner.ended").evaluate("(el) => getComputedStyle(el).color")
    assert colour != "rgb(127, 29, 29)", colour


def test_visitors_learn_what_it_is_and_search_finds_people(browsers: Any, server: str) -> None:
    browser = browsers.launch()
    host, visitor, finder = (browsers.page(browser, server) for _ in range(3))
    handle = unique("rosa")
    signup(host, handle, "Rosa Parkinson")
    host.get_by_role("link", name="Start a space").click()
    host.get_by_label("Title").fill("Open studio hour")
    host.get_by_role("button", name="Start space now").click()
    expect(host.get_by_role("button", name="Unmute")).to_be_visible()

    # Signed out, the home page says what townhall is and shows who is live.
    open_app(visitor, "/")
    expect(visitor.get_by_role("heading", name="Live audio rooms, in your browser")).to_be_visible()
    expect(visitor.get_by_text("townhall is a place for live conversations")).to_be_visible()
    card = visitor.locator(".space-card", has_text="Open studio hour")
    expect(card).to_contain_text("Rosa Parkinson")
    expect(card).to_contain_text("1 listening")
    expect(visitor.get_by_role("heading", name="Log in")).to_be_visible()

    # Search finds people, by handle and by name, and links to their profile.
    signup(finder, unique("finn"), "Finn Finder")
    for query in (handle, "parkinson"):
        open_app(finder, f"/?q={query}")
        people = finder.locator("section[aria-labelledby=h-people]")
        expect(people.get_by_role("link", name="Rosa Parkinson")).to_be_visible()
    people.get_by_role("link", name="Rosa Parkinson").click()
    expect(finder.get_by_role("heading", name="Rosa Parkinson")).to_be_visible()
