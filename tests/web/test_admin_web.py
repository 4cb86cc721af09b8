"""The review queue in the browser: a listener reports a space, a moderator (in another
browser) sees it arrive live, plays its evidence (the space's audio around the report,
with who spoke when), and bans the host, whose room then ends for everyone."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.server import running_server
from tests.web.flows import answer_in_page, open_app, signup, start_space, unique

pytestmark = pytest.mark.browser

LOADED = """a => new Promise((ok, fail) => {
  const done = () => ok(a.duration);
  if (a.readyState >= 1) return done();
  a.addEventListener('loadedmetadata', done, { once: true });
  a.addEventListener('error', () => fail(new Error('audio error ' + (a.error && a.error.code))));
  a.load();
})"""


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    data = tmp_path_factory.mktemp("admin-web") / "data"
    env = {"TOWNHALL_MEDIA_ADDRESSES": "127.0.0.1", "TOWNHALL_EVIDENCE_AFTER_SECONDS": "2"}
    with running_server(data, env) as base:
        yield base, data


def grant(data: Path, handle: str, role: str) -> None:
    """What the operator types: `townhall admin grant HANDLE --role ROLE`."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "townhall.cli",
            "admin",
            "grant",
            handle,
            "--role",
            role,
            "--data-dir",
            str(data),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"@{handle} is now {role}" in done.stdout


def test_a_moderator_reviews_a_report_live_and_bans_the_host(
    browsers: Any, instance: tuple[str, Path], console: Any
) -> None:
    base, data = instance
    console.allow("status of 401")  # the banned host's page, signed out
    browser = browsers.launch(tone=440)  # the host's microphone
    host, fan, mod = (browsers.page(browser, base) for _ in range(3))
    mod_handle, host_handle = unique("mod"), unique("mhost")
    signup(mod, mod_handle, "Moe Moderator")
    grant(data, mod_handle, "moderator")
    mod.reload()
    mod.wait_for_selector("body[data-ready=true]")
    mod.get_by_role("link", name="Reports").click()
    expect(mod.get_by_role("heading", name="Reports to review")).to_be_visible()
    expect(mod.locator(".report-status")).to_have_text("No open reports.")

    signup(host, host_handle, "Hal Host")
    signup(fan, unique("fan"), "Fay")
    space_id = start_space(host, "Raid night")
    host.get_by_role("button", name="Unmute").click()
    open_app(fan, f"/space/{space_id}")
    expect(fan.locator(".evidence-note")).to_have_text(
        "Audio may be kept for review if someone reports this space."
    )
    fan.get_by_role("button", name="Join space").click()
    expect(fan.get_by_role("button", name="Request to speak")).to_be_visible()
    fan.wait_for_timeout(1500)  # the host speaks a while before the report

    fan.get_by_role("button", name="Report this space").click()
    answer_in_page(fan, "hate speech from the host", "Send report")
    expect(fan.locator("#announcer")).to_contain_text("The report was sent", timeout=10_000)

    # The moderator's open queue shows it without a reload.
    group = mod.locator(".report-group").filter(has_text="Raid night")
    expect(group).to_be_visible(timeout=10_000)
    expect(group.locator(".report-reasons")).to_contain_text("hate speech from the host")
    expect(group.locator(".report-count")).to_have_text("1 report")

    # Its evidence becomes playable once the window after the report closes (2 s here).
    evidence = group.locator(".evidence[data-status=ready]")
    expect(evidence).to_be_visible(timeout=20_000)
    expect(evidence.locator(".evidence-timeline")).to_contain_text(f"@{host_handle}")
    player = evidence.locator("audio.evidence-player")
    duration = player.evaluate(LOADED)
    assert isinstance(duration, int | float) and 0 < duration < 60, duration
    evidence.get_by_role("button").first.click()  # seek to the report and play
    mod.wait_for_function("a => !a.paused && a.readyState >= 2", arg=player.element_handle())
    start = player.evaluate("a => a.currentTime")
    mod.wait_for_function(
        f"a => a.currentTime > {start} + 0.3 && !a.error", arg=player.element_handle()
    )
    group.get_by_label("Reason for the action on the space").fill("reviewed: hate speech")
    group.get_by_role("button", name=f"Ban @{host_handle}").click()
    expect(mod.locator("#announcer")).to_contain_text(f"Ban: done for @{host_handle}")
    expect(mod.locator(".report-status")).to_have_text("No open reports.")

    # The host's room ends for everyone; the host is signed out.
    expect(fan.locator(".room-banner.ended")).to_contain_text("ended", timeout=10_000)
    host.reload()
    expect(host.get_by_role("button", name="Log in")).to_be_visible(timeout=10_000)
