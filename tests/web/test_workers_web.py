"""The web client on media workers: when the worker holding the space dies, the page is
told (`media.moved`) and offers again by itself; the audio comes back without a reload."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import running_server
from tests.web.flows import hears, open_app, signup, start_space, unique, wait_for_audio

pytestmark = [pytest.mark.browser, pytest.mark.serial]


def _admin_token(base: str, data: Path) -> str:
    handle = unique("root")
    r = httpx.post(
        base + "/api/v1/auth/signup",
        json={"handle": handle, "display_name": "Root", "password": "correct horse"},
    )
    assert r.status_code == 201, r.text
    subprocess.run(
        [sys.executable, "-m", "townhall.cli", "admin", "grant", handle, "--data-dir", str(data)],
        check=True,
        capture_output=True,
    )
    return str(r.json()["token"])


def test_the_page_offers_again_when_its_media_worker_dies(
    browsers: Any, tmp_path: Path, console: Any
) -> None:
    data = tmp_path / "data"
    env = {"TOWNHALL_MEDIA_ADDRESSES": "127.0.0.1", "TOWNHALL_MEDIA_WORKERS": "2"}
    with running_server(data, env) as base:
        host = browsers.page(browsers.launch(440), base)
        lee = browsers.page(browsers.launch(), base)
        signup(host, unique("whost"), "Wanda Host")
        signup(lee, unique("wlee"), "Lee")
        space_id = start_space(host, "On workers")
        host.get_by_role("button", name="Unmute").click()
        open_app(lee, f"/space/{space_id}")
        lee.get_by_role("button", name="Join space").click()
        wait_for_audio(lee, lambda r: hears(r, 440))
        assert lee.evaluate("window.townhallDebug.room.link.connections") == 1

        token = _admin_token(base, data)
        view = httpx.get(
            base + "/api/v1/admin/media", headers={"Authorization": f"Bearer {token}"}
        ).json()
        origin = next(w for w in view["workers"] if space_id in w.get("spaces", {}))
        console.allow(r"Failed to load resource: the server responded with a status of 503")
        os.kill(origin["pid"], signal.SIGKILL)

        # Both pages offer again on their own (the host with the same microphone).
        wait_for_audio(lee, lambda r: hears(r, 440), timeout=30)
        assert lee.evaluate("window.townhallDebug.room.link.connections") >= 2
        assert host.evaluate("window.townhallDebug.room.link.connections") >= 2
        console.allow(r"WebSocket connection to .* failed")  # the server stops first
