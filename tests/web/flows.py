"""Steps the browser tests share: signing up, starting a space, reading the page."""

from __future__ import annotations

import itertools
import os
import time
from typing import Any

_counter = itertools.count(1)


def unique(prefix: str) -> str:
    """A handle unique within this test run (3 to 15 characters)."""
    return f"{prefix[:6]}{os.getpid() % 1000}{next(_counter)}"[:15]


def open_app(page: Any, path: str = "/") -> None:
    page.goto("/#" + path)
    page.wait_for_selector("body[data-ready=true]")


def signup(page: Any, handle: str, display_name: str, password: str = "correct horse") -> None:
    open_app(page, "/signup")
    page.get_by_label("Handle").fill(handle)
    page.get_by_label("Display name").fill(display_name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign up").click()
    page.get_by_role("link", name=f"Your profile (@{handle})").wait_for()


def login(page: Any, handle: str, password: str = "correct horse") -> None:
    open_app(page, "/login")
    page.get_by_label("Handle").fill(handle)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name=f"Your profile (@{handle})").wait_for()


def start_space(
    page: Any,
    title: str,
    topics: str = "",
    *,
    private: bool = False,
    policy: str = "Everyone",
) -> str:
    """Start a space now through the form; returns its id (from the room's address)."""
    page.get_by_role("link", name="Start a space").click()
    page.get_by_label("Title").fill(title)
    if topics:
        page.get_by_label("Topics").fill(topics)
    if private:
        page.get_by_label("Private: only people I invite").check()
    page.get_by_label("Who can request to speak").select_option(label=policy)
    page.get_by_role("button", name="Start space now").click()
    page.wait_for_url("**/#/space/*")
    page.get_by_role("heading", name=title, level=1).wait_for()
    return str(page.url.split("#/space/")[1])


def no_overflow(page: Any) -> list[str]:
    """Visible elements that stick out past the right edge of the viewport (or page scroll)."""
    return list(
        page.evaluate(
            """() => {
              const w = document.documentElement.clientWidth;
              const out = [];
              if (document.documentElement.scrollWidth > w) {
                out.push(`page scrollWidth ${document.documentElement.scrollWidth} > ${w}`);
              }
              for (const el of document.querySelectorAll('body *')) {
                if (el.closest('.sr-only, [hidden], .float-layer')) continue;
                const r = el.getBoundingClientRect();
                if (r.width === 0 || r.height === 0) continue;
                if (r.right > w + 0.5 || r.left < -0.5) {
                  const id = el.id ? '#' + el.id : '';
                  const cls = el.className && el.className.baseVal === undefined
                    ? '.' + String(el.className).split(' ').join('.') : '';
                  out.push(`${el.tagName.toLowerCase()}${id}${cls} [${r.left|0}, ${r.right|0}]`);
                }
              }
              return out;
            }"""
        )
    )


def analyse(page: Any, ms: int = 800) -> dict[str, Any]:
    """The received audio as measured in the page (AnalyserNode, fftSize 8192)."""
    return dict(page.evaluate("(ms) => window.townhallDebug.analyse({ms, freqs: [440, 660]})", ms))


def wait_for_audio(page: Any, check: Any, timeout: float = 20.0) -> dict[str, Any]:
    """Measure until `check(result)` holds; fail with the last measurement after `timeout`."""
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        last = analyse(page)
        if check(last):
            return last
    raise AssertionError(f"audio never matched within {timeout}s; last measurement: {last}")


def hears(result: dict[str, Any], freq: int, tolerance: int = 12) -> bool:
    """True when one of the strong peaks is `freq` and it stands well above the noise."""
    peaks = result.get("peaks") or []
    if not peaks:
        return False
    top = peaks[0]["db"]
    return any(abs(p["freq"] - freq) <= tolerance and p["db"] > top - 12 for p in peaks[:4]) and (
        result["levels"][str(freq)] > -60
    )


def silent_at(result: dict[str, Any], freq: int, below: int) -> bool:
    """True when the level at `freq` is at least 30 dB under the level at `below`."""
    levels = result["levels"]
    return bool(levels[str(freq)] < levels[str(below)] - 30)


def confirm_in_page(page: Any, button: str) -> None:
    """Answer the page's own dialog (js/dialog.js, not the browser's confirm()) with the
    button named `button`; the dialog goes."""
    from playwright.sync_api import expect

    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name=button, exact=True).click()
    expect(dialog).to_have_count(0)


def refuse_native_dialogs(page: Any) -> list[str]:
    """Dismiss and list every dialog of the browser's own (confirm(), prompt(), alert())
    the page opens: the app should open none."""
    native: list[str] = []

    def dismiss(dialog: Any) -> None:
        native.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    return native


def answer_in_page(page: Any, text: str, button: str) -> None:
    """Fill the page's own dialog's text field (a report's reason) and send it."""
    page.get_by_role("dialog").get_by_role("textbox").fill(text)
    confirm_in_page(page, button)
