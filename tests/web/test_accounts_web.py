"""Accounts in the browser: sign up, log out and in, edit the profile, follow, block."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.web.flows import (
    confirm_in_page,
    login,
    open_app,
    refuse_native_dialogs,
    signup,
    unique,
)

pytestmark = pytest.mark.browser


def test_signup_logout_login_and_errors(browsers: Any, server: str, console: Any) -> None:
    page = browsers.page(browsers.launch(), server)
    # A visitor is sent to the login page; wrong credentials are explained in the form.
    open_app(page, "/")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()

    handle = unique("ada")
    signup(page, handle, "Ada Lovelace")
    expect(page.get_by_role("heading", name="Live now")).to_be_visible()

    # Sign-up errors come from the API and name the field.
    other = browsers.page(page.context.browser, server)
    open_app(other, "/signup")
    other.get_by_label("Handle").fill(handle)
    other.get_by_label("Display name").fill("Impostor")
    other.get_by_label("Password").fill("correct horse")
    console.allow(r"status of 409")
    other.get_by_role("button", name="Sign up").click()
    expect(other.get_by_role("alert").filter(has_text="handle")).to_be_visible()
    expect(other.get_by_label("Handle")).to_have_attribute("aria-invalid", "true")

    # Log out from the account page; the session is really gone (a reload stays logged out).
    page.get_by_role("link", name=f"Your profile (@{handle})").click()
    page.get_by_role("link", name="Edit profile").click()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    assert page.evaluate("fetch('/api/v1/me').then(r => r.status)") == 401
    console.allow(r"status of 401")

    # Wrong password: a message in the form, still logged out.
    page.get_by_label("Handle").fill(handle)
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".form-error")).to_contain_text("password")
    login(page, handle)
    expect(page.get_by_role("heading", name="Live now")).to_be_visible()


def test_edit_profile_follow_and_block(browsers: Any, server: str) -> None:
    browser = browsers.launch()
    alice_page = browsers.page(browser, server)
    bob_page = browsers.page(browser, server)
    alice, bob = unique("alice"), unique("bob")
    native = refuse_native_dialogs(alice_page)
    signup(alice_page, alice, "Alice")
    signup(bob_page, bob, "Bob")

    # Alice edits her profile; the profile page shows it after a reload.
    alice_page.get_by_role("link", name=f"Your profile (@{alice})").click()
    alice_page.get_by_role("link", name="Edit profile").click()
    alice_page.get_by_label("Display name").fill("Alice Liddell")
    alice_page.get_by_label("Bio").fill("Down the rabbit hole, live on Tuesdays.")
    alice_page.get_by_role("button", name="Save").click()
    expect(alice_page.locator("#toasts")).to_contain_text("Profile saved")
    open_app(alice_page, f"/u/{alice}")
    expect(alice_page.get_by_role("heading", name="Alice Liddell")).to_be_visible()
    expect(alice_page.get_by_text("Down the rabbit hole")).to_be_visible()

    # Bob follows Alice from her profile page: her follower count is 1, his button flips.
    open_app(bob_page, f"/u/{alice}")
    expect(bob_page.get_by_role("heading", name="Alice Liddell")).to_be_visible()
    bob_page.get_by_role("button", name="Follow", exact=True).click()
    expect(bob_page.get_by_role("button", name="Unfollow")).to_be_visible()
    expect(bob_page.locator(".counts")).to_contain_text("1 followers")
    alice_page.reload()
    expect(alice_page.locator(".counts")).to_contain_text("1 followers")
    alice_page.get_by_role("link", name="1 followers").click()
    expect(alice_page.get_by_role("link", name="Bob")).to_be_visible()

    # Alice sees that Bob follows her; she blocks him, which ends his follow.
    open_app(alice_page, f"/u/{bob}")
    expect(alice_page.get_by_text("Follows you")).to_be_visible()
    # Blocking is asked in the page's own dialog: cancelled, nothing happens and focus is
    # back on the button; confirmed, Bob is blocked.
    block = alice_page.get_by_role("button", name="Block")
    block.click()
    dialog = alice_page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Block @{bob}?")
    expect(dialog).to_contain_text("They will not be able to follow you")
    confirm_in_page(alice_page, "Cancel")
    expect(block).to_be_focused()
    expect(alice_page.get_by_text("Follows you")).to_be_visible()
    block.click()
    confirm_in_page(alice_page, "Block")
    expect(alice_page.get_by_role("button", name="Unblock")).to_be_visible()
    expect(alice_page.get_by_text("You blocked this account")).to_be_visible()
    bob_page.reload()
    expect(bob_page.get_by_text("Has blocked you")).to_be_visible()
    expect(bob_page.locator(".counts")).to_contain_text("0 followers")
    # Unblock again (not asked).
    alice_page.get_by_role("button", name="Unblock").click()
    expect(alice_page.get_by_role("button", name="Follow", exact=True)).to_be_visible()
    assert native == [], f"the browser's own dialogs were used: {native}"


def test_tokens_and_account_deletion(browsers: Any, server: str, console: Any) -> None:
    page = browsers.page(browsers.launch(), server)
    native = refuse_native_dialogs(page)
    handle = unique("tok")
    signup(page, handle, "Toby Tokens")
    open_app(page, "/settings")
    tokens = page.get_by_role("region", name="Sessions and API tokens")
    expect(tokens).to_contain_text("(this browser)")

    # An API token for a bot: shown once, listed, and it really works until revoked.
    page.get_by_label("Token name").fill("my bot")
    page.get_by_role("button", name="Create token").click()
    secret = tokens.locator(".token-secret code")
    expect(secret).not_to_be_empty()
    token = secret.inner_text()
    expect(tokens.locator(".token", has_text="my bot")).to_be_visible()
    me = (
        "(t) => fetch('/api/v1/me', {headers: {Authorization: 'Bearer ' + t}, credentials: 'omit'})"
    )
    assert page.evaluate(f"({me})('{token}').then(r => r.status)") == 200
    tokens.get_by_role("button", name="Revoke token my bot").click()
    expect(tokens.locator(".token", has_text="my bot")).to_have_count(0)
    console.allow(r"status of 401")
    assert page.evaluate(f"({me})('{token}').then(r => r.status)") == 401

    # Deleting the account needs the password, then the handle is gone.
    # It is asked in the page's own dialog; cancelled, the account stays.
    page.get_by_text("Delete account").click()
    page.get_by_role("textbox", name="Password").fill("correct horse")
    delete = page.get_by_role("button", name="Delete my account")
    delete.click()
    expect(page.get_by_role("dialog")).to_contain_text("This cannot be undone.")
    confirm_in_page(page, "Cancel")
    expect(delete).to_be_enabled()
    expect(delete).to_be_focused()
    assert page.evaluate("fetch('/api/v1/me').then(r => r.status)") == 200
    delete.click()
    confirm_in_page(page, "Delete my account")
    expect(page.get_by_role("heading", name="Create your account")).to_be_visible()
    page.get_by_label("Handle").fill(handle)
    page.get_by_label("Display name").fill("Toby Again")
    page.get_by_label("Password").fill("correct horse")
    page.get_by_role("button", name="Sign up").click()
    page.get_by_role("link", name=f"Your profile (@{handle})").wait_for()
    assert native == [], f"the browser's own dialogs were used: {native}"
