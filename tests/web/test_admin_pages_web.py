"""The staff pages in the browser: an admin makes a member a moderator and sets their
invite quota, suspends and restores them, keeps the word list, and reads every one of
those actions back in the audit log; a moderator is refused the admins' pages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.server import running_server
from tests.web.flows import login, open_app, signup, unique
from tests.web.test_admin_web import grant

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    data = tmp_path_factory.mktemp("admin-pages") / "data"
    with running_server(data, {"TOWNHALL_MEDIA_ADDRESSES": "127.0.0.1"}) as base:
        yield base, data


def test_an_admin_manages_people_and_words_and_reads_the_audit_log(
    browsers: Any, instance: tuple[str, Path], console: Any
) -> None:
    base, data = instance
    browser = browsers.launch()
    admin, member = (browsers.page(browser, base) for _ in range(2))
    admin_handle, member_handle = unique("root"), unique("mem")
    signup(admin, admin_handle, "Ada Admin")
    grant(data, admin_handle, "admin")
    signup(member, member_handle, "Max Member")
    admin.reload()
    admin.wait_for_selector("body[data-ready=true]")

    admin.get_by_role("link", name="Reports").click()
    nav = admin.get_by_role("navigation", name="Staff pages")
    nav.get_by_role("link", name="People").click()
    expect(admin.get_by_role("heading", name="People", exact=True)).to_be_visible()
    admin.get_by_label("Look up an account by handle").fill(f"@{member_handle}")
    admin.get_by_role("button", name="Look up").click()
    card = admin.locator(".admin-found .admin-account")
    expect(card.locator(".account-status")).to_contain_text("member · in good standing")

    card.get_by_label(f"Role of @{member_handle}").select_option("moderator")
    expect(card.locator(".account-status")).to_contain_text("moderator")
    staff = admin.locator(".report-list .admin-account")
    expect(staff.filter(has_text=f"@{member_handle}")).to_have_count(1)
    card.get_by_label(f"Invite quota of @{member_handle}").fill("3")
    card.get_by_label(f"Invite quota of @{member_handle}").press("Enter")
    card.get_by_label(f"Invite quota of @{member_handle}").blur()
    expect(admin.locator("#announcer")).to_contain_text(f"Invite quota of @{member_handle} saved")
    card.get_by_label(f"Reason for the action on @{member_handle}").fill("cooling off")
    card.get_by_role("button", name="Suspend 24 h").click()
    expect(card.locator(".account-status")).to_contain_text("suspended until")
    card.get_by_role("button", name="Restore").click()
    expect(card.locator(".account-status")).to_contain_text("in good standing")

    nav.get_by_role("link", name="Word list").click()
    expect(admin.get_by_text("The list is empty.")).to_be_visible()
    admin.get_by_label("Add a term").fill("raidword")
    admin.get_by_role("button", name="Add", exact=True).click()
    expect(admin.locator(".word-list li")).to_have_text(["raidword Remove"])
    admin.get_by_role("button", name="Remove “raidword”").click()
    expect(admin.get_by_text("The list is empty.")).to_be_visible()

    nav.get_by_role("link", name="Audit log").click()
    actions = admin.locator(".audit-table .audit-action")
    expect(actions).to_have_text(
        [
            "words.removed",
            "words.added",
            "user.restore",
            "user.suspend",
            "invites.quota",
            "role.granted",
            "role.granted",  # the operator's `townhall admin grant` of the admin
        ]
    )
    admin.get_by_label("Action").fill("words.added")
    admin.get_by_role("button", name="Filter").click()
    expect(actions).to_have_text(["words.added"])
    admin.get_by_label("Action").fill("")
    admin.get_by_label("On", exact=True).fill(f"@{member_handle}")
    admin.get_by_role("button", name="Filter").click()
    expect(actions).to_have_text(["user.restore", "user.suspend", "invites.quota", "role.granted"])

    # The suspension signed the member out everywhere; back in, as a moderator, they see
    # the queue and the people page, not the admins' pages.
    member.reload()
    login(member, member_handle)
    open_app(member, "/admin/people")
    links = member.get_by_role("navigation", name="Staff pages").get_by_role("link")
    expect(links).to_have_text(["Reports", "People"])
    open_app(member, "/admin/audit")
    expect(member.get_by_text("admins see this page.")).to_be_visible()
